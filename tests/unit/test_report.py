"""`pinrelay report` over real records: rates, latencies, and an HTML page with plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest
import redis

from worker.cli.report import run
from worker.config import Settings
from worker.records.store import RecordStore, new_request_id
from worker.states import State


def _record(store: RecordStore, state: State, err: str = "0") -> None:
    rid = new_request_id()
    now = time.time()
    store.create(rid, None, store.new_record(rid, to="16365553226", pin="1234", client_ref=None,
                                             params=None, expires_at=now + 300, now=now - 5))
    store.update_fields(rid, {"state": state.value, "submitted_at": f"{now - 4.9:.3f}",
                              "receipt_at": f"{now - 3:.3f}", "network": "310004", "err_code": err})


def test_report_prints_rates_and_writes_html_with_plots(
        settings: Settings, redis_client: redis.Redis, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Rates per state and an HTML page with embedded PNG plots."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    for _ in range(3):
        _record(store, State.DELIVERED)
    _record(store, State.FAILED, err="7")
    page = tmp_path / "report.html"
    assert run(argparse.Namespace(since=3600.0, html=str(page)), settings, redis_client) == 0
    text = capsys.readouterr().out
    assert "4 sends" in text and "delivered" in text and "75.0%" in text
    assert "Handset busy" in text  # err-code 7 explained
    html = page.read_text()
    assert html.count("data:image/png;base64,") >= 3
