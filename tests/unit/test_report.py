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


def test_html_page_has_tables_coloured_by_meaning_and_full_err_code_labels(
        settings: Settings, redis_client: redis.Redis, tmp_path: Path) -> None:
    """Real tables (not the terminal text), outcome classes by meaning, every err-code labelled."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    _record(store, State.DELIVERED)
    _record(store, State.FAILED, err="53")
    _record(store, State.EXPIRED, err="<b>x</b>")  # receipt data is escaped
    page = tmp_path / "report.html"
    assert run(argparse.Namespace(since=3600.0, html=str(page), json=True), settings, redis_client) == 0
    html = page.read_text()
    assert "<pre>" not in html
    for table in ("states", "latency", "networks", "err-codes", "provider-status"):
        assert f"<table id='{table}'>" in html
    assert "<tr class='m-good'><td><span class='badge m-good'>delivered</span>" in html
    assert "<span class='badge m-bad'>failed</span>" in html
    assert "<span class='badge m-doubt'>expired</span>" in html
    assert "Consent filter" in html and "undocumented code" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "MCCMNC" in html and "ITU-T E.212" in html  # the carrier-name footnote


def test_conversion_rate_counts_sends_reported_used(settings: Settings, redis_client: redis.Redis) -> None:
    """The share of sends whose conversion was reported with delivered=true."""
    from worker.report.data import as_dict
    from worker.report.summary import scan_rows, summarize

    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    for _ in range(4):
        _record(store, State.DELIVERED)
    rows = list(scan_rows(redis_client, settings.key_prefix, 0.0))
    first = redis_client.scan_iter(match=f"{settings.key_prefix}req:*")
    redis_client.hset(next(first), "conversion_status", "reported")
    summary = summarize(scan_rows(redis_client, settings.key_prefix, 0.0))
    assert len(rows) == 4 and summary.converted == 1 and summary.conversion_rate == 0.25
    data = as_dict(summary, title="t", since=None, at=0.0, prefix=settings.key_prefix)
    assert data["conversion"] == {"reported_delivered": 1, "rate": 0.25}
