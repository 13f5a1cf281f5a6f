"""schemathesis, with all its checks, against the running API's own /openapi.json, finds nothing.

The API runs as `pinrelay api` (granian) on a private Redis; no worker runs, so the PINs it
accepts are only stored and enqueued. The key is an admin key, so the admin routes (the pumping
guard's) are exercised past their 403 too; test_guard_ops.py checks an ordinary key's 403. A
fixed seed and a bounded example count keep the run deterministic and within a few tens of
seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import CALLBACK_SECRET, VERIFY_SECRET, create_key
from tests.support.hooks import SUPABASE_SETTING
from tests.support.settings import isolated_settings
from worker.local.supervisor import Stack

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 20
SEED = 20261201


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    # the Supabase hook on, with the secret the schemathesis hooks sign with
    settings = isolated_settings(redis_url, callback_secret=CALLBACK_SECRET, verify_secret=VERIFY_SECRET,
                                 api_rate_per_key=1000.0, supabase_hook_secret=SUPABASE_SETTING)
    stack = Stack(settings, log_dir=tmp_path_factory.mktemp("schemathesis"))
    stack.ensure_redis()
    try:
        url = stack.start_api()
        yield url, create_key(settings, "schemathesis", "--admin")["key"]
    finally:
        stack.stop()


def test_schemathesis_finds_nothing(api: tuple[str, str], tmp_path: Path) -> None:
    """`st run --checks all` passes on every documented operation (examples, coverage, fuzzing, stateful)."""
    url, key = api
    binary = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert binary, "schemathesis is not installed: it is in the dev extra (pip install -e .[dev])"
    # Run from tmp_path so schemathesis's own cache (.schemathesis/) stays out of the checkout.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks", "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    done = subprocess.run(
        [binary, "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
         "--seed", str(SEED), "--workers", "1", "--header", f"Authorization: Bearer {key}",
         "--report-dir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or "passed" in done.stdout, done.stdout[-4000:]
    # every operation got past its authentication (the Supabase hook: the before_call signature)
    assert "Authentication failed" not in done.stdout, done.stdout[-4000:]
    assert time.monotonic() - started < 120
