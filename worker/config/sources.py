"""Where settings come from, highest first: what the code passes, the environment, the runtime file.

:class:`EnvironSource` reads ``PINRELAY_*`` from a mapping (``os.environ`` in a process, a
dict in a test). A blank value means unset, so a compose file can leave a variable empty.

:class:`RuntimeFileSource` is placed after it: a running ``pinrelay up`` (or ``demo``) leaves
``runtime.json`` in the runtime directory saying where its embedded Redis is, and this source
gives that URL to a second terminal's ``pinrelay send`` (or ``worker.send_pin`` in a script).
An explicit ``PINRELAY_REDIS_URL`` wins; a file whose owner process is gone is ignored; a
shared Redis on localhost:6379 is never used silently. ``pinrelay up`` writes the file
(:mod:`worker.local.runtime`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["EnvironSource", "RuntimeFileSource", "RUNTIME_FILE", "default_runtime_dir", "read_runtime",
           "runtime_file"]

RUNTIME_FILE: Final = "runtime.json"


def default_runtime_dir(environ: Mapping[str, str]) -> str:
    """The XDG state directory: where `pinrelay up` keeps its runtime file and embedded Redis data."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "pinrelay")


def _runtime_dir(environ: Mapping[str, str]) -> str:
    return (environ.get("PINRELAY_RUNTIME_DIR") or "").strip() or default_runtime_dir(environ)


def runtime_file(runtime_dir: str) -> Path:
    return Path(runtime_dir) / RUNTIME_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runtime(runtime_dir: str) -> dict[str, str] | None:
    """The runtime file's content if its owner is still running."""
    try:
        data = json.loads(runtime_file(runtime_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _alive(int(data.get("pid", 0) or 0)):
        return None
    return {str(k): str(v) for k, v in data.items()}


class _Source(PydanticBaseSettingsSource):
    """A source that answers for all fields at once (``__call__``), from one mapping."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # pragma: no cover - __call__ reads every field in one pass


class EnvironSource(_Source):
    """``PINRELAY_*`` by each field's variable name, stripped; blank is unset.

    The default runtime directory comes from the same mapping's ``XDG_STATE_HOME``, so a test's
    mapping never picks up the runner's.
    """

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            raw = self.environ.get(str(field.validation_alias))
            if raw is not None and (raw := raw.strip()):
                values[name] = raw
        values.setdefault("runtime_dir", default_runtime_dir(self.environ))
        return values


class RuntimeFileSource(_Source):
    """``redis_url`` from the runtime file of a running ``pinrelay up``, if there is one."""

    def __call__(self) -> dict[str, Any]:
        found = read_runtime(_runtime_dir(self.environ))
        return {"redis_url": found["redis_url"]} if found and found.get("redis_url") else {}
