"""Finding the Redis to use, and the runtime file that makes a second terminal find it.

Order: ``PINRELAY_REDIS_URL``; else the runtime file written by a running
``pinrelay up`` or ``pinrelay demo`` (checked for a live owner process); else
nothing, and the caller decides (``up``/``demo`` start a private Redis; ``send``
and ``status`` say how to get one). A shared Redis on localhost:6379 is never
used silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from worker.config import Settings
from worker.errors import ConfigError

RUNTIME_FILE = "runtime.json"


def runtime_path(settings: Settings) -> Path:
    return Path(settings.runtime_dir) / RUNTIME_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runtime(settings: Settings) -> dict[str, str] | None:
    """The runtime file's content if its owner is still running."""
    path = runtime_path(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _alive(int(data.get("pid", 0) or 0)):
        return None
    return {str(k): str(v) for k, v in data.items()}


def write_runtime(settings: Settings, **values: str | int) -> Path:
    path = runtime_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **values}))
    tmp.replace(path)
    return path


def clear_runtime(settings: Settings) -> None:
    path = runtime_path(settings)
    try:
        data = json.loads(path.read_text())
        if int(data.get("pid", 0)) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def resolve(settings: Settings) -> Settings:
    """Settings with ``redis_url`` filled from the runtime file when the env gave none."""
    if settings.redis_url:
        return settings
    found = read_runtime(settings)
    if found and found.get("redis_url"):
        return replace(settings, redis_url=found["redis_url"])
    return settings


def require_redis(settings: Settings) -> Settings:
    resolved = resolve(settings)
    if not resolved.redis_url:
        raise ConfigError(
            "no Redis configured: set PINRELAY_REDIS_URL, or run `pinrelay up` "
            "(it starts a private Redis that other pinrelay commands find)"
        )
    return resolved
