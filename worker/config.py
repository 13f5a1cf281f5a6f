"""All configuration, read from the environment in one place.

Nothing else in pinrelay reads ``os.environ``: everything takes a
:class:`Settings`, so tests pass their own and a bad variable is reported once,
at start-up, by name. How one value is parsed and checked lives in
:mod:`worker.envparse`; this module is the table of names, defaults and types.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from worker import constants as c
from worker.envparse import (
    EnvReader,
    flag,
    http_url,
    lower,
    nonempty,
    nonneg_float,
    nonneg_int,
    pos_float,
    pos_int,
    redact_url,
    regions,
    upper,
    url_with_scheme,
)
from worker.errors import ConfigError

# redact_url lived here first; callers may still import it from worker.config.
__all__ = ["Settings", "ENV_NAMES", "redact_url"]

_SECRET_FIELDS = frozenset({"api_secret", "signature_secret", "flower_password"})
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_BROKER_SCHEMES = (*_REDIS_SCHEMES, "amqp", "amqps", "pyamqp")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob, typed; build it with :meth:`from_env`. The repr hides secrets."""

    redis_url: str | None = None  # None: resolved at run time (runtime file / embedded)
    broker_url: str | None = None  # None: same as the Redis URL
    api_url: str = c.DEFAULT_API_URL
    conversion_url: str = c.DEFAULT_CONVERSION_URL
    api_key: str = "demo-key"
    api_secret: str = field(default="demo-secret-0123", repr=False)
    signature_secret: str | None = field(default=None, repr=False)
    signature_method: str = "md5hash"
    key_prefix: str = "pinrelay:"
    queue: str = c.DEFAULT_QUEUE
    connect_timeout_s: float = c.DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = c.DEFAULT_READ_TIMEOUT_S
    max_attempts: int = c.DEFAULT_MAX_ATTEMPTS
    retry_deadline_s: float = c.DEFAULT_RETRY_DEADLINE_S
    backoff_initial_s: float = c.DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = c.DEFAULT_BACKOFF_MAX_S
    record_ttl_s: int = c.DEFAULT_RECORD_TTL_S
    pin_expiry_s: int = c.DEFAULT_PIN_EXPIRY_S
    visibility_timeout_s: int = c.DEFAULT_VISIBILITY_TIMEOUT_S
    phone_regions: tuple[str, ...] = c.DEFAULT_PHONE_REGIONS
    webhook_body_limit_bytes: int = c.DEFAULT_WEBHOOK_BODY_LIMIT_BYTES
    signature_window_s: int = c.DEFAULT_SIGNATURE_WINDOW_S
    receipt_grace_s: int = c.DEFAULT_RECEIPT_GRACE_S
    claim_idle_ms: int = c.DEFAULT_CLAIM_IDLE_MS
    rate_limit_per_s: float = c.DEFAULT_RATE_LIMIT_PER_S
    per_number_10min: int = c.DEFAULT_PER_NUMBER_10MIN
    per_number_day: int = c.DEFAULT_PER_NUMBER_DAY
    per_prefix_minute: int = c.DEFAULT_PER_PREFIX_MINUTE
    worker_concurrency: int = 2
    worker_pool: str = "prefork"
    prefetch_multiplier: int = 4
    log_format: str = "json"
    log_level: str = "INFO"
    runtime_dir: str = ""
    metrics_port: int = 0  # 0: no metrics endpoint
    task_events: bool = True
    flower_user: str | None = None
    flower_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.signature_method not in c.SIGNATURE_METHODS:
            raise ConfigError(
                f"PINRELAY_SIGNATURE_METHOD={self.signature_method!r} is not one of "
                f"{', '.join(c.SIGNATURE_METHODS)}"
            )
        if self.log_format not in ("json", "console"):
            raise ConfigError(f"PINRELAY_LOG_FORMAT={self.log_format!r} is not json or console")
        if self.worker_pool not in ("prefork", "threads", "solo", "gevent", "eventlet"):
            raise ConfigError(f"PINRELAY_WORKER_POOL={self.worker_pool!r} is not a Celery pool")

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = "***"
            elif f.name in ("redis_url", "broker_url") and value:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    def secret_values(self) -> tuple[str, ...]:
        """Every secret these settings hold, for the log redactor."""
        return tuple(v for name in sorted(_SECRET_FIELDS) if (v := getattr(self, name)))

    @property
    def twofa_url(self) -> str:
        return self.api_url + c.TWOFA_PATH

    @property
    def conversion_endpoint(self) -> str:
        return self.conversion_url + c.CONVERSION_PATH

    def with_redis(self, url: str) -> Settings:
        """A copy pointing at ``url`` (and at it as broker unless one was set)."""
        return replace(self, redis_url=url)

    @property
    def effective_broker_url(self) -> str:
        url = self.broker_url or self.redis_url
        if url is None:
            raise ConfigError("no Redis: set PINRELAY_REDIS_URL or start `pinrelay up`")
        return url

    def to_env(self) -> dict[str, str]:
        """The ``PINRELAY_*`` variables that rebuild these settings in a child process."""
        env: dict[str, str] = {}
        for name, suffix in ENV_NAMES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "1" if value else "0"
            env[f"PINRELAY_{suffix}"] = str(value)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``PINRELAY_*``; raise :class:`ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        reader = EnvReader(env)
        return cls(
            redis_url=reader.opt("REDIS_URL", lambda n, v: url_with_scheme(n, v, _REDIS_SCHEMES)),
            broker_url=reader.opt("BROKER_URL", lambda n, v: url_with_scheme(n, v, _BROKER_SCHEMES)),
            api_url=reader.get("API_URL", c.DEFAULT_API_URL, http_url),
            conversion_url=reader.get("CONVERSION_URL", c.DEFAULT_CONVERSION_URL, http_url),
            api_key=reader.get("API_KEY", "demo-key", nonempty),
            api_secret=reader.get("API_SECRET", "demo-secret-0123", nonempty),
            signature_secret=reader.opt("SIGNATURE_SECRET", nonempty),
            signature_method=reader.get("SIGNATURE_METHOD", "md5hash", lower),
            key_prefix=reader.get("KEY_PREFIX", "pinrelay:", nonempty),
            queue=reader.get("QUEUE", c.DEFAULT_QUEUE, nonempty),
            connect_timeout_s=reader.get("CONNECT_TIMEOUT", c.DEFAULT_CONNECT_TIMEOUT_S, pos_float),
            read_timeout_s=reader.get("READ_TIMEOUT", c.DEFAULT_READ_TIMEOUT_S, pos_float),
            max_attempts=reader.get("MAX_ATTEMPTS", c.DEFAULT_MAX_ATTEMPTS, pos_int),
            retry_deadline_s=reader.get("RETRY_DEADLINE", c.DEFAULT_RETRY_DEADLINE_S, pos_float),
            backoff_initial_s=reader.get("BACKOFF_INITIAL", c.DEFAULT_BACKOFF_INITIAL_S, pos_float),
            backoff_max_s=reader.get("BACKOFF_MAX", c.DEFAULT_BACKOFF_MAX_S, pos_float),
            record_ttl_s=reader.get("RECORD_TTL", c.DEFAULT_RECORD_TTL_S, pos_int),
            pin_expiry_s=reader.get("PIN_EXPIRY", c.DEFAULT_PIN_EXPIRY_S, pos_int),
            visibility_timeout_s=reader.get("VISIBILITY_TIMEOUT", c.DEFAULT_VISIBILITY_TIMEOUT_S, pos_int),
            phone_regions=reader.get("PHONE_REGIONS", c.DEFAULT_PHONE_REGIONS, regions),
            webhook_body_limit_bytes=reader.get(
                "WEBHOOK_BODY_LIMIT", c.DEFAULT_WEBHOOK_BODY_LIMIT_BYTES, pos_int
            ),
            signature_window_s=reader.get("SIGNATURE_WINDOW", c.DEFAULT_SIGNATURE_WINDOW_S, pos_int),
            receipt_grace_s=reader.get("RECEIPT_GRACE", c.DEFAULT_RECEIPT_GRACE_S, pos_int),
            claim_idle_ms=reader.get("CLAIM_IDLE_MS", c.DEFAULT_CLAIM_IDLE_MS, pos_int),
            rate_limit_per_s=reader.get("RATE_LIMIT", c.DEFAULT_RATE_LIMIT_PER_S, nonneg_float),
            per_number_10min=reader.get("PER_NUMBER_10MIN", c.DEFAULT_PER_NUMBER_10MIN, nonneg_int),
            per_number_day=reader.get("PER_NUMBER_DAY", c.DEFAULT_PER_NUMBER_DAY, nonneg_int),
            per_prefix_minute=reader.get("PER_PREFIX_MINUTE", c.DEFAULT_PER_PREFIX_MINUTE, nonneg_int),
            worker_concurrency=reader.get("WORKER_CONCURRENCY", os.cpu_count() or 2, pos_int),
            worker_pool=reader.get("WORKER_POOL", "prefork", lower),
            prefetch_multiplier=reader.get("PREFETCH_MULTIPLIER", 4, pos_int),
            log_format=reader.get("LOG_FORMAT", "json", lower),
            log_level=reader.get("LOG_LEVEL", "INFO", upper),
            runtime_dir=reader.get("RUNTIME_DIR", _default_runtime_dir(env), nonempty),
            metrics_port=reader.get("METRICS_PORT", 0, nonneg_int),
            task_events=reader.get("TASK_EVENTS", True, flag),
            flower_user=reader.opt("FLOWER_USER", nonempty),
            flower_password=reader.opt("FLOWER_PASSWORD", nonempty),
        )


ENV_NAMES: dict[str, str] = {
    "redis_url": "REDIS_URL",
    "broker_url": "BROKER_URL",
    "api_url": "API_URL",
    "conversion_url": "CONVERSION_URL",
    "api_key": "API_KEY",
    "api_secret": "API_SECRET",
    "signature_secret": "SIGNATURE_SECRET",
    "signature_method": "SIGNATURE_METHOD",
    "key_prefix": "KEY_PREFIX",
    "queue": "QUEUE",
    "connect_timeout_s": "CONNECT_TIMEOUT",
    "read_timeout_s": "READ_TIMEOUT",
    "max_attempts": "MAX_ATTEMPTS",
    "retry_deadline_s": "RETRY_DEADLINE",
    "backoff_initial_s": "BACKOFF_INITIAL",
    "backoff_max_s": "BACKOFF_MAX",
    "record_ttl_s": "RECORD_TTL",
    "pin_expiry_s": "PIN_EXPIRY",
    "visibility_timeout_s": "VISIBILITY_TIMEOUT",
    "phone_regions": "PHONE_REGIONS",
    "webhook_body_limit_bytes": "WEBHOOK_BODY_LIMIT",
    "signature_window_s": "SIGNATURE_WINDOW",
    "receipt_grace_s": "RECEIPT_GRACE",
    "claim_idle_ms": "CLAIM_IDLE_MS",
    "rate_limit_per_s": "RATE_LIMIT",
    "per_number_10min": "PER_NUMBER_10MIN",
    "per_number_day": "PER_NUMBER_DAY",
    "per_prefix_minute": "PER_PREFIX_MINUTE",
    "worker_concurrency": "WORKER_CONCURRENCY",
    "worker_pool": "WORKER_POOL",
    "prefetch_multiplier": "PREFETCH_MULTIPLIER",
    "log_format": "LOG_FORMAT",
    "log_level": "LOG_LEVEL",
    "runtime_dir": "RUNTIME_DIR",
    "metrics_port": "METRICS_PORT",
    "task_events": "TASK_EVENTS",
    "flower_user": "FLOWER_USER",
    "flower_password": "FLOWER_PASSWORD",
}


def _default_runtime_dir(env: Mapping[str, str]) -> str:
    """The XDG state directory: where `pinrelay up` keeps its runtime file and embedded Redis data."""
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "pinrelay")
