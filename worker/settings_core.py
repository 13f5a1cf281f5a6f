"""The send loop's settings: Redis and the broker, the provider, retries, limits, processes.

The base of :class:`worker.config.Settings` (which adds the features' settings and all the
derived behaviour); apart only so no module is the place everything goes. Every field is one
``setting(...)`` declaration (:func:`worker.envparse.setting`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final

from worker import constants as c
from worker.envparse import (
    flag,
    host_ports,
    http_url,
    lower,
    nonempty,
    nonneg_float,
    nonneg_int,
    pos_float,
    pos_int,
    readable_file,
    regions,
    setting,
    upper,
    url_with_scheme,
)
from worker.redisurl import SENTINEL_SCHEMES

# redact_url lived here first; callers may still import it from worker.config.

_REDIS_SCHEMES = ("redis", "rediss", "unix", *SENTINEL_SCHEMES)  # Sentinel: see worker.redisurl
_BROKER_SCHEMES = (*_REDIS_SCHEMES, "amqp", "amqps", "pyamqp")
_POOLS = ("prefork", "threads", "solo", "gevent", "eventlet")
# The simulator's account: the defaults, so a fresh clone runs the demo; refused for a
# provider anywhere but on this machine (:meth:`Settings.check_provider_credentials`).
DEMO_API_KEY: Final = "demo-key"
DEMO_API_SECRET: Final = "demo-secret-0123"  # noqa: S105 - the simulator's public demo secret


def _cpu_count(env: Mapping[str, str]) -> int:
    """One Celery process per core: a send is mostly waiting, but its CPU share is not zero."""
    return os.cpu_count() or 2


def _default_runtime_dir(env: Mapping[str, str]) -> str:
    """The XDG state directory: where `pinrelay up` keeps its runtime file and embedded Redis data."""
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "pinrelay")


_redis_url = partial(url_with_scheme, schemes=_REDIS_SCHEMES)
_broker_url = partial(url_with_scheme, schemes=_BROKER_SCHEMES)


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """The variables of the send loop, in the README table's order."""


    redis_url: str | None = setting(
        "REDIS_URL", _redis_url, "records, result queue, broker", default=None,
        shown="private embedded Redis", redact=True)
    broker_url: str | None = setting(
        "BROKER_URL", _broker_url, "Celery broker (Redis or RabbitMQ `amqp://`)", default=None,
        shown="`PINRELAY_REDIS_URL`", redact=True)
    # --- Redis high availability (Sentinel, TLS) ---
    redis_sentinels: tuple[str, ...] = setting(
        "REDIS_SENTINELS", host_ports, "Sentinels (`host:port,host:port`): records, receipts and "
        "broker use the primary they name; `REDIS_URL` then gives only user, password, db and "
        "`rediss`", default=(), shown="unset (one Redis)")
    redis_sentinel_master: str | None = setting(
        "REDIS_SENTINEL_MASTER", nonempty, "the Sentinels' name of the primary (`sentinel monitor "
        "<name>`); set with `REDIS_SENTINELS`", default=None)
    redis_ca_file: str | None = setting(
        "REDIS_CA_FILE", readable_file, "CA bundle for `rediss://` (Redis, Sentinels, broker)",
        default=None, shown="the system CAs")
    redis_claim_wait_ms: int = setting(
        "REDIS_CLAIM_WAIT_MS", nonneg_int, "with Sentinel: a claim waits this long at most for a "
        "replica to hold it before the provider call, so a failover cannot forget it (0 = off)",
        default=100)
    api_url: str = setting(
        "API_URL", http_url, "2FA host (`/sc/us/2fa/json` is appended); proxy variables "
        "(`HTTPS_PROXY`) are deliberately not read", default=c.DEFAULT_API_URL)
    conversion_url: str = setting(
        "CONVERSION_URL", http_url, "conversion host (`/conversions/sms`)",
        default=c.DEFAULT_CONVERSION_URL)
    api_key: str = setting(
        "API_KEY", nonempty, "provider API key; the default is the simulator's, refused (exit 2) "
        "by the commands that call a provider not on loopback", default=DEMO_API_KEY)
    api_secret: str = setting(
        "API_SECRET", nonempty, "provider API secret; the default is the simulator's, refused "
        "like the key", default=DEMO_API_SECRET, secret=True)
    signature_secret: str | None = setting(
        "SIGNATURE_SECRET", nonempty, "receipts must be signed with it; a signed receipt seen "
        "again (same `nonce`, or same `sig` when it has no nonce) within two windows is "
        "answered 200 `duplicate` and not queued twice", default=None,
        shown="unset (no check)", secret=True)
    signature_method: str = setting(
        "SIGNATURE_METHOD", lower, "how receipts are signed", default="md5hash",
        choices=c.SIGNATURE_METHODS)
    key_prefix: str = setting(
        "KEY_PREFIX", nonempty, "prefix of every Redis key pinrelay writes", default="pinrelay:")
    queue: str = setting(
        "QUEUE", nonempty, "Celery queue of the send and conversion tasks", default=c.DEFAULT_QUEUE)
    connect_timeout_s: float = setting(
        "CONNECT_TIMEOUT", pos_float, "provider HTTP connect timeout, seconds",
        default=c.DEFAULT_CONNECT_TIMEOUT_S)
    read_timeout_s: float = setting(
        "READ_TIMEOUT", pos_float, "provider HTTP read timeout, seconds",
        default=c.DEFAULT_READ_TIMEOUT_S)
    max_attempts: int = setting(
        "MAX_ATTEMPTS", pos_int, "provider calls per send at most", default=c.DEFAULT_MAX_ATTEMPTS)
    retry_deadline_s: float = setting(
        "RETRY_DEADLINE", pos_float, "seconds after which retrying stops",
        default=c.DEFAULT_RETRY_DEADLINE_S)
    backoff_initial_s: float = setting(
        "BACKOFF_INITIAL", pos_float, "backoff base, seconds", default=c.DEFAULT_BACKOFF_INITIAL_S)
    backoff_max_s: float = setting(
        "BACKOFF_MAX", pos_float, "backoff cap, seconds", default=c.DEFAULT_BACKOFF_MAX_S)
    record_ttl_s: int = setting(
        "RECORD_TTL", pos_int, "seconds a record is kept", default=c.DEFAULT_RECORD_TTL_S)
    pin_expiry_s: int = setting(
        "PIN_EXPIRY", pos_int, "seconds after enqueue a PIN is no longer sent",
        default=c.DEFAULT_PIN_EXPIRY_S)
    visibility_timeout_s: int = setting(
        "VISIBILITY_TIMEOUT", pos_int, "seconds after which a task of a crashed worker is "
        "redelivered; must exceed the worst-case retry schedule and stay under the PIN expiry "
        "(both checked at start)", default=c.DEFAULT_VISIBILITY_TIMEOUT_S)
    phone_regions: tuple[str, ...] = setting(
        "PHONE_REGIONS", regions, "regions `to` may be in", default=c.DEFAULT_PHONE_REGIONS)
    webhook_body_limit_bytes: int = setting(
        "WEBHOOK_BODY_LIMIT", pos_int, "receipt body limit, bytes",
        default=c.DEFAULT_WEBHOOK_BODY_LIMIT_BYTES)
    signature_window_s: int = setting(
        "SIGNATURE_WINDOW", pos_int, "seconds a signed receipt's timestamp may be off",
        default=c.DEFAULT_SIGNATURE_WINDOW_S)
    receipt_grace_s: int = setting(
        "RECEIPT_GRACE", pos_int, "seconds an early receipt waits for its send before it is "
        "`unmatched`", default=c.DEFAULT_RECEIPT_GRACE_S)
    claim_idle_ms: int = setting(
        "CLAIM_IDLE_MS", pos_int, "a receipt read by a correlator that died is taken over after "
        "this", default=c.DEFAULT_CLAIM_IDLE_MS)
    rate_limit_per_s: float = setting(
        "RATE_LIMIT", nonneg_float, "sends/s across all workers (0 = off)",
        default=c.DEFAULT_RATE_LIMIT_PER_S)
    per_number_10min: int = setting(
        "PER_NUMBER_10MIN", nonneg_int, "sends per number per 10 minutes (0 = off)",
        default=c.DEFAULT_PER_NUMBER_10MIN)
    per_number_day: int = setting(
        "PER_NUMBER_DAY", nonneg_int, "sends per number per day (0 = off)",
        default=c.DEFAULT_PER_NUMBER_DAY)
    per_prefix_minute: int = setting(
        "PER_PREFIX_MINUTE", nonneg_int, "sends per NPA-NXX per minute (0 = off)",
        default=c.DEFAULT_PER_PREFIX_MINUTE)
    worker_concurrency: int = setting(
        "WORKER_CONCURRENCY", pos_int, "Celery worker processes", factory=_cpu_count,
        shown="cores")
    worker_pool: str = setting(
        "WORKER_POOL", lower, "Celery worker pool", default="prefork", choices=_POOLS,
        choices_text="a Celery pool")
    prefetch_multiplier: int = setting(
        "PREFETCH_MULTIPLIER", pos_int, "tasks a worker process reserves ahead", default=4)
    log_format: str = setting(
        "LOG_FORMAT", lower, "structlog output", default="json", choices=("json", "console"),
        choices_text="json or console")
    log_level: str = setting(
        "LOG_LEVEL", upper, "structlog level (Celery's own lines are kept at WARNING)",
        default="INFO")
    runtime_dir: str = setting(
        "RUNTIME_DIR", nonempty, "where `up` leaves the runtime file and its Redis data",
        factory=_default_runtime_dir, shown="`~/.local/state/pinrelay`")
    metrics_port: int = setting(
        "METRICS_PORT", nonneg_int, "Prometheus endpoint of `pinrelay worker` / `pinrelay "
        "correlate` (the receiver serves `/metrics` itself)", default=0, shown="`0` (off)")
    metrics_host: str = setting(
        "METRICS_HOST", nonempty, "interface that endpoint listens on", default="0.0.0.0")
    task_events: bool = setting(
        "TASK_EVENTS", flag, "Celery task events for Flower (published in 0.25 s batches); `0` "
        "turns them off where nobody watches Flower", default=True)
    flower_user: str | None = setting(
        "FLOWER_USER", nonempty, "Flower's basic auth user", default=None,
        shown="unset (Flower refuses to start)")
    flower_password: str | None = setting(
        "FLOWER_PASSWORD", nonempty, "Flower's basic auth password (≥ 12 characters)",
        default=None, shown="unset (Flower refuses to start)", secret=True)
