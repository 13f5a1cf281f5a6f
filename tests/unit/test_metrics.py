"""Cluster-wide metrics read from Redis (states, receipts, unmatched, queue depth and age), and
per-process instruments that survive any import order."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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
