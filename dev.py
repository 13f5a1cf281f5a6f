#!/usr/bin/env python3
"""One entry point for every developer action; needs only Python 3.11+.

    python3 dev.py demo        # the end-to-end demo (creates .venv on first run)
    python3 dev.py test        # lint, type-check and the whole test suite (what CI runs: .ci/run)
    python3 dev.py test --unit # the fast tier for the edit-test loop: lint, type-check and
                               # tests/unit only, under a minute; no server or worker, one Redis
    python3 dev.py lint | typecheck | pytest [ARGS] | bench [ARGS] | pinrelay [ARGS]

The virtual environment lives in .venv and is (re)installed whenever
pyproject.toml changes, so a fresh clone needs nothing else.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".pinrelay-installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is found
        sys.exit(f"pinrelay needs Python 3.11+, this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing pinrelay and its dev tools into .venv", flush=True)
    run([str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[dev]"])
    STAMP.write_text(digest)


# System tools some tests drive for real (a browser for Flower, docker-compose to validate
# docker-compose.yml). Installed with apt when missing and we may (root on Debian/Ubuntu).
SYSTEM_TOOLS = {"chromium": "chromium", "docker-compose": "docker-compose"}


def ensure_system_tools() -> None:
    import shutil

    missing = [pkg for tool, pkg in SYSTEM_TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"dev.py: installing {', '.join(missing)} with apt-get", flush=True)
        quiet = {"DEBIAN_FRONTEND": "noninteractive", **os.environ}
        subprocess.call(["apt-get", "update", "-qq"], env=quiet, stdout=subprocess.DEVNULL)
        subprocess.call(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                        env=quiet, stdout=subprocess.DEVNULL)
    else:
        print(f"dev.py: {', '.join(missing)} not found; the tests that need them will fail "
              f"with instructions (install: apt-get install {' '.join(missing)})", flush=True)


def ensure_promtool() -> None:
    """promtool (checks and unit-tests the alert rules) into .venv/bin, from Debian's prometheus
    package unpacked, not installed: installing it would start a Prometheus server."""
    import shutil
    import tempfile

    if shutil.which("promtool") or (BIN / "promtool").exists():
        return
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb") and hasattr(os, "geteuid")
            and os.geteuid() == 0):
        print("dev.py: promtool not found; the alert-rule tests will fail with instructions "
              "(Debian: apt-get download prometheus, then take usr/bin/promtool)", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        quiet = {"DEBIAN_FRONTEND": "noninteractive", **os.environ}
        download = ["apt-get", "download", "-qq", "prometheus"]
        if subprocess.call(download, cwd=tmp, env=quiet, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL):
            subprocess.call(["apt-get", "update", "-qq"], env=quiet, stdout=subprocess.DEVNULL)
            subprocess.call(download, cwd=tmp, env=quiet, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        for deb in Path(tmp).glob("prometheus_*.deb"):
            subprocess.call(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")])
            tool = Path(tmp) / "x" / "usr" / "bin" / "promtool"
            if tool.exists():
                shutil.copy2(tool, BIN / "promtool")
                print("dev.py: promtool unpacked into .venv/bin", flush=True)


def run(argv: list[str]) -> None:
    code = subprocess.call(argv, cwd=ROOT)
    if code:
        sys.exit(code)


def main(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__)
        return
    command, rest = args[0], args[1:]
    ensure_venv()
    tool = {name: str(BIN / name) for name in ("ruff", "mypy", "pytest", "pinrelay")}
    if command == "lint":
        run([tool["ruff"], "check", "worker", "webhook", "ops", "tests", "dev.py"])
    elif command == "typecheck":
        run([tool["mypy"]])
    elif command == "pytest":
        run([tool["pytest"], *rest])
    elif command == "test":
        unit = "--unit" in rest
        rest = [arg for arg in rest if arg != "--unit"]
        if not unit:
            ensure_system_tools()  # the unit tier needs neither a browser nor docker-compose
            ensure_promtool()  # nor the alert rules' checker
        run([tool["ruff"], "check", "worker", "webhook", "ops", "tests", "dev.py"])
        run([tool["mypy"]])
        run([tool["pytest"], "-p", "no:cacheprovider", *(["tests/unit"] if unit else []), *rest])
    elif command == "demo":
        run([tool["pinrelay"], "demo", *rest])
    elif command == "bench":
        run([tool["pinrelay"], "bench", *rest])
    elif command == "pinrelay":
        run([tool["pinrelay"], *rest])
    else:
        sys.exit(f"dev.py: unknown command {command!r}; see python3 dev.py --help")


if __name__ == "__main__":
    main(sys.argv[1:])
