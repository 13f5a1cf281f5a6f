"""All configuration, read from the environment in one place.

Nothing else in pinrelay reads ``os.environ``: everything takes a
:class:`Settings`, so tests pass their own and a bad variable is reported once,
at start-up, by name. :class:`Settings` is the one table of variables: each
field declares its ``PINRELAY_*`` name, parser, default and doc (see
:func:`worker.envparse.setting`), and ``from_env``, ``to_env``, :data:`ENV_NAMES`
and the README's configuration table (``python -m worker.config --markdown``)
are all derived from it, so they cannot disagree. How one value is parsed and
checked lives in :mod:`worker.envparse`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Final

from worker import constants as c
from worker.envparse import (
    EnvVar,
    env_vars,
    flag,
    host_ports,
    http_url,
    is_loopback_url,
    lower,
    nonempty,
    nonneg_float,
    nonneg_int,
    pos_float,
    pos_int,
    readable_file,
    redact_url,
    regions,
    render,
    setting,
    upper,
    url_with_scheme,
)
from worker.errors import ConfigError
from worker.redisurl import SENTINEL_SCHEMES, connection_url, is_tls_url, kombu_broker_url

# redact_url lived here first; callers may still import it from worker.config.
__all__ = ["Settings", "ENV_NAMES", "redact_url", "settings_table_markdown"]

_REDIS_SCHEMES = ("redis", "rediss", "unix", *SENTINEL_SCHEMES)  # Sentinel: see worker.redisurl
_BROKER_SCHEMES = (*_REDIS_SCHEMES, "amqp", "amqps", "pyamqp")
_POOLS = ("prefork", "threads", "solo", "gevent", "eventlet")
# The simulator's account: the defaults, so a fresh clone runs the demo; refused for a
# provider anywhere but on this machine (:meth:`Settings.check_provider_credentials`).
DEMO_API_KEY: Final = "demo-key"
DEMO_API_SECRET: Final = "demo-secret-0123"  # noqa: S105 - the simulator's public demo secret


def _metrics_place(name: str, value: str) -> str:
    """``on``, ``off`` or a TCP port: where the receiver serves ``/metrics``."""
    lowered = value.lower()
    if lowered in c.WEBHOOK_METRICS_CHOICES or (lowered.isdigit() and 0 < int(lowered) < 65536):
        return lowered
    raise ConfigError(f"{name}={value!r} must be on, off or a port number")


def _cpu_count(env: Mapping[str, str]) -> int:
    """One Celery process per core: a send is mostly waiting, but its CPU share is not zero."""
    return os.cpu_count() or 2


def _default_runtime_dir(env: Mapping[str, str]) -> str:
    """The XDG state directory: where `pinrelay up` keeps its runtime file and embedded Redis data."""
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "pinrelay")


ROUTE_NAMES: tuple[str, ...] = ("sc2fa", "sms", "twilio")  # PINRELAY_ROUTES; worker/send/routes/


def _route_list(name: str, value: str) -> tuple[str, ...]:
    """Known route names, in order, each once: the order is the failover order."""
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    if not names or not set(names) <= set(ROUTE_NAMES) or len(set(names)) != len(names):
        raise ConfigError(f"{name}={value!r} must list routes once each, from {', '.join(ROUTE_NAMES)}")
    return names


def _fraction(name: str, value: str) -> float:
    """A share or a rate: 0 to 1."""
    number = float(value)
    if not 0 <= number <= 1:
        raise ConfigError(f"{name}={value!r} must be between 0 and 1")
    return number


_redis_url = partial(url_with_scheme, schemes=_REDIS_SCHEMES)
_broker_url = partial(url_with_scheme, schemes=_BROKER_SCHEMES)


def _int_between(name: str, value: str, low: int, high: int) -> int:
    """A whole number in ``[low, high]``, for the verify limits the rules fix."""
    number = int(value)
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r} must be a whole number from {low} to {high}")
    return number


def _verify_secret(name: str, value: str) -> str:
    """The verify HMAC key: short keys are refused, since the codes themselves are short."""
    if len(value) < c.VERIFY_SECRET_MIN_CHARS:
        raise ConfigError(f"{name} must be at least {c.VERIFY_SECRET_MIN_CHARS} characters "
                          f"(got {len(value)})")  # fmt: skip
    return value


_verify_length = partial(_int_between, low=c.VERIFY_MIN_LENGTH, high=c.VERIFY_MAX_LENGTH)
_verify_ttl = partial(_int_between, low=1, high=c.VERIFY_MAX_TTL_S)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob, typed; build it with :meth:`from_env`. The repr hides secrets."""

    redis_url: str | None = setting(
        "REDIS_URL", _redis_url, "records, result queue, broker", default=None,
        shown="private embedded Redis", redact=True)  # fmt: skip
    broker_url: str | None = setting(
        "BROKER_URL", _broker_url, "Celery broker (Redis or RabbitMQ `amqp://`)", default=None,
        shown="`PINRELAY_REDIS_URL`", redact=True)  # fmt: skip
    # --- Redis high availability (Sentinel, TLS) ---
    redis_sentinels: tuple[str, ...] = setting(
        "REDIS_SENTINELS", host_ports, "Sentinels (`host:port,host:port`): records, receipts and "
        "broker use the primary they name; `REDIS_URL` then gives only user, password, db and "
        "`rediss`", default=(), shown="unset (one Redis)")  # fmt: skip
    redis_sentinel_master: str | None = setting(
        "REDIS_SENTINEL_MASTER", nonempty, "the Sentinels' name of the primary (`sentinel monitor "
        "<name>`); set with `REDIS_SENTINELS`", default=None)  # fmt: skip
    redis_ca_file: str | None = setting(
        "REDIS_CA_FILE", readable_file, "CA bundle for `rediss://` (Redis, Sentinels, broker)",
        default=None, shown="the system CAs")  # fmt: skip
    redis_claim_wait_ms: int = setting(
        "REDIS_CLAIM_WAIT_MS", nonneg_int, "with Sentinel: a claim waits this long at most for a "
        "replica to hold it before the provider call, so a failover cannot forget it (0 = off)",
        default=100)  # fmt: skip
    api_url: str = setting(
        "API_URL", http_url, "2FA host (`/sc/us/2fa/json` is appended); proxy variables "
        "(`HTTPS_PROXY`) are deliberately not read", default=c.DEFAULT_API_URL)  # fmt: skip
    conversion_url: str = setting(
        "CONVERSION_URL", http_url, "conversion host (`/conversions/sms`)",
        default=c.DEFAULT_CONVERSION_URL)  # fmt: skip
    api_key: str = setting(
        "API_KEY", nonempty, "provider API key; the default is the simulator's, refused (exit 2) "
        "by the commands that call a provider not on loopback", default=DEMO_API_KEY)  # fmt: skip
    api_secret: str = setting(
        "API_SECRET", nonempty, "provider API secret; the default is the simulator's, refused "
        "like the key", default=DEMO_API_SECRET, secret=True)  # fmt: skip
    signature_secret: str | None = setting(
        "SIGNATURE_SECRET", nonempty, "receipts must be signed with it; a signed receipt seen "
        "again (same `nonce`, or same `sig` when it has no nonce) within two windows is "
        "answered 200 `duplicate` and not queued twice", default=None,
        shown="unset (no check)", secret=True)  # fmt: skip
    signature_method: str = setting(
        "SIGNATURE_METHOD", lower, "how receipts are signed", default="md5hash",
        choices=c.SIGNATURE_METHODS)  # fmt: skip
    key_prefix: str = setting(
        "KEY_PREFIX", nonempty, "prefix of every Redis key pinrelay writes", default="pinrelay:")
    queue: str = setting(
        "QUEUE", nonempty, "Celery queue of the send and conversion tasks", default=c.DEFAULT_QUEUE)
    connect_timeout_s: float = setting(
        "CONNECT_TIMEOUT", pos_float, "provider HTTP connect timeout, seconds",
        default=c.DEFAULT_CONNECT_TIMEOUT_S)  # fmt: skip
    read_timeout_s: float = setting(
        "READ_TIMEOUT", pos_float, "provider HTTP read timeout, seconds",
        default=c.DEFAULT_READ_TIMEOUT_S)  # fmt: skip
    max_attempts: int = setting(
        "MAX_ATTEMPTS", pos_int, "provider calls per send at most", default=c.DEFAULT_MAX_ATTEMPTS)
    retry_deadline_s: float = setting(
        "RETRY_DEADLINE", pos_float, "seconds after which retrying stops",
        default=c.DEFAULT_RETRY_DEADLINE_S)  # fmt: skip
    backoff_initial_s: float = setting(
        "BACKOFF_INITIAL", pos_float, "backoff base, seconds", default=c.DEFAULT_BACKOFF_INITIAL_S)
    backoff_max_s: float = setting(
        "BACKOFF_MAX", pos_float, "backoff cap, seconds", default=c.DEFAULT_BACKOFF_MAX_S)
    record_ttl_s: int = setting(
        "RECORD_TTL", pos_int, "seconds a record is kept", default=c.DEFAULT_RECORD_TTL_S)
    pin_expiry_s: int = setting(
        "PIN_EXPIRY", pos_int, "seconds after enqueue a PIN is no longer sent",
        default=c.DEFAULT_PIN_EXPIRY_S)  # fmt: skip
    visibility_timeout_s: int = setting(
        "VISIBILITY_TIMEOUT", pos_int, "seconds after which a task of a crashed worker is "
        "redelivered; must exceed the worst-case retry schedule and stay under the PIN expiry "
        "(both checked at start)", default=c.DEFAULT_VISIBILITY_TIMEOUT_S)  # fmt: skip
    phone_regions: tuple[str, ...] = setting(
        "PHONE_REGIONS", regions, "regions `to` may be in", default=c.DEFAULT_PHONE_REGIONS)
    webhook_body_limit_bytes: int = setting(
        "WEBHOOK_BODY_LIMIT", pos_int, "receipt body limit, bytes",
        default=c.DEFAULT_WEBHOOK_BODY_LIMIT_BYTES)  # fmt: skip
    signature_window_s: int = setting(
        "SIGNATURE_WINDOW", pos_int, "seconds a signed receipt's timestamp may be off",
        default=c.DEFAULT_SIGNATURE_WINDOW_S)  # fmt: skip
    receipt_grace_s: int = setting(
        "RECEIPT_GRACE", pos_int, "seconds an early receipt waits for its send before it is "
        "`unmatched`", default=c.DEFAULT_RECEIPT_GRACE_S)  # fmt: skip
    claim_idle_ms: int = setting(
        "CLAIM_IDLE_MS", pos_int, "a receipt read by a correlator that died is taken over after "
        "this", default=c.DEFAULT_CLAIM_IDLE_MS)  # fmt: skip
    rate_limit_per_s: float = setting(
        "RATE_LIMIT", nonneg_float, "sends/s across all workers (0 = off)",
        default=c.DEFAULT_RATE_LIMIT_PER_S)  # fmt: skip
    per_number_10min: int = setting(
        "PER_NUMBER_10MIN", nonneg_int, "sends per number per 10 minutes (0 = off)",
        default=c.DEFAULT_PER_NUMBER_10MIN)  # fmt: skip
    per_number_day: int = setting(
        "PER_NUMBER_DAY", nonneg_int, "sends per number per day (0 = off)",
        default=c.DEFAULT_PER_NUMBER_DAY)  # fmt: skip
    per_prefix_minute: int = setting(
        "PER_PREFIX_MINUTE", nonneg_int, "sends per NPA-NXX per minute (0 = off)",
        default=c.DEFAULT_PER_PREFIX_MINUTE)  # fmt: skip
    # --- verify (worker/verify/) ---
    verify_secret: str | None = setting(
        "VERIFY_SECRET", _verify_secret, "HMAC-SHA256 key of the verification codes (≥ 32 "
        "characters)", default=None, shown="unset (every `verify` command refused)", secret=True)  # fmt: skip
    verify_length: int = setting(
        "VERIFY_LENGTH", _verify_length, "digits of a verification code (6-10)",
        default=c.DEFAULT_VERIFY_LENGTH)  # fmt: skip
    verify_ttl_s: int = setting(
        "VERIFY_TTL", _verify_ttl, "seconds a verification code is valid (at most 600)",
        default=c.DEFAULT_VERIFY_TTL_S)  # fmt: skip
    verify_max_attempts: int = setting(
        "VERIFY_MAX_ATTEMPTS", pos_int, "wrong codes before a verification is `locked` (resends "
        "never reset it)", default=c.DEFAULT_VERIFY_MAX_ATTEMPTS)  # fmt: skip
    verify_max_sends: int = setting(
        "VERIFY_MAX_SENDS", pos_int, "sends (first + resends) per verification",
        default=c.DEFAULT_VERIFY_MAX_SENDS)  # fmt: skip
    worker_concurrency: int = setting(
        "WORKER_CONCURRENCY", pos_int, "Celery worker processes", factory=_cpu_count,
        shown="cores")  # fmt: skip
    worker_pool: str = setting(
        "WORKER_POOL", lower, "Celery worker pool", default="prefork", choices=_POOLS,
        choices_text="a Celery pool")  # fmt: skip
    prefetch_multiplier: int = setting(
        "PREFETCH_MULTIPLIER", pos_int, "tasks a worker process reserves ahead", default=4)
    log_format: str = setting(
        "LOG_FORMAT", lower, "structlog output", default="json", choices=("json", "console"),
        choices_text="json or console")  # fmt: skip
    log_level: str = setting(
        "LOG_LEVEL", upper, "structlog level (Celery's own lines are kept at WARNING)",
        default="INFO")  # fmt: skip
    runtime_dir: str = setting(
        "RUNTIME_DIR", nonempty, "where `up` leaves the runtime file and its Redis data",
        factory=_default_runtime_dir, shown="`~/.local/state/pinrelay`")  # fmt: skip
    metrics_port: int = setting(
        "METRICS_PORT", nonneg_int, "Prometheus endpoint of `pinrelay worker` / `pinrelay "
        "correlate` (the receiver serves `/metrics` itself)", default=0, shown="`0` (off)")  # fmt: skip
    metrics_host: str = setting(
        "METRICS_HOST", nonempty, "interface that endpoint listens on", default="0.0.0.0")
    task_events: bool = setting(
        "TASK_EVENTS", flag, "Celery task events for Flower; `0` saves ~18% worker CPU per send "
        "where nobody watches Flower", default=True)  # fmt: skip
    flower_user: str | None = setting(
        "FLOWER_USER", nonempty, "Flower's basic auth user", default=None,
        shown="unset (Flower refuses to start)")  # fmt: skip
    flower_password: str | None = setting(
        "FLOWER_PASSWORD", nonempty, "Flower's basic auth password (≥ 12 characters)",
        default=None, shown="unset (Flower refuses to start)", secret=True)  # fmt: skip
    # --- hostile input and bounds ---
    webhook_body_timeout_s: float = setting("WEBHOOK_BODY_TIMEOUT", pos_float, "seconds a receipt's "
        "body may take to arrive (then 408)", default=c.DEFAULT_WEBHOOK_BODY_TIMEOUT_S)  # fmt: skip
    webhook_threads: int = setting("WEBHOOK_THREADS", pos_int, "threads per receiver worker process "
        "that run the app", default=c.DEFAULT_WEBHOOK_THREADS)  # fmt: skip
    webhook_metrics: str = setting("WEBHOOK_METRICS", _metrics_place, "the receiver's `/metrics`: `on`, "
        "`off`, or a port number to serve it on instead of the receipt port", default="on")  # fmt: skip
    webhook_backlog_max: int = setting("WEBHOOK_BACKLOG_MAX", pos_int, "receipts waiting on the stream "
        "beyond which the receiver answers 503", default=c.DEFAULT_WEBHOOK_BACKLOG_MAX)  # fmt: skip
    dead_letter_cap: int = setting("DEAD_LETTER_CAP", pos_int, "entries kept per dead-letter kind "
        "(sends, receipts, tasks); the oldest go first", default=c.DEFAULT_DEAD_LETTER_CAP)  # fmt: skip
    parked_max: int = setting("PARKED_MAX", pos_int, "message-ids whose early receipts wait for their "
        "send; beyond it the oldest go to dead letters", default=c.DEFAULT_PARKED_MAX)  # fmt: skip
    # --- doctor ---
    public_webhook_url: str | None = setting(
        "PUBLIC_WEBHOOK_URL", http_url, "the receipt URL the provider is given; `pinrelay doctor` "
        "checks the receiver answers there", default=None, shown="unset (not checked)")  # fmt: skip
    # --- HTTP API ---
    api_rate_per_key: float = setting(
        "API_RATE_PER_KEY", nonneg_float, "HTTP API requests/s per key, across all API processes (0 = off)",
        default=c.DEFAULT_API_RATE_PER_KEY)  # fmt: skip
    api_body_limit_bytes: int = setting(
        "API_BODY_LIMIT", pos_int, "HTTP API body limit, bytes", default=c.DEFAULT_API_BODY_LIMIT_BYTES)
    callback_secret: str | None = setting(
        "CALLBACK_SECRET", _verify_secret, "signs outcome callbacks (≥ 32 characters)", default=None,
        shown="unset (`callback_url` is refused)", secret=True)  # fmt: skip
    callback_retry_deadline_s: float = setting(
        "CALLBACK_RETRY_DEADLINE", pos_float, "seconds a refused or unanswered callback is retried",
        default=c.DEFAULT_CALLBACK_RETRY_DEADLINE_S)  # fmt: skip
    callback_allow_private: bool = setting(
        "CALLBACK_ALLOW_PRIVATE", flag, "allow callback hosts on loopback, private or link-local "
        "addresses (otherwise refused: server-side request forgery)", default=False)  # fmt: skip
    # --- routes (worker/send/routes/: which provider routes, their settings, failover) ---
    routes: tuple[str, ...] = setting(
        "ROUTES", _route_list, "routes in failover order: `sc2fa`, `sms`, `twilio`", default=("sc2fa",))
    sms_from: str | None = setting(
        "SMS_FROM", nonempty, "`from` of the `sms` route (digits for North America)", default=None)
    sms_template: str = setting(
        "SMS_TEMPLATE", nonempty, "text on `sms`/`twilio`: `{pin}`, one SMS", default="Your code is {pin}")
    sms_templates: str | None = setting(
        "SMS_TEMPLATES", nonempty, "JSON file: region code or language -> template", default=None)
    twilio_url: str = setting(
        "TWILIO_URL", http_url, "Twilio API host of the `twilio` route", default="https://api.twilio.com")
    twilio_account_sid: str | None = setting(
        "TWILIO_ACCOUNT_SID", nonempty, "Twilio account (`AC...`), Basic-auth user", default=None)
    twilio_auth_token: str | None = setting(
        "TWILIO_AUTH_TOKEN", nonempty, "Twilio auth token (checks callbacks)", default=None, secret=True)
    twilio_from: str | None = setting(
        "TWILIO_FROM", nonempty, "Twilio `From` (E.164 with `+`)", default=None)
    twilio_messaging_service_sid: str | None = setting(
        "TWILIO_MESSAGING_SERVICE_SID", nonempty, "Twilio sender pool, instead of `From`", default=None)
    twilio_status_url: str | None = setting(
        "TWILIO_STATUS_URL", http_url, "public URL of `/twilio-status-webhook` (signed over)", default=None)
    route_cooldown_s: float = setting(
        "ROUTE_COOLDOWN", pos_float, "seconds an open route breaker waits before one probe", default=60.0)
    route_min_success: float = setting(
        "ROUTE_MIN_SUCCESS", _fraction, "delivery rate below which a route is `degraded`", default=0.5)
    route_probe_share: float = setting(
        "ROUTE_PROBE_SHARE", _fraction, "share of new sends a degraded route still gets", default=0.05)
    api_signature_secret: str | None = setting(
        "API_SIGNATURE_SECRET", nonempty, "Vonage routes sign requests (`sig`)", default=None, secret=True)
    api_signature_method: str = setting(
        "API_SIGNATURE_METHOD", lower, "how requests are signed", default="md5hash",
        choices=c.SIGNATURE_METHODS)  # fmt: skip

    def __post_init__(self) -> None:
        for name, var in _VARS.items():
            var.check(getattr(self, name))
        if self.verify_secret and self.record_ttl_s < self.verify_ttl_s:  # a verification outlives its code
            raise ConfigError(f"PINRELAY_RECORD_TTL ({self.record_ttl_s}s) must be at least "
                              f"PINRELAY_VERIFY_TTL ({self.verify_ttl_s}s)")  # fmt: skip
        # Sentinels, primary and CA ride in redis_url, the one string every client is built from
        url = connection_url(self.redis_url, self.redis_sentinels, self.redis_sentinel_master,
                             self.redis_ca_file, self.broker_url)  # fmt: skip
        if url != self.redis_url:
            object.__setattr__(self, "redis_url", url)  # frozen: set once, while being built

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            var = _VARS[f.name]
            if var.secret and value:
                value = "***"
            elif var.redact and value:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    def summary(self) -> dict[str, object]:
        """Every setting by its variable's name, secrets hidden and URL passwords masked: the
        `ready` log event carries it, so an operator sees what a process really runs with."""
        shown: dict[str, object] = {}
        for name, var in _VARS.items():
            value = getattr(self, name)
            if var.secret and value:
                value = "[redacted]"
            elif var.redact and value:
                value = redact_url(value)
            shown[var.name] = list(value) if isinstance(value, tuple) else value
        return shown

    def check_provider_credentials(self) -> None:
        """Refuse the demo credentials unless every provider URL is on loopback.

        Called by the commands that make provider calls (`worker`, `up`): an unset or
        empty ``PINRELAY_API_KEY`` must not quietly become the simulator's account and
        send every PIN into a 401 at the real provider.
        """
        if not {"sc2fa", "sms"} & set(self.routes):
            return  # no Vonage route: the key is never sent (the twilio route has its own account)
        remote = [f"{_VARS[n].name}={url}" for n in ("api_url", "conversion_url")
                  if not is_loopback_url(url := getattr(self, n))]  # fmt: skip
        demo = [_VARS[n].name for n, v in (("api_key", DEMO_API_KEY), ("api_secret", DEMO_API_SECRET))
                if getattr(self, n) == v]  # fmt: skip
        if remote and demo:
            raise ConfigError(
                f"{' and '.join(demo)} unset (or the simulator's demo values) while "
                f"{remote[0]} is not on loopback: set PINRELAY_API_KEY and PINRELAY_API_SECRET "
                "to your provider account's credentials"
            )

    def secret_values(self) -> tuple[str, ...]:
        """Every secret these settings hold, for the log redactor."""
        return tuple(v for name, var in sorted(_VARS.items()) if var.secret and (v := getattr(self, name)))

    @property
    def twofa_url(self) -> str:
        return self.api_url + c.TWOFA_PATH

    @property
    def conversion_endpoint(self) -> str:
        return self.conversion_url + c.CONVERSION_PATH

    def with_redis(self, url: str) -> Settings:
        """A copy pointing at ``url`` (and at it as broker unless one was set), and only at it:
        configured Sentinels are dropped (they would be folded over ``url``), the CA kept for TLS."""
        ca_file = self.redis_ca_file if is_tls_url(url) else None
        return replace(self, redis_url=url, redis_sentinels=(), redis_sentinel_master=None,
                       redis_ca_file=ca_file)  # fmt: skip

    @property
    def effective_broker_url(self) -> str:
        """The broker URL as Celery/kombu read it (a Sentinel URL in kombu's `sentinel://` form)."""
        url = self.broker_url or self.redis_url
        if url is None:
            raise ConfigError("no Redis: set PINRELAY_REDIS_URL or start `pinrelay up`")
        return kombu_broker_url(url)

    def to_env(self) -> dict[str, str]:
        """The ``PINRELAY_*`` variables that rebuild these settings in a child process."""
        return {var.name: render(value) for name, var in _VARS.items()
                if (value := getattr(self, name)) is not None}  # fmt: skip

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``PINRELAY_*``; raise :class:`ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        return cls(**{name: var.read(env) for name, var in _VARS.items()})


_VARS: dict[str, EnvVar] = env_vars(Settings)

# Attribute name -> env suffix (``PINRELAY_<suffix>``), for code that lists the variables.
ENV_NAMES: dict[str, str] = {name: var.suffix for name, var in _VARS.items()}


def settings_table_markdown() -> str:
    """The README's configuration table, one row per variable, in declaration order."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{var.name}` | {var.shown_default()} | {var.meaning()} |" for var in _VARS.values()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m worker.config --markdown")
    sys.stdout.write(settings_table_markdown())
