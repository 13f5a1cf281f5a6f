"""The settings: every ``PINRELAY_*`` variable, declared once, and what is derived from them.

Each field is one :func:`~worker.config.types.env` declaration: variable name, default, doc (the
README's configuration table is generated from them); its type carries the bound or the choice.
The rules that tie fields together are in :mod:`worker.config.rules`: the always-rules run when
settings are built, the per-role checks are the ``check_for_*`` methods the processes call.
Reading, copying and showing are in :class:`~worker.config.base.EnvSettings`.

One longer declarative file on purpose: the table is the README's order (the send loop first,
the features after) and splitting it would only split a list.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import model_validator

from worker import constants as c
from worker.config import rules
from worker.config.base import EnvSettings
from worker.config.lists import CountryCaps, CountryPrices, DigitEntries, NumberTypes
from worker.config.rules import DEMO_API_KEY, DEMO_API_SECRET
from worker.config.sources import default_runtime_dir
from worker.config.types import (
    AppHash,
    BrokerUrl,
    CodePattern,
    Flag,
    Fraction,
    GuardConversions,
    GuardMode,
    HookKey,
    HostPorts,
    HttpUrl,
    LogFormat,
    LongSecret,
    MetricsPlace,
    NonNegFloat,
    NonNegInt,
    OriginName,
    OtpDomain,
    Pool,
    PosFloat,
    PosInt,
    ReadableFile,
    RedisUrl,
    Regions,
    Routes,
    SignatureMethod,
    SupabaseSecret,
    Upper,
    VerifyLength,
    VerifyTtl,
    env,
)
from worker.redisurl import is_tls_url, kombu_broker_url

__all__ = ["Settings", "DEMO_API_KEY", "DEMO_API_SECRET"]


def _cpu_count() -> int:
    """One Celery process per core: a send is mostly waiting, but its CPU share is not zero."""
    return os.cpu_count() or 2


def _default_runtime_dir() -> str:
    return default_runtime_dir(os.environ)


class Settings(EnvSettings):
    """Every knob, typed and frozen; build it with :meth:`from_env`. The repr hides secrets."""

    # --- Redis and the broker ---
    redis_url: RedisUrl | None = env(
        "REDIS_URL", None, "records, result queue, broker", shown="private embedded Redis", redact=True)
    broker_url: BrokerUrl | None = env(
        "BROKER_URL", None, "Celery broker (Redis or RabbitMQ `amqp://`)",
        shown="`PINRELAY_REDIS_URL`", redact=True)
    # --- Redis high availability (Sentinel, TLS) ---
    redis_sentinels: HostPorts = env(
        "REDIS_SENTINELS", (), "Sentinels (`host:port,host:port`): records, receipts and broker use the "
        "primary they name; `REDIS_URL` then gives only user, password, db and `rediss`",
        shown="unset (one Redis)")
    redis_sentinel_master: str | None = env(
        "REDIS_SENTINEL_MASTER", None, "the Sentinels' name of the primary (`sentinel monitor <name>`); "
        "set with `REDIS_SENTINELS`")
    redis_ca_file: ReadableFile | None = env(
        "REDIS_CA_FILE", None, "CA bundle for `rediss://` (Redis, Sentinels, broker)", shown="the system CAs")
    redis_claim_wait_ms: NonNegInt = env(
        "REDIS_CLAIM_WAIT_MS", 100, "with Sentinel: a claim waits this long at most for a replica to hold "
        "it before the provider call, so a failover cannot forget it (0 = off)")
    # --- the provider, receipts, keys and queues ---
    api_url: HttpUrl = env(
        "API_URL", c.DEFAULT_API_URL, "2FA host (`/sc/us/2fa/json` is appended); proxy variables "
        "(`HTTPS_PROXY`) are deliberately not read")
    conversion_url: HttpUrl = env(
        "CONVERSION_URL", c.DEFAULT_CONVERSION_URL, "conversion host (`/conversions/sms`)")
    api_key: str = env(
        "API_KEY", DEMO_API_KEY, "provider API key; the default is the simulator's, refused (exit 2) by "
        "the commands that call a provider not on loopback")
    api_secret: str = env(
        "API_SECRET", DEMO_API_SECRET, "provider API secret; the default is the simulator's, refused like "
        "the key", secret=True)
    signature_secret: str | None = env(
        "SIGNATURE_SECRET", None, "receipts must be signed with it; a signed receipt seen again (same "
        "`nonce`, or same `sig` when it has no nonce) within two windows is answered 200 `duplicate` and "
        "not queued twice", shown="unset (no check)", secret=True)
    signature_method: SignatureMethod = env("SIGNATURE_METHOD", "md5hash", "how receipts are signed")
    key_prefix: str = env("KEY_PREFIX", "pinrelay:", "prefix of every Redis key pinrelay writes")
    queue: str = env("QUEUE", c.DEFAULT_QUEUE, "Celery queue of the send tasks")
    callback_queue: str | None = env(
        "CALLBACK_QUEUE", None, "Celery queue of every task that is not a provider send (outcome callbacks, "
        "conversion reports, the verify expiry), consumed by its own pool (`pinrelay worker --callbacks`), "
        "so no send waits behind one", shown="`PINRELAY_QUEUE` + `-callbacks` (`pinrelay-callbacks`)")
    # --- retries, lifetimes, limits ---
    connect_timeout_s: PosFloat = env(
        "CONNECT_TIMEOUT", c.DEFAULT_CONNECT_TIMEOUT_S, "provider HTTP connect timeout, seconds")
    read_timeout_s: PosFloat = env(
        "READ_TIMEOUT", c.DEFAULT_READ_TIMEOUT_S, "provider HTTP read timeout, seconds")
    max_attempts: PosInt = env("MAX_ATTEMPTS", c.DEFAULT_MAX_ATTEMPTS, "provider calls per send at most")
    retry_deadline_s: PosFloat = env(
        "RETRY_DEADLINE", c.DEFAULT_RETRY_DEADLINE_S, "seconds after which retrying stops")
    backoff_initial_s: PosFloat = env("BACKOFF_INITIAL", c.DEFAULT_BACKOFF_INITIAL_S, "backoff base, seconds")
    backoff_max_s: PosFloat = env("BACKOFF_MAX", c.DEFAULT_BACKOFF_MAX_S, "backoff cap, seconds")
    record_ttl_s: PosInt = env("RECORD_TTL", c.DEFAULT_RECORD_TTL_S, "seconds a record is kept")
    pin_expiry_s: PosInt = env(
        "PIN_EXPIRY", c.DEFAULT_PIN_EXPIRY_S, "seconds after enqueue a PIN is no longer sent")
    visibility_timeout_s: PosInt = env(
        "VISIBILITY_TIMEOUT", c.DEFAULT_VISIBILITY_TIMEOUT_S, "seconds after which a task of a crashed "
        "worker is redelivered; must exceed the worst-case retry schedule and stay under the PIN expiry "
        "(both checked at start)")
    phone_regions: Regions = env("PHONE_REGIONS", c.DEFAULT_PHONE_REGIONS, "regions `to` may be in")
    webhook_body_limit_bytes: PosInt = env(
        "WEBHOOK_BODY_LIMIT", c.DEFAULT_WEBHOOK_BODY_LIMIT_BYTES, "receipt body limit, bytes")
    signature_window_s: PosInt = env(
        "SIGNATURE_WINDOW", c.DEFAULT_SIGNATURE_WINDOW_S, "seconds a signed receipt's timestamp may be off")
    receipt_grace_s: PosInt = env(
        "RECEIPT_GRACE", c.DEFAULT_RECEIPT_GRACE_S, "seconds an early receipt waits for its send before it "
        "is `unmatched`")
    claim_idle_ms: PosInt = env(
        "CLAIM_IDLE_MS", c.DEFAULT_CLAIM_IDLE_MS, "a receipt read by a correlator that died is taken over "
        "after this")
    rate_limit_per_s: NonNegFloat = env(
        "RATE_LIMIT", c.DEFAULT_RATE_LIMIT_PER_S, "sends/s across all workers (0 = off)")
    per_number_10min: NonNegInt = env(
        "PER_NUMBER_10MIN", c.DEFAULT_PER_NUMBER_10MIN, "sends per number per 10 minutes (0 = off)")
    per_number_day: NonNegInt = env(
        "PER_NUMBER_DAY", c.DEFAULT_PER_NUMBER_DAY, "sends per number per day (0 = off)")
    per_prefix_minute: NonNegInt = env(
        "PER_PREFIX_MINUTE", c.DEFAULT_PER_PREFIX_MINUTE, "sends per NPA-NXX per minute (0 = off)")
    # --- processes, logs, metrics, Flower ---
    worker_concurrency: PosInt = env(
        "WORKER_CONCURRENCY", None, "Celery worker processes", shown="cores", factory=_cpu_count)
    worker_pool: Pool = env("WORKER_POOL", "prefork", "Celery worker pool")
    prefetch_multiplier: PosInt = env("PREFETCH_MULTIPLIER", 4, "tasks a worker process reserves ahead")
    callback_concurrency: PosInt = env(
        "CALLBACK_CONCURRENCY", c.DEFAULT_CALLBACK_CONCURRENCY, "processes of the callbacks pool "
        "(`pinrelay worker --callbacks`, prefork: each task has a hard time limit)")
    log_format: LogFormat = env("LOG_FORMAT", "json", "structlog output")
    log_level: Upper = env(
        "LOG_LEVEL", "INFO", "structlog level (Celery's own lines are kept at WARNING)")
    runtime_dir: str = env(
        "RUNTIME_DIR", None, "where `up` leaves the runtime file and its Redis data",
        shown="`~/.local/state/pinrelay`", factory=_default_runtime_dir)
    metrics_port: NonNegInt = env(
        "METRICS_PORT", 0, "Prometheus endpoint of `pinrelay worker` / `pinrelay correlate` (the receiver "
        "serves `/metrics` itself)", shown="`0` (off)")
    metrics_host: str = env(
        "METRICS_HOST", "127.0.0.1", "interface that endpoint listens on (loopback; `0.0.0.0` where "
        "Prometheus scrapes from another host, as compose sets it)")
    task_events: Flag = env(
        "TASK_EVENTS", True, "Celery task events for Flower (published in 0.25 s batches); `0` turns them "
        "off where nobody watches Flower")
    flower_user: str | None = env(
        "FLOWER_USER", None, "Flower's basic auth user", shown="unset (Flower refuses to start)")
    flower_password: str | None = env(
        "FLOWER_PASSWORD", None, "Flower's basic auth password (≥ 12 characters)",
        shown="unset (Flower refuses to start)", secret=True)
    # --- verify (worker/verify/) ---
    verify_secret: LongSecret | None = env(
        "VERIFY_SECRET", None, "HMAC-SHA256 key of the verification codes (≥ 32 characters)",
        shown="unset (every `verify` command refused)", secret=True)
    verify_length: VerifyLength = env(
        "VERIFY_LENGTH", c.DEFAULT_VERIFY_LENGTH, "digits of a verification code (6-10)")
    verify_ttl_s: VerifyTtl = env(
        "VERIFY_TTL", c.DEFAULT_VERIFY_TTL_S, "seconds a verification code is valid (at most 600)")
    verify_max_attempts: PosInt = env(
        "VERIFY_MAX_ATTEMPTS", c.DEFAULT_VERIFY_MAX_ATTEMPTS, "wrong codes before a verification is "
        "`locked` (resends never reset it)")
    verify_max_sends: PosInt = env(
        "VERIFY_MAX_SENDS", c.DEFAULT_VERIFY_MAX_SENDS, "sends (first + resends) per verification")
    # --- hostile input and bounds ---
    webhook_body_timeout_s: PosFloat = env(
        "WEBHOOK_BODY_TIMEOUT", c.DEFAULT_WEBHOOK_BODY_TIMEOUT_S, "seconds a receipt's body may take to "
        "arrive (then 408)")
    webhook_threads: PosInt = env(
        "WEBHOOK_THREADS", c.DEFAULT_WEBHOOK_THREADS, "no longer used: the receiver runs as a coroutine "
        "under granian (one writer thread per worker); still accepted")
    webhook_metrics: MetricsPlace = env(
        "WEBHOOK_METRICS", "on", "the receiver's `/metrics`: `on`, `off`, or a port number to serve it on "
        "instead of the receipt port")
    webhook_backlog_max: PosInt = env(
        "WEBHOOK_BACKLOG_MAX", c.DEFAULT_WEBHOOK_BACKLOG_MAX, "receipts waiting on the stream beyond which "
        "the receiver answers 503")
    dead_letter_cap: PosInt = env(
        "DEAD_LETTER_CAP", c.DEFAULT_DEAD_LETTER_CAP, "entries kept per dead-letter kind (sends, receipts, "
        "tasks); the oldest go first")
    parked_max: PosInt = env(
        "PARKED_MAX", c.DEFAULT_PARKED_MAX, "message-ids whose early receipts wait for their send; beyond "
        "it the oldest go to dead letters")
    # --- doctor ---
    public_webhook_url: HttpUrl | None = env(
        "PUBLIC_WEBHOOK_URL", None, "the receipt URL the provider is given; `pinrelay doctor` checks the "
        "receiver answers there", shown="unset (not checked)")
    # --- HTTP API and outcome callbacks ---
    api_rate_per_key: NonNegFloat = env(
        "API_RATE_PER_KEY", c.DEFAULT_API_RATE_PER_KEY, "HTTP API requests/s per key, across all API "
        "processes (0 = off)")
    api_body_limit_bytes: PosInt = env(
        "API_BODY_LIMIT", c.DEFAULT_API_BODY_LIMIT_BYTES, "HTTP API body limit, bytes")
    callback_secret: LongSecret | None = env(
        "CALLBACK_SECRET", None, "signs outcome callbacks (≥ 32 characters)",
        shown="unset (`callback_url` is refused)", secret=True)
    callback_retry_deadline_s: PosFloat = env(
        "CALLBACK_RETRY_DEADLINE", c.DEFAULT_CALLBACK_RETRY_DEADLINE_S, "seconds a refused or unanswered "
        "callback is retried")
    callback_allow_private: Flag = env(
        "CALLBACK_ALLOW_PRIVATE", False, "allow callback hosts on loopback, private or link-local "
        "addresses (otherwise refused: server-side request forgery)")
    # --- auth-server hooks (worker/api/hooks/; docs/auth-servers.md) ---
    supabase_hook_secret: SupabaseSecret | None = env(
        "SUPABASE_HOOK_SECRET", None, "the Supabase Send SMS Hook's secret as Supabase shows it "
        "(`v1,whsec_<base64>`; during a rotation several, separated by a vertical bar): `POST "
        "/v1/hooks/supabase/send-sms` accepts a call signed with any of them",
        shown="unset (that hook answers 404)", secret=True)
    hook_signing_key: HookKey | None = env(
        "HOOK_SIGNING_KEY", None, "HMAC-SHA256 key of `POST /v1/hooks/generic/send-sms`'s "
        "`ZITADEL-Signature` / `X-Pinrelay-Signature` header (Zitadel's `signingKey`; ≥ 16 characters)",
        shown="unset (that hook takes API keys only)", secret=True)
    hook_code_pattern: CodePattern = env(
        "HOOK_CODE_PATTERN", c.DEFAULT_HOOK_CODE_PATTERN, "regular expression that finds the code in "
        "a generic hook's message text (its group, else the whole match); it must match exactly once",
        shown="the one run of 4-10 digits")
    # --- routes (worker/send/routes/: which provider routes, their settings, failover) ---
    routes: Routes = env(
        "ROUTES", ("sc2fa",), "routes in failover order: `sc2fa`, `sms`, `twilio`, `messages`")
    sms_from: str | None = env(
        "SMS_FROM", None, "`from` of the `sms` and `messages` routes (digits for North America)")
    sms_template: str = env(
        "SMS_TEMPLATE", "Your code is {pin}", "text on `sms`/`twilio`/`messages`: `{pin}`, one SMS")
    sms_templates: str | None = env("SMS_TEMPLATES", None, "JSON file: region code or language -> template")
    otp_domain: OtpDomain | None = env(
        "OTP_DOMAIN", None, "ends the text with `@<domain> #<pin>`: browsers and iOS offer the code only on "
        "that site (origin-bound codes)")
    android_app_hash: AppHash | None = env(
        "ANDROID_APP_HASH", None, "the app's 11-character hash, added to the text (Android SMS Retriever "
        "API)")
    twilio_url: HttpUrl = env("TWILIO_URL", "https://api.twilio.com", "Twilio API host of the `twilio` route")
    twilio_account_sid: str | None = env(
        "TWILIO_ACCOUNT_SID", None, "Twilio account (`AC...`), Basic-auth user")
    twilio_auth_token: str | None = env(
        "TWILIO_AUTH_TOKEN", None, "Twilio auth token (checks callbacks)", secret=True)
    twilio_from: str | None = env("TWILIO_FROM", None, "Twilio `From` (E.164 with `+`)")
    twilio_messaging_service_sid: str | None = env(
        "TWILIO_MESSAGING_SERVICE_SID", None, "Twilio sender pool, instead of `From`")
    twilio_status_url: HttpUrl | None = env(
        "TWILIO_STATUS_URL", None, "public URL of `/twilio-status-webhook` (signed over)")
    twilio_signing_key: str | None = env(
        "TWILIO_SIGNING_KEY", None, "Twilio SharedKey secret: checks callbacks that carry "
        "`X-Twilio-Webhooks-Signature-Settings` (HMAC-SHA1 or HMAC-SHA256)", shown="unset (refused)",
        secret=True)
    messages_url: HttpUrl = env(
        "MESSAGES_URL", c.DEFAULT_MESSAGES_URL, "Vonage Messages API host of the `messages` route "
        "(`/v1/messages`)")
    vonage_application_id: str | None = env(
        "VONAGE_APPLICATION_ID", None, "Vonage application of the `messages` route: RS256 JWT auth",
        shown="unset (Basic auth, API key)")
    vonage_private_key: str | None = env(
        "VONAGE_PRIVATE_KEY", None, "path of that application's private key (PEM), read at worker start")
    messages_status_url: HttpUrl | None = env(
        "MESSAGES_STATUS_URL", None, "public URL of `/messages-status-webhook`, sent as `webhook_url`",
        shown="unset (the application's)")
    route_cooldown_s: PosFloat = env(
        "ROUTE_COOLDOWN", 60.0, "seconds an open route breaker waits before one probe")
    route_min_success: Fraction = env(
        "ROUTE_MIN_SUCCESS", 0.5, "delivery rate below which a route is `degraded`")
    route_probe_share: Fraction = env(
        "ROUTE_PROBE_SHARE", 0.05, "share of new sends a degraded route still gets")
    api_signature_secret: str | None = env(
        "API_SIGNATURE_SECRET", None, "Vonage routes sign requests (`sig`)", secret=True)
    api_signature_method: SignatureMethod = env("API_SIGNATURE_METHOD", "md5hash", "how requests are signed")

    # --- the pumping guard (worker/guard/): what its operating side reads ---
    guard_mode: GuardMode = env(
        "GUARD", "enforce", "the prefix guard's mode (`monitor` refuses nothing: it lists and counts what it "
        "would block)")
    key_hourly_quota: NonNegInt = env("KEY_HOURLY_QUOTA", 1000, "sends per API key (origin) per UTC hour")
    key_daily_quota: NonNegInt = env("KEY_DAILY_QUOTA", 10000, "sends per API key (origin) per UTC day")
    country_hourly_cap: CountryCaps = env(
        "COUNTRY_HOURLY_CAP", ("US=2000", "CA=300", "*=100"), "sends per country per UTC hour "
        "(`*`: every other allowed country)")
    country_burst_10min: CountryCaps = env(
        "COUNTRY_BURST_10MIN", ("US=500", "CA=75", "*=25"), "sends per country per 10 minutes")
    daily_spend_cap: NonNegFloat = env(
        "DAILY_SPEND_CAP", 50.0, "money per UTC day, in the provider account's currency")
    guard_safe: DigitEntries = env(
        "GUARD_SAFE", (), "prefixes or numbers the prefix guard never blocks", shown="none")
    producer_id: OriginName = env(
        "PRODUCER_ID", "producer", "the origin (whose quotas and send share) of Python API, CLI and "
        "`send_task` sends; API sends are their key's")
    number_types: NumberTypes = env(
        "NUMBER_TYPES", ("mobile", "fixed_line_or_mobile"), "phonenumbers number types a PIN may go to "
        "(premium-rate, toll-free, VoIP, fixed-line ... are refused unless listed)")
    price_estimates: CountryPrices = env(
        "PRICE_ESTIMATES", ("US=0.01", "CA=0.01", "*=0.1"), "price per SMS counted against the spend cap "
        "until the provider reports the real one")
    key_send_share: Fraction = env(
        "KEY_SEND_SHARE", 0.5, "share of `PINRELAY_RATE_LIMIT` one origin's sends are admitted at "
        "(0 = off)")
    guard_window_s: PosInt = env(
        "GUARD_WINDOW", 3600, "seconds of sends and conversions the prefix guard judges a prefix on")
    guard_grace_s: PosInt | None = env(
        "GUARD_GRACE", None, "seconds a send has to convert before it counts as not converted",
        shown="PINRELAY_PIN_EXPIRY")
    guard_min_sends: PosInt = env(
        "GUARD_MIN_SENDS", 20, "judged sends a prefix needs in the window before it can be blocked")
    guard_min_conversion: Fraction = env(
        "GUARD_MIN_CONVERSION", 0.3, "conversion rate below which a prefix is blocked")
    guard_block_s: PosInt = env("GUARD_BLOCK", 43200, "seconds a prefix stays blocked")
    guard_conversions: GuardConversions = env(
        "GUARD_CONVERSIONS", "verify", "which sends the prefix guard judges: `verify` (verifications and "
        "sends with expect_conversion) or `all`")

    @model_validator(mode="after")
    def _always(self) -> Self:
        """The always-rules (:func:`worker.config.rules.check_always`); Sentinels, primary and CA
        then ride in ``redis_url``, the one string every client is built from."""
        url = rules.check_always(self)
        if url != self.redis_url:
            object.__setattr__(self, "redis_url", url)  # frozen: set once, while being built
        return self

    # --- per-role checks (worker.config.rules): called by the processes that use the settings ---

    def check_for_worker(self) -> None:
        """A worker's retry schedule fits the visibility timeout, which fits the PIN expiry."""
        rules.check_schedule_fits(self)

    def check_for_routes(self) -> None:
        """Each route in ``PINRELAY_ROUTES`` has its settings (``worker.send.routes`` adds templates)."""
        rules.check_route_settings(self)

    def check_provider_credentials(self) -> None:
        """The demo credentials only for a provider on loopback (``worker``, ``up``)."""
        rules.check_provider_credentials(self)

    def require_redis(self) -> Self:
        """These settings, if they name a Redis (the variable or a running ``pinrelay up``)."""
        rules.require_redis(self)
        return self

    # --- derived ---

    @property
    def callback_queue_name(self) -> str:
        """The queue of the tasks that are not provider sends (``PINRELAY_CALLBACK_QUEUE``)."""
        return self.callback_queue or self.queue + c.CALLBACK_QUEUE_SUFFIX

    @property
    def twofa_url(self) -> str:
        return self.api_url + c.TWOFA_PATH

    @property
    def conversion_endpoint(self) -> str:
        return self.conversion_url + c.CONVERSION_PATH

    def with_redis(self, url: str) -> Self:
        """A copy pointing at ``url`` (and at it as broker unless one was set), and only at it:
        configured Sentinels are dropped (they would be folded over ``url``), the CA kept for TLS."""
        ca_file = self.redis_ca_file if is_tls_url(url) else None
        return self.replace(redis_url=url, redis_sentinels=(), redis_sentinel_master=None,
                            redis_ca_file=ca_file)

    @property
    def effective_broker_url(self) -> str:
        """The broker URL as Celery/kombu read it (a Sentinel URL in kombu's `sentinel://` form)."""
        url = self.broker_url or self.redis_url
        if url is None:
            raise rules.no_redis()
        return kombu_broker_url(url)
