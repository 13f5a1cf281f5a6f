"""The features' settings: verify, hostile-input bounds, doctor, the HTTP API, provider routes.

Between :class:`worker.settings_core.CoreSettings` and :class:`worker.config.Settings`, so the
field order (and the README table) stays: the send loop first, the features after.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from worker import constants as c
from worker.envparse import (
    flag,
    http_url,
    lower,
    nonempty,
    nonneg_float,
    pos_float,
    pos_int,
    setting,
)
from worker.errors import ConfigError

# redact_url lived here first; callers may still import it from worker.config.
from worker.settings_core import CoreSettings


def _metrics_place(name: str, value: str) -> str:
    """``on``, ``off`` or a TCP port: where the receiver serves ``/metrics``."""
    lowered = value.lower()
    if lowered in c.WEBHOOK_METRICS_CHOICES or (lowered.isdigit() and 0 < int(lowered) < 65536):
        return lowered
    raise ConfigError(f"{name}={value!r} must be on, off or a port number")


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
                          f"(got {len(value)})")
    return value


_verify_length = partial(_int_between, low=c.VERIFY_MIN_LENGTH, high=c.VERIFY_MAX_LENGTH)
_verify_ttl = partial(_int_between, low=1, high=c.VERIFY_MAX_TTL_S)


@dataclass(frozen=True, slots=True)
class FeatureSettings(CoreSettings):
    """The variables of the features built on the send loop."""

    # --- verify (worker/verify/) ---
    verify_secret: str | None = setting(
        "VERIFY_SECRET", _verify_secret, "HMAC-SHA256 key of the verification codes (≥ 32 "
        "characters)", default=None, shown="unset (every `verify` command refused)", secret=True)
    verify_length: int = setting(
        "VERIFY_LENGTH", _verify_length, "digits of a verification code (6-10)",
        default=c.DEFAULT_VERIFY_LENGTH)
    verify_ttl_s: int = setting(
        "VERIFY_TTL", _verify_ttl, "seconds a verification code is valid (at most 600)",
        default=c.DEFAULT_VERIFY_TTL_S)
    verify_max_attempts: int = setting(
        "VERIFY_MAX_ATTEMPTS", pos_int, "wrong codes before a verification is `locked` (resends "
        "never reset it)", default=c.DEFAULT_VERIFY_MAX_ATTEMPTS)
    verify_max_sends: int = setting(
        "VERIFY_MAX_SENDS", pos_int, "sends (first + resends) per verification",
        default=c.DEFAULT_VERIFY_MAX_SENDS)
    # --- hostile input and bounds ---
    webhook_body_timeout_s: float = setting("WEBHOOK_BODY_TIMEOUT", pos_float, "seconds a receipt's "
        "body may take to arrive (then 408)", default=c.DEFAULT_WEBHOOK_BODY_TIMEOUT_S)
    webhook_threads: int = setting("WEBHOOK_THREADS", pos_int, "no longer used: the receiver runs as a "
        "coroutine under granian (one writer thread per worker); still accepted",
        default=c.DEFAULT_WEBHOOK_THREADS)
    webhook_metrics: str = setting("WEBHOOK_METRICS", _metrics_place, "the receiver's `/metrics`: `on`, "
        "`off`, or a port number to serve it on instead of the receipt port", default="on")
    webhook_backlog_max: int = setting("WEBHOOK_BACKLOG_MAX", pos_int, "receipts waiting on the stream "
        "beyond which the receiver answers 503", default=c.DEFAULT_WEBHOOK_BACKLOG_MAX)
    dead_letter_cap: int = setting("DEAD_LETTER_CAP", pos_int, "entries kept per dead-letter kind "
        "(sends, receipts, tasks); the oldest go first", default=c.DEFAULT_DEAD_LETTER_CAP)
    parked_max: int = setting("PARKED_MAX", pos_int, "message-ids whose early receipts wait for their "
        "send; beyond it the oldest go to dead letters", default=c.DEFAULT_PARKED_MAX)
    # --- doctor ---
    public_webhook_url: str | None = setting(
        "PUBLIC_WEBHOOK_URL", http_url, "the receipt URL the provider is given; `pinrelay doctor` "
        "checks the receiver answers there", default=None, shown="unset (not checked)")
    # --- HTTP API ---
    api_rate_per_key: float = setting(
        "API_RATE_PER_KEY", nonneg_float, "HTTP API requests/s per key, across all API processes (0 = off)",
        default=c.DEFAULT_API_RATE_PER_KEY)
    api_body_limit_bytes: int = setting(
        "API_BODY_LIMIT", pos_int, "HTTP API body limit, bytes", default=c.DEFAULT_API_BODY_LIMIT_BYTES)
    callback_secret: str | None = setting(
        "CALLBACK_SECRET", _verify_secret, "signs outcome callbacks (≥ 32 characters)", default=None,
        shown="unset (`callback_url` is refused)", secret=True)
    callback_retry_deadline_s: float = setting(
        "CALLBACK_RETRY_DEADLINE", pos_float, "seconds a refused or unanswered callback is retried",
        default=c.DEFAULT_CALLBACK_RETRY_DEADLINE_S)
    callback_allow_private: bool = setting(
        "CALLBACK_ALLOW_PRIVATE", flag, "allow callback hosts on loopback, private or link-local "
        "addresses (otherwise refused: server-side request forgery)", default=False)
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
        choices=c.SIGNATURE_METHODS)
