"""Settings for one test (or one module) alone in a shared Redis, and the cleanup after it.

Every test run shares one private Redis; what keeps tests apart is a key prefix and a
Celery queue of their own, and deleting both when done.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis

from worker.config import Settings

#: What a test changes from the defaults: retries and timeouts short enough to wait on,
#: no rate, abuse or guard volume limits (tests send to the same few numbers again and again), and a
#: fixed worker concurrency (the default follows the machine's CPU count).
TEST_DEFAULTS: dict[str, Any] = {
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "connect_timeout_s": 1.0,
    "read_timeout_s": 1.5,
    "retry_deadline_s": 20.0,
    "visibility_timeout_s": 60,
    "rate_limit_per_s": 0.0,
    "per_number_10min": 0,
    "per_number_day": 0,
    "per_prefix_minute": 0,
    # the pumping guard's volume rules (tests/integration/test_pumping_guard.py turns them on)
    "key_hourly_quota": 0,
    "key_daily_quota": 0,
    "daily_spend_cap": 0.0,
    "country_hourly_cap": (),
    "country_burst_10min": (),
    "worker_concurrency": 2,
}


def isolated_settings(redis_url: str, **overrides: Any) -> Settings:
    """Default settings (never the environment's) on ``redis_url`` under a key prefix
    ``t<tag>:`` and a queue ``pinrelay-t<tag>`` of their own, with :data:`TEST_DEFAULTS`;
    ``overrides`` win over both."""
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": f"t{tag}:",
        "queue": f"pinrelay-t{tag}",
        **TEST_DEFAULTS,
        **overrides,
    }
    return Settings.from_env({}).replace(**values)


def cleanup(client: redis.Redis, settings: Settings) -> None:
    """Delete every key under the settings' prefix and every key that names their queue
    (the broker's list and bindings)."""
    keys = list(client.scan_iter(match=f"{settings.key_prefix}*", count=1000))
    keys += list(client.scan_iter(match=f"*{settings.queue}*", count=1000))
    if keys:
        client.delete(*keys)
