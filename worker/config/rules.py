"""Every rule that ties settings together, in one place, each named by what it protects.

Always, whenever settings are built (:meth:`Settings.from_env`, ``replace``), since a process
that holds them would misbehave whatever its role:

* :func:`redis_connection`: half a Sentinel setting, a socket with Sentinels, a CA file with no
  TLS connection; returns ``PINRELAY_REDIS_URL`` with the Sentinels and the CA folded in.
* :func:`verification_outlives_its_code`: with verify on, a record must outlive its code.

Per role, called by the processes that use those settings (so a producer never fails on a
Twilio setting it does not use):

=================================  ===============================  ================================
rule                               protects                         called by
=================================  ===============================  ================================
:func:`check_schedule_fits`        no double send on redelivery     Celery app start, ``doctor``
:func:`check_provider_credentials` no PIN sent on the demo account  ``worker``, ``up``
:func:`check_route_settings`       no route failing at send time    the worker's task registration
:func:`flower_basic_auth`          no open Flower dashboard         ``flower``
:func:`verify_key`                 no verify code without a key     every verify command
:func:`require_redis`              no silent localhost:6379         commands that talk to Redis
=================================  ===============================  ================================

Two checks stay with the code they need: a route's template must fit one SMS
(:mod:`worker.send.routes.templates`, which counts SMS segments), and the receiver refuses
unsigned receipts on a public address (``webhook.serve.check_exposure``: a setting against the
``--host`` option).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from worker import constants as c
from worker.config.types import is_loopback_url
from worker.errors import ConfigError
from worker.redisurl import is_tls_url, sentinel_url, with_ca_file

if TYPE_CHECKING:
    from worker.config.settings import Settings

# The simulator's account: the defaults, so a fresh clone runs the demo; refused for a provider
# anywhere but on this machine (check_provider_credentials).
DEMO_API_KEY: Final = "demo-key"
DEMO_API_SECRET: Final = "demo-secret-0123"  # noqa: S105 - the simulator's public demo secret
FLOWER_PASSWORD_MIN_CHARS: Final = 12

#: route -> the settings it cannot work without, each a tuple of attributes of which one will do
ROUTE_REQUIREMENTS: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "sc2fa": (),
    "sms": (("sms_from",),),
    "twilio": (("twilio_account_sid",), ("twilio_auth_token",),
               ("twilio_from", "twilio_messaging_service_sid"), ("twilio_status_url",)),
    "messages": (("sms_from",),),  # JWT or Basic auth: messages_application below
}


# --- always ---

def redis_connection(s: Settings) -> str | None:
    """``PINRELAY_REDIS_URL`` with the Sentinels, the primary's name and the CA file folded in
    (:mod:`worker.redisurl`): the one string every client is built from. Refused: half a
    Sentinel setting, a socket with Sentinels, a CA for a connection without TLS. Idempotent,
    so a copy (``replace``) or a child's ``from_env(to_env())`` folds nothing twice."""
    url = s.redis_url
    if bool(s.redis_sentinels) != bool(s.redis_sentinel_master):
        raise ConfigError("PINRELAY_REDIS_SENTINELS and PINRELAY_REDIS_SENTINEL_MASTER go together: "
                          "set both or neither")
    if s.redis_sentinels and s.redis_sentinel_master:
        if url and url.startswith("unix:"):
            raise ConfigError("with PINRELAY_REDIS_SENTINELS, PINRELAY_REDIS_URL may give only "
                              "user, password and db (redis://user:password@/0), not a socket")
        url = sentinel_url(url, s.redis_sentinels, s.redis_sentinel_master)
    if s.redis_ca_file:
        if not any(u and is_tls_url(u) for u in (url, s.broker_url)):
            raise ConfigError("PINRELAY_REDIS_CA_FILE is set but neither PINRELAY_REDIS_URL nor "
                              "PINRELAY_BROKER_URL is a rediss:// URL")
        url = url and with_ca_file(url, s.redis_ca_file)
    return url


def verification_outlives_its_code(s: Settings) -> None:
    """A verification whose record expires before its code would vanish while pending."""
    if s.verify_secret and s.record_ttl_s < s.verify_ttl_s:
        raise ConfigError(f"PINRELAY_RECORD_TTL ({s.record_ttl_s}s) must be at least "
                          f"PINRELAY_VERIFY_TTL ({s.verify_ttl_s}s)")


def check_always(s: Settings) -> str | None:
    """Every always-rule; returns the folded Redis URL."""
    verification_outlives_its_code(s)
    return redis_connection(s)


# --- per role ---

def worst_case_schedule_s(s: Settings) -> float:
    """Longest a send can spend in retries: waits plus every attempt timing out."""
    waits = 0.0
    for attempt in range(1, s.max_attempts):
        waits += min(s.backoff_max_s, s.backoff_initial_s * 2**attempt)
    per_call = s.connect_timeout_s + s.read_timeout_s
    return min(waits + s.max_attempts * per_call, s.retry_deadline_s + per_call)


def check_schedule_fits(s: Settings) -> None:
    """Refuse a retry schedule longer than the broker's visibility timeout, or a visibility
    timeout past the PIN's expiry.

    Past the visibility timeout Celery hands an unacknowledged task to another worker while the
    first may still be sending: that is a double PIN. Redelivered after the PIN expired, every
    crash would become expired sends.
    """
    if s.visibility_timeout_s >= s.pin_expiry_s:
        raise ConfigError(
            f"PINRELAY_VISIBILITY_TIMEOUT ({s.visibility_timeout_s}s) must be shorter than "
            f"PINRELAY_PIN_EXPIRY ({s.pin_expiry_s}s): tasks of a crashed worker are "
            "redelivered only after the visibility timeout"
        )
    worst = worst_case_schedule_s(s)
    if worst >= s.visibility_timeout_s:
        raise ConfigError(
            f"the worst-case retry schedule ({worst:.0f}s: PINRELAY_RETRY_DEADLINE, "
            f"PINRELAY_MAX_ATTEMPTS, PINRELAY_BACKOFF_MAX and the HTTP timeouts) must be shorter "
            f"than PINRELAY_VISIBILITY_TIMEOUT ({s.visibility_timeout_s}s)"
        )


def check_provider_credentials(s: Settings) -> None:
    """Refuse the demo credentials unless every provider URL is on loopback: an unset
    ``PINRELAY_API_KEY`` must not quietly become the simulator's account and send every PIN
    into a 401 at the real provider."""
    basic_messages = "messages" in s.routes and not s.vonage_application_id
    if not {"sc2fa", "sms"} & set(s.routes) and not basic_messages:
        return  # no route sends the key (twilio has its own account, messages its application)
    urls = [("PINRELAY_API_URL", s.api_url), ("PINRELAY_CONVERSION_URL", s.conversion_url)]
    if basic_messages:
        urls.append(("PINRELAY_MESSAGES_URL", s.messages_url))
    remote = [f"{name}={url}" for name, url in urls if not is_loopback_url(url)]
    demo = [name for name, value, demo in (("PINRELAY_API_KEY", s.api_key, DEMO_API_KEY),
                                           ("PINRELAY_API_SECRET", s.api_secret, DEMO_API_SECRET))
            if value == demo]
    if remote and demo:
        raise ConfigError(
            f"{' and '.join(demo)} unset (or the simulator's demo values) while "
            f"{remote[0]} is not on loopback: set PINRELAY_API_KEY and PINRELAY_API_SECRET "
            "to your provider account's credentials"
        )


def check_route_settings(s: Settings) -> None:
    """Each route in ``PINRELAY_ROUTES`` has its settings; the error names the first missing."""
    names = s.env_meta()
    for route in s.routes:
        for group in ROUTE_REQUIREMENTS[route]:
            if not any(getattr(s, attr) for attr in group):
                needed = " or ".join(names[attr].name for attr in group)
                raise ConfigError(f"PINRELAY_ROUTES includes {route}, which needs {needed}")
    if "messages" in s.routes:
        messages_application(s)


def messages_application(s: Settings) -> None:
    """The ``messages`` route signs its JWTs as an application: the id and the private key go
    together, and the key file must be readable (its content is checked by the route, which
    loads it: :mod:`worker.send.routes.messages`). Neither: Basic auth with the API key."""
    app, key = s.vonage_application_id, s.vonage_private_key
    if bool(app) != bool(key):
        raise ConfigError("PINRELAY_VONAGE_APPLICATION_ID and PINRELAY_VONAGE_PRIVATE_KEY go together: "
                          "set both (JWT auth) or neither (Basic auth with PINRELAY_API_KEY)")
    if key and not (os.path.isfile(key) and os.access(key, os.R_OK)):
        raise ConfigError(f"PINRELAY_VONAGE_PRIVATE_KEY={key!r} is not a readable file")


def flower_basic_auth(s: Settings) -> str:
    """``user:password`` for Flower's basic auth; both must be set, and the password long."""
    user, password = s.flower_user, s.flower_password
    if not user or not password:
        raise ConfigError(
            "Flower needs basic auth: set PINRELAY_FLOWER_USER and PINRELAY_FLOWER_PASSWORD "
            "(or pass --insecure-dev for a loopback-only dashboard without a password)"
        )
    if ":" in user:
        raise ConfigError(f"PINRELAY_FLOWER_USER={user!r} must not contain ':'")
    if len(password) < FLOWER_PASSWORD_MIN_CHARS:
        raise ConfigError(f"PINRELAY_FLOWER_PASSWORD must have at least {FLOWER_PASSWORD_MIN_CHARS} "
                          "characters")
    return f"{user}:{password}"


def verify_key(secret: str | None) -> bytes:
    """The verify HMAC key, or a :class:`ConfigError` when it is unset or too short."""
    if not secret:
        raise ConfigError("PINRELAY_VERIFY_SECRET is not set: every verify command needs it "
                          f"(at least {c.VERIFY_SECRET_MIN_CHARS} characters)")
    if len(secret) < c.VERIFY_SECRET_MIN_CHARS:
        raise ConfigError(f"PINRELAY_VERIFY_SECRET must be at least {c.VERIFY_SECRET_MIN_CHARS} "
                          f"characters (got {len(secret)})")
    return secret.encode("utf-8")


def no_redis() -> ConfigError:
    return ConfigError("no Redis: set PINRELAY_REDIS_URL or start `pinrelay up` (it starts a private "
                       "Redis that other pinrelay commands find)")


def require_redis(s: Settings) -> None:
    """Refuse settings that name no Redis (neither ``PINRELAY_REDIS_URL`` nor a running ``pinrelay up``)."""
    if not s.redis_url:
        raise no_redis()
