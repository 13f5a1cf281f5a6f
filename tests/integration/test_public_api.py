"""The public surface of ``worker`` and what importing it (or the receiver) costs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import worker

EXPECTED_ALL = [
    "send_pin", "send_pins", "get_status", "wait", "report_conversion", "Producer", "PinSpec",
    "start_verification", "check_verification", "resend_verification", "get_verification",
    "Settings", "State",
    "PinrelayError", "ConfigError", "ValidationError", "AbuseLimitError", "UnknownRequestError",
    "StoreUnavailableError", "ProviderError", "TransientProviderError", "PermanentProviderError",
    "UnconfirmedSendError", "VerificationError", "UnknownVerificationError", "ResendRefusedError",
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_worker_all_is_pinned() -> None:
    """Adding to the public API is a decision: this list changes with it."""
    assert set(EXPECTED_ALL) <= set(worker.__all__)


def test_every_public_name_resolves() -> None:
    """Each lazily resolved name is really there (a typo in the lazy table fails here)."""
    for name in worker.__all__:
        assert getattr(worker, name) is not None, name


def test_receiver_import_loads_neither_celery_nor_phonenumbers() -> None:
    """`import webhook.wsgi` (every receiver process) stays free of Celery and phonenumbers."""
    done = _run("""
        import sys, webhook.wsgi
        heavy = sorted(m for m in ("celery", "kombu", "phonenumbers") if m in sys.modules)
        assert not heavy, heavy
    """)
    assert done.returncode == 0, done.stderr


def test_import_worker_is_cheap() -> None:
    """`import worker` alone loads no stage: names resolve on first use (PEP 562)."""
    done = _run("""
        import sys, worker
        assert "celery" not in sys.modules and "worker.enqueue.producer" not in sys.modules
        worker.PinSpec
        assert "worker.enqueue.producer" in sys.modules
    """)
    assert done.returncode == 0, done.stderr


# A plain `pip install pinrelay` has none of the extras: block their modules and run the CLI.
_WITHOUT_EXTRAS = """
import importlib.abc, sys
BLOCKED = {"psutil", "gunicorn", "matplotlib", "numpy", "pytest", "hypothesis", "yaml"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Block())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda n, *a: None if n.split(".")[0] in BLOCKED else _find(n, *a)
from worker.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_cli_help_works_without_extras() -> None:
    """`pinrelay --help`, `worker --help`, `webhook --help` and `bench --help` need no extra."""
    for args in (["--help"], ["worker", "--help"], ["webhook", "--help"], ["bench", "--help"]):
        done = _cli_without_extras(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "usage: pinrelay" in done.stdout


def test_bench_without_its_extra_says_what_to_install() -> None:
    """`pinrelay bench` on a plain install: exit 2 and the extra to install, no traceback."""
    done = _cli_without_extras("bench", "--short")
    assert done.returncode == 2
    assert "pip install 'pinrelay[bench]'" in done.stderr
    assert "Traceback" not in done.stderr
