"""The runtime file `pinrelay up` writes, so a second terminal finds its embedded Redis.

Only the writing is here (``up`` and ``demo`` own the file while they run); reading it is a
settings source (:class:`worker.config.sources.RuntimeFileSource`), after the environment, so
production code never imports this package to find its Redis.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from worker.config import Settings
from worker.config.sources import runtime_file


def write_runtime(settings: Settings, **values: str | int) -> Path:
    path = runtime_file(settings.runtime_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **values}))
    tmp.replace(path)
    return path


def clear_runtime(settings: Settings) -> None:
    path = runtime_file(settings.runtime_dir)
    try:
        data = json.loads(path.read_text())
        if int(data.get("pid", 0)) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
