"""Arrows between packages run one way: read from the imports of every module (static, AST).

The task queue is below the layers that publish through it (outcome callbacks, the verify
flow): their tasks are put together above all of them (:mod:`worker.worker_app`). Demo-only
code (`pinrelay demo`) is imported by the commands that run it and by nothing else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"worker": ROOT / "worker", "webhook": ROOT / "webhook",
           "pinrelay_ops": ROOT / "ops" / "pinrelay_ops"}
DEMO_ONLY = ("worker.local.demo", "worker.local.demo_routes", "worker.local.verify_demo")


def _modules() -> Iterator[tuple[str, Path]]:
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            yield ".".join((package, *parts)).removesuffix(".__init__"), path


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function (``from a import b``: a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _importing(targets: tuple[str, ...], *, outside: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        f"{name} -> {imported}"
        for name, path in _modules() if not name.startswith(outside)
        for imported in _imports(path) if imported.startswith(targets)
    )


def test_the_task_queue_imports_neither_callbacks_nor_verify() -> None:
    assert [line for line in _importing(("worker.callbacks", "worker.verify"))
            if line.startswith("worker.taskqueue")] == []


def test_demo_code_is_imported_only_by_the_commands_that_run_it() -> None:
    assert _importing(DEMO_ONLY, outside=("worker.local", "worker.cli")) == []


def test_the_scan_sees_imports() -> None:
    """The checks above can fail: the scan finds the imports it is meant to find."""
    assert "worker.callbacks.delivery" in _imports(ROOT / "worker" / "worker_app.py")
    assert any(line.startswith("worker.cli.local -> worker.local.") for line in
               _importing(("worker.local",), outside=("webhook",)))
