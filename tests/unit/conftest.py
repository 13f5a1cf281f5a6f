"""The unit tier starts no process: `python3 dev.py test --unit` is the edit-test loop.

A unit test that starts a process (a `pinrelay` command, a server, `python -c`, `node`,
`openssl`) fails here and names the rule: such a test belongs in ``tests/integration``.
The one exception is the run's private Redis (``redis_url`` in ``tests/conftest.py``), which
the Lua scripts and the stores are tested against, started once per test process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

UNIT = Path(__file__).resolve().parent
CONFTEST = UNIT.parent / "conftest.py"
# Where a process may be started from: the session's Redis (``redis_url`` in tests/conftest.py).
ALLOWED = ("redis_url",)

_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _allowed() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename == str(CONFTEST) and code.co_name in ALLOWED:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    if _allowed():
        _execute_child(self, args, *rest, **kwargs)
        return
    raise AssertionError(
        f"a unit test started a process ({args!r}); tests that start processes belong in "
        "tests/integration (the unit tier is `python3 dev.py test --unit`)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Setup, call and teardown of every unit test with :class:`subprocess.Popen` refused.

    pytest calls this hook for every test of the run once this file is loaded, so it checks
    that ``item`` is a unit test itself."""
    if not item.path.is_relative_to(UNIT):
        yield
        return
    subprocess.Popen._execute_child = _refuse  # type: ignore[attr-defined]
    try:
        yield
    finally:
        subprocess.Popen._execute_child = _execute_child  # type: ignore[attr-defined]
