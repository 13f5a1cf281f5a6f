"""What a fresh Python process sees: import costs, import order, hash seeds, `python -m worker.config`.

Each test needs an interpreter of its own (the point is what importing loads, or which order
things were imported in), so they start one: that makes them integration tests (the unit tier
starts no process, tests/unit/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from webhook.http.launcher import build_env
from worker import lua
from worker.config import Settings, settings_table_markdown


def test_generated_lua_text_is_the_same_in_every_process() -> None:
    """The rendering does not follow set iteration order (so the script SHA is stable)."""
    code = "from worker import lua; print(lua.generated())"
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        argv = [sys.executable, "-c", code]
        outs.add(subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout)
    assert outs == {lua.generated() + "\n"}


def test_instruments_follow_a_multiprocess_dir_set_after_prometheus_was_imported(tmp_path: Path) -> None:
    """Whatever imported prometheus-client first, values go to the directory chosen later.

    Run in a fresh interpreter: the import order is the point. The parser's import chain
    (simulator -> receiver -> prometheus-client) runs first, then the directory is set.
    """
    script = (
        "import os, sys\n"
        "import worker.cli.parser, webhook.metrics  # imports prometheus_client, no dir yet\n"
        "assert 'prometheus_client' in sys.modules\n"
        "from worker.metrics import SEND_ATTEMPTS, use_multiprocess_dir\n"
        "cleanup = use_multiprocess_dir()\n"
        "SEND_ATTEMPTS.labels(outcome='accepted', code='0').inc()\n"
        "from prometheus_client import CollectorRegistry, generate_latest, multiprocess\n"
        "registry = CollectorRegistry()\n"
        "multiprocess.MultiProcessCollector(registry)\n"
        "sys.stdout.write(generate_latest(registry).decode())\n"
        "cleanup()\n"
        "assert not os.path.exists(os.environ['PROMETHEUS_MULTIPROC_DIR'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert 'pinrelay_send_attempts_total{code="0",outcome="accepted"} 1.0' in done.stdout


def test_foundation_modules_stay_light() -> None:
    """The receiver imports these: they must not pull in Celery or phonenumbers."""
    code = ("import sys, worker.redisconn, worker.text, worker.stats, worker.config; "
            "heavy = {'celery', 'kombu', 'phonenumbers'} & set(sys.modules); "
            "sys.exit(f'imported {sorted(heavy)}' if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_importing_the_verify_codes_loads_no_celery() -> None:
    """`import worker` and the codes module stay light (the lazy API)."""
    code = "import sys, worker, worker.verify.codes; print('celery' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_markdown_generator_command() -> None:
    """``python -m worker.config --markdown`` prints the table of docs/configuration.md (compared
    by tests/unit/test_docs.py); anything else is a usage error."""
    done = subprocess.run([sys.executable, "-m", "worker.config", "--markdown"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == settings_table_markdown()
    assert done.stderr == ""
    bad = subprocess.run([sys.executable, "-m", "worker.config"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0 and "usage" in bad.stderr


def test_a_receiver_process_loads_neither_celery_nor_phonenumbers(settings: Settings) -> None:
    """`import webhook.wsgi`, and the RSGI factory granian calls, stay free of Celery, kombu and
    phonenumbers (a receiver process never needs them)."""
    code = textwrap.dedent("""
        import sys, webhook.wsgi, webhook.rsgi
        webhook.rsgi.app_factory()
        heavy = sorted(m for m in ("celery", "kombu", "phonenumbers") if m in sys.modules)
        assert not heavy, heavy
    """)
    done = subprocess.run([sys.executable, "-c", code], env=build_env(settings), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
