"""The Lua scripts, one ``.lua`` file each in this package, loaded by name.

Each read-check-write on a record is one atomic step in Redis, so the scripts are the
authority on records, and keeping them in their own files lets a reader (and an editor's
Lua mode) see them whole. Each file's header comment gives its KEYS, ARGV and reply.

The record scripts share ``prelude.lua`` (a header line ``-- requires: prelude`` asks
for it). What the prelude needs from Python is generated here and nowhere else: the
transition table and the FINAL and RECEIPT sets from :mod:`worker.states`, and the key
suffixes from :mod:`worker.constants`, so Redis enforces exactly the rules the Python
store does. That generated code goes at the start of the prelude's first line, never on
lines of its own, so a line number in a Redis error (``user_script:N``) is the prelude's
own line N, or line ``N - PRELUDE_LINES`` of the script after it; :func:`origin` does the
arithmetic. Scripts that do not ask for the prelude are sent exactly as their file reads.

Keys are built inside the scripts from the key prefix, which ties pinrelay to a single
Redis (not Redis Cluster). This package imports only the foundation (states, constants),
because the receipt receiver loads its script from here without loading Celery.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Final

from worker import constants as c
from worker.states import FINAL_STATES, RECEIPT_STATES, TRANSITIONS, State

__all__ = [
    # loading
    "script",
    "names",
    "source",
    # the prelude
    "prelude",
    "generated",
    "requires_prelude",
    "required",
    "LIBRARIES",
    "KEY_NAMES",
    # reading a Redis error
    "PRELUDE_LINES",
    "origin",
]

_REQUIRES: Final = re.compile(r"^-- requires: (prelude(?: [a-z][a-z0-9_]*)*)$", re.MULTILINE)
_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_PRELUDE: Final = "prelude"  # the file name of the prelude
# Libraries a script may ask for after the prelude (``-- requires: prelude guard``): files of
# functions, never scripts of their own.
LIBRARIES: Final = ("guard",)

# The prelude's Lua name for each key suffix it may build keys with.
KEY_NAMES: Final = (
    ("K_REC", c.KEY_RECORD),
    ("K_PIN", c.KEY_PIN),
    ("K_MSG", c.KEY_MESSAGE_INDEX),
    ("K_PARKED", c.KEY_PARKED),
    ("K_PARKED_LIST", c.KEY_PARKED_RECEIPTS),
    ("K_UNMATCHED", c.KEY_UNMATCHED),
    ("K_STATS", c.KEY_STATS),
    ("K_DEAD", c.KEY_DEAD_PREFIX),
    ("K_REF", c.KEY_CLIENT_REF),
    ("K_PENDING", c.KEY_PENDING),
)


def _lua_string(value: str) -> str:
    if any(ch in value for ch in '\\"\n\r'):
        raise ValueError(f"not rendered into Lua (quote, backslash or newline): {value!r}")
    return f'"{value}"'


def _lua_set(values: frozenset[State]) -> str:
    return "{" + ",".join(f"[{_lua_string(v.value)}]=true" for v in sorted(values)) + "}"


def generated() -> str:
    """The prelude's generated definitions, as one line of Lua without its newline.

    Rows follow the order of :class:`State` (not of a frozenset), so the text, and with
    it the script's SHA in Redis's script cache, is the same in every process.
    """
    rows = ",".join(f"[{_lua_string(s.value)}]={_lua_set(TRANSITIONS[s])}" for s in State)
    parts = [f"local T={{{rows}}}", f"local FINAL={_lua_set(FINAL_STATES)}",
             f"local RECEIPT={_lua_set(RECEIPT_STATES)}"]
    parts += [f"local {name}={_lua_string(value)}" for name, value in KEY_NAMES]
    return " ".join(parts) + " "


@functools.cache
def source(name: str) -> str:
    """The text of ``<name>.lua`` exactly as the file reads (package data, via importlib)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a Lua script name: {name!r}")
    path = resources.files(__name__).joinpath(f"{name}.lua")
    if not path.is_file():
        raise ValueError(f"no Lua script {name!r} in worker/lua (there are: {', '.join(names())})")
    text = path.read_text(encoding="utf-8")
    return text if text.endswith("\n") else text + "\n"


@functools.cache
def prelude() -> str:
    """The rendered prelude: the generated definitions, then ``prelude.lua`` from its first line."""
    return generated() + source(_PRELUDE)


PRELUDE_LINES: Final = source(_PRELUDE).count("\n")


def required(name: str) -> tuple[str, ...]:
    """What ``<name>.lua`` runs after: ``()``, or the prelude and the libraries its header asks
    for (``-- requires: prelude guard``), in that order."""
    found = _REQUIRES.search(source(name))
    if found is None:
        return ()
    parts = tuple(found.group(1).split())
    unknown = [part for part in parts[1:] if part not in LIBRARIES]
    if unknown:
        raise ValueError(f"{name}.lua requires {', '.join(unknown)}: not a library ({', '.join(LIBRARIES)})")
    return parts


def requires_prelude(name: str) -> bool:
    """Whether ``<name>.lua`` runs after the prelude (its header says ``-- requires: prelude``)."""
    return bool(required(name))


@functools.cache
def script(name: str) -> str:
    """The script to give Redis (``register_script``) for ``<name>.lua``."""
    if name == _PRELUDE or name in LIBRARIES:
        raise ValueError(f"{name}.lua is not a script of its own; it runs before one")
    parts = required(name)
    if not parts:
        return source(name)
    return prelude() + "".join(source(part) for part in parts[1:]) + source(name)


def origin(name: str, line: int) -> tuple[str, int]:
    """The file and line that line ``line`` of :func:`script` ``(name)`` comes from.

    For reading a Redis error: ``user_script:40: ...`` in ``claim`` is
    ``origin("claim", 40)``.
    """
    for part in (*required(name), name):
        lines = source(part).count("\n")
        if line <= lines or part == name:
            return f"{part}.lua", line
        line -= lines
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns at ``name``


def names() -> list[str]:
    """Every script in this package, by name (the prelude is not one)."""
    found = (p.name.removesuffix(".lua") for p in resources.files(__name__).iterdir()
             if p.name.endswith(".lua"))
    return sorted(n for n in found if n != _PRELUDE and n not in LIBRARIES)
