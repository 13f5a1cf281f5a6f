"""Cluster-wide metrics read from Redis (states, receipts, unmatched, queue depth and age), and
per-process instruments that survive any import order."""

from __future__ import annotations

import json
import socket
import time

import redis
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from worker import constants as c
from worker.config import Settings
from worker.metrics import RedisStatsCollector, serve_metrics


def test_collector_exports_what_the_scripts_count(settings: Settings, redis_client: redis.Redis) -> None:
    """Counters kept in Redis and the Celery queue's depth and oldest age appear as metrics."""
    prefix = settings.key_prefix
    redis_client.hset(f"{prefix}{c.KEY_STATS}", mapping={
        "state:delivered": 7, "state:error": 2, "receipt:failed:7": 3, "refused_denylist": 1})
    redis_client.xadd(f"{prefix}{c.KEY_DEAD_RECEIPTS}", {"id": "m1:1", "reason": "unmatched"})
    redis_client.hset(f"{prefix}{c.KEY_RECORD}rid1", "created_at", f"{time.time() - 42:.3f}")
    redis_client.lpush(settings.queue, json.dumps({"headers": {"id": "rid1"}}))
    registry = CollectorRegistry()
    registry.register(RedisStatsCollector(redis_client, settings))
    text = generate_latest(registry).decode()
    assert 'pinrelay_sends_total{state="delivered"} 7.0' in text
    assert 'pinrelay_receipts_total{err_code="7",status="failed"} 3.0' in text
    assert 'pinrelay_refused_sends_total{reason="denylist"} 1.0' in text
    assert "pinrelay_unmatched_receipts 1.0" in text
    assert "pinrelay_queue_depth 1.0" in text
    age = next(ln for ln in text.splitlines() if ln.startswith("pinrelay_oldest_queued_age_seconds"))
    assert 41 <= float(age.split()[-1]) < 60


def test_busy_metrics_port_is_one_warning_not_a_crash() -> None:
    """serve_metrics on a port another socket listens on returns False and logs why, once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with capture_logs() as logs:
            served = serve_metrics(port, host="127.0.0.1", log=structlog.get_logger("t"))
    assert served is False
    shown = [(e["event"], e["port"], e["log_level"]) for e in logs]
    assert shown == [("metrics_unavailable", port, "warning")]
