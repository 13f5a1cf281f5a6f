"""The verify figures: Prometheus counters and histogram from Redis, the report's section."""

from __future__ import annotations

import time

import redis
from prometheus_client import CollectorRegistry, generate_latest

from worker import constants as c
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.verify.metrics import VerifyStatsCollector
from worker.verify.report import (
    add_verify_section,
    render_verify_text,
    summarize_verifications,
    verify_as_dict,
)
from worker.verify.service import Verifier
from worker.verify.store import VerifyStore
from worker.worker_app import create_app

SECRET = "s" * 40


def _verifier(settings: Settings, client: redis.Redis) -> tuple[Verifier, list[str]]:
    settings = settings.replace(verify_secret=SECRET)
    producer = Producer(settings, create_app(settings))
    sent: list[str] = []
    real = producer.send_pin

    def send_pin(to: str, pin: str, *args: object, **kwargs: object) -> str:
        sent.append(pin)
        return real(to, pin, *args, **kwargs)  # type: ignore[arg-type]

    producer.send_pin = send_pin  # type: ignore[method-assign]
    store = VerifyStore(client, prefix=settings.key_prefix, ttl_s=600)
    return Verifier(settings, store, producer), sent


def test_collector_exports_outcomes_pending_and_approval_time(settings: Settings,
                                                             redis_client: redis.Redis) -> None:
    """started/approved/locked counters, the pending gauge and the start-to-approval histogram."""
    verifier, sent = _verifier(settings, redis_client)
    approved = verifier.start("16365553226")
    verifier.check(approved, sent[0])
    locked = verifier.start("16365553227")
    for _ in range(5):
        verifier.check(locked, "x")
    verifier.start("16365553228")
    registry = CollectorRegistry()
    registry.register(VerifyStatsCollector(redis_client, settings))
    text = generate_latest(registry).decode()
    assert 'pinrelay_verifications_total{outcome="started"} 3.0' in text
    assert 'pinrelay_verifications_total{outcome="approved"} 1.0' in text
    assert 'pinrelay_verifications_total{outcome="locked"} 1.0' in text
    assert 'pinrelay_verifications_total{outcome="expired"} 0.0' in text
    assert "pinrelay_verifications_pending 1.0" in text
    assert 'pinrelay_verification_approval_seconds_bucket{le="5.0"} 1.0' in text
    assert 'pinrelay_verification_approval_seconds_bucket{le="+Inf"} 1.0' in text
    assert "pinrelay_verification_approval_seconds_count 1.0" in text


def test_report_section_leads_with_the_conversion_rate(settings: Settings, redis_client: redis.Redis) -> None:
    """2 approved of 3 ended: 66.7%, by route and network of the deciding send; p50/p90/p99 shown."""
    verifier, sent = _verifier(settings, redis_client)
    ids = [verifier.start(f"1636555322{i}") for i in range(4)]
    verifier.check(ids[0], sent[0])
    verifier.check(ids[1], sent[1])
    for _ in range(5):
        verifier.check(ids[2], "x")
    send = verifier.get(ids[0])["sends"][0]["request_id"]
    redis_client.hset(f"{settings.key_prefix}{c.KEY_RECORD}{send}", "network", "310004")
    summary = summarize_verifications(redis_client, settings.key_prefix, 0.0)
    assert summary.states == {"approved": 2, "locked": 1, "pending": 1}
    assert summary.conversion_rate() == 2 / 3
    text = render_verify_text(summary)
    assert "verifications: 4, conversion rate 66.7% (2 approved of 3 ended)" in text
    assert "start->approval    p50" in text and "p99" in text
    assert "sc2fa" in text and "310004" in text
    page = add_verify_section("<html><body><pre>report</pre></body></html>", summary)
    assert "<h2>Verify: conversion rate 66.7%</h2>" in page and page.endswith("</body></html>")
    data = verify_as_dict(summary)
    assert data["conversion_rate"] == 2 / 3 and data["states"] == {"approved": 2, "locked": 1, "pending": 1}
    later = summarize_verifications(redis_client, settings.key_prefix, time.time() + 60)
    assert render_verify_text(later) == "" and add_verify_section("<body></body>", later) == "<body></body>"
