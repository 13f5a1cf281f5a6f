"""`pinrelay report --json` over many records, through the real command: machine output and progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import redis

from tests.support.settings import cleanup, isolated_settings
from worker.config import Settings

RECORDS = 12_000


def _fill(client: redis.Redis, settings: Settings) -> None:
    """Minimal records (what the report reads), written in pipelines: 3/4 delivered."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(RECORDS):
        state = "delivered" if i % 4 else "failed"
        pipe.hset(f"{settings.key_prefix}req:r{i:05d}", mapping={
            "state": state, "created_at": f"{now - 60:.3f}", "submitted_at": f"{now - 59.9:.3f}",
            "receipt_at": f"{now - 58:.3f}", "network": "310004", "err_code": "0" if i % 4 else "53",
            "conversion_status": "reported" if i % 3 == 0 else "",
        })
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def test_report_json_counts_everything_and_shows_progress_on_stderr(redis_url: str) -> None:
    """12,000 records: one JSON object on stdout with the counts; a progress line on stderr."""
    settings = isolated_settings(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        _fill(client, settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
        env.update(settings.to_env())
        done = subprocess.run([sys.executable, "-m", "worker.cli", "report", "--since", "1h", "--json"],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        cleanup(client, settings)
        client.close()
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["total"] == RECORDS
    states = {row["state"]: row for row in data["states"]}
    assert states["delivered"]["count"] == RECORDS * 3 // 4 and states["delivered"]["meaning"] == "good"
    assert states["failed"]["meaning"] == "bad" and states["unconfirmed"]["meaning"] == "doubt"
    assert {row["err_code"]: row["meaning"] for row in data["err_codes"]} == {
        "0": "Delivered", "53": "Consent filter"}
    assert data["networks"][0]["network"] == "310004" and data["networks"][0]["receipts"] == RECORDS
    assert data["conversion"]["reported_delivered"] == RECORDS // 3
    assert data["latency"][1]["p50_ms"] is not None
    assert "pinrelay report: 10,000 records read ..." in done.stderr.splitlines()
