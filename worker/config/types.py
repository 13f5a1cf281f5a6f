"""The value types of the settings, and :func:`env`, which declares one variable.

Each type is a pydantic ``Annotated`` type: its bound or check, and the phrase a bad value is
told (``PINRELAY_MAX_ATTEMPTS='0' must be a positive whole number``), so the table in
:mod:`worker.config.settings` reads as name, type, default and doc only. Two markers carry
what pydantic has no word for: :class:`Says` replaces pydantic's wording of any error with
ours, and :class:`OneOf` is a choice that the README's table also lists. Environment values
arrive as strings (blank already dropped by the source): lists are split on commas here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, GetCoreSchemaHandler
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from worker import constants as c
from worker.redisurl import SENTINEL_SCHEMES

__all__ = ["EnvMeta", "env", "Says", "OneOf", "redact_url", "is_loopback_url", "ROUTE_NAMES",
           "supabase_secrets", "items"]

# PINRELAY_ROUTES; worker/send/routes/
ROUTE_NAMES: Final[tuple[str, ...]] = ("sc2fa", "sms", "twilio", "messages")


@dataclass(frozen=True, slots=True)
class EnvMeta:
    """What a field's declaration adds to pydantic's: its variable and how it is shown.

    ``shown`` is how the README spells a default that is not a literal (or a ``None`` that
    means something); ``secret`` hides the value in repr and summary and hands it to the log
    redactor; ``redact`` masks the password of a URL.
    """

    suffix: str
    shown: str | None = None
    secret: bool = False
    redact: bool = False

    @property
    def name(self) -> str:
        return f"PINRELAY_{self.suffix}"

    @classmethod
    def of(cls, field: FieldInfo) -> EnvMeta | None:
        """The variable of a field declared with :func:`env`; None for any other field."""
        extra, alias = field.json_schema_extra, field.validation_alias
        if not isinstance(extra, dict) or not isinstance(alias, str) or not alias.startswith("PINRELAY_"):
            return None
        shown = extra.get("shown")
        return cls(alias.removeprefix("PINRELAY_"), shown if isinstance(shown, str) else None,
                   extra.get("secret") is True, extra.get("redact") is True)


def env(suffix: str, default: Any, doc: str, *, shown: str | None = None, secret: bool = False,
        redact: bool = False, factory: Any = None) -> Any:
    """A field read from ``PINRELAY_<suffix>`` (also settable by its attribute name); the
    display flags travel in the JSON schema, where :meth:`EnvMeta.of` finds them."""
    name = f"PINRELAY_{suffix}"
    extra: dict[str, Any] = {"secret": secret, "redact": redact, **({"shown": shown} if shown else {})}
    if factory is not None:
        return Field(default_factory=factory, validation_alias=name, description=doc, json_schema_extra=extra)
    return Field(default, validation_alias=name, description=doc, json_schema_extra=extra)


@dataclass(frozen=True, slots=True)
class Says:
    """Any error of the type it annotates reads ``<phrase>`` (pydantic's own words are for
    programmers: "Input should be greater than 0")."""

    phrase: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        phrase = self.phrase

        def reword(value: Any, inner: core_schema.ValidatorFunctionWrapHandler) -> Any:
            try:
                return inner(value)
            except ValueError:  # pydantic_core.ValidationError is one
                raise PydanticCustomError("pinrelay", phrase) from None

        return core_schema.no_info_wrap_validator_function(reword, handler(source))


@dataclass(frozen=True, slots=True)
class OneOf:
    """A choice among ``options`` (compared lower-case); ``text`` names them in the error."""

    options: tuple[str, ...]
    text: str = ""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def choose(value: str) -> str:
            if value.lower() not in self.options:
                allowed = self.text or f"one of {', '.join(self.options)}"
                raise PydanticCustomError("pinrelay", f"is not {allowed}")
            return value.lower()

        return core_schema.no_info_after_validator_function(choose, handler(source))


def items(value: Any) -> Any:
    """``a, b,c`` -> ``("a", "b", "c")``; a list or tuple given in Python is kept as it is."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value) if isinstance(value, list) else value


def _regions(codes: tuple[str, ...]) -> tuple[str, ...]:
    codes = tuple(code.upper() for code in codes)
    if not codes or any(len(code) != 2 or not code.isalpha() for code in codes):
        raise ValueError("must be ISO country codes such as US,CA")
    return codes


def _host_ports(value: Any) -> Any:
    entries = items(value)
    if isinstance(value, str) and not entries:
        raise ValueError("must name at least one host:port")
    for item in entries:
        host, colon, port = item.rpartition(":")
        bare = host.removeprefix("[").removesuffix("]")
        if not colon or not bare or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port pairs such as 10.0.0.5:26379,10.0.0.6:26379")
    return entries


def _routes(items: tuple[str, ...]) -> tuple[str, ...]:
    """Known route names, in order, each once: the order is the failover order."""
    names = tuple(item.lower() for item in items)
    if not names or not set(names) <= set(ROUTE_NAMES) or len(set(names)) != len(names):
        raise ValueError(f"must list routes once each, from {', '.join(ROUTE_NAMES)}")
    return names


def _url(schemes: tuple[str, ...]) -> AfterValidator:
    """A URL whose scheme is one of ``schemes``; HTTP ones lose a trailing slash, since
    endpoint paths are appended to them."""

    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ValueError(f"is not a URL with scheme {'/'.join(schemes)}")
        return value.rstrip("/") if parts.scheme.startswith("http") else value

    return AfterValidator(check)


def _readable_file(value: str) -> str:
    """A CA bundle must be readable now: a typo fails at start-up, not at the first TLS handshake."""
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ValueError("is not a readable file")
    return value


def _long_secret(value: str) -> str:
    """HMAC keys (verify codes, callbacks): a short key would be the weak part."""
    if len(value) < c.VERIFY_SECRET_MIN_CHARS:
        raise ValueError(f"must be at least {c.VERIFY_SECRET_MIN_CHARS} characters (got {len(value)})")
    return value


# Supabase's own check of a hook secret (internal/conf/configuration.go symmetricSecretFormat),
# with the `v1,` optional: the base64 of the key after `whsec_`.
_SUPABASE_SECRET: Final = re.compile(r"(?:v1,)?whsec_([A-Za-z0-9+/=]{32,88})")
SUPABASE_SECRETS_MAX: Final = 8


def supabase_secrets(value: str) -> tuple[str, ...]:
    """``v1,whsec_A|v1,whsec_B`` as Supabase shows them (several, `|`-separated, during a rotation)
    -> ``("whsec_A", "whsec_B")``, what ``standardwebhooks.Webhook`` takes: given the ``v1,`` too,
    it silently decodes a wrong key and nothing ever verifies."""
    parts = [part.strip() for part in value.split("|") if part.strip()]
    if not 1 <= len(parts) <= SUPABASE_SECRETS_MAX:
        raise ValueError(f"must be 1-{SUPABASE_SECRETS_MAX} Supabase hook secrets separated by |")
    keys = []
    for part in parts:
        found = _SUPABASE_SECRET.fullmatch(part)
        if found is None:
            raise ValueError("must be Supabase's hook secrets as its dashboard shows them, "
                             "v1,whsec_<base64> (32-88 base64 characters), several separated by |")
        keys.append("whsec_" + found[1])
    return tuple(keys)


def _supabase_secret(value: str) -> str:
    supabase_secrets(value)
    return value


def _hook_key(value: str) -> str:
    if len(value) < c.HOOK_SIGNING_KEY_MIN_CHARS:
        raise ValueError(f"must be at least {c.HOOK_SIGNING_KEY_MIN_CHARS} characters (got {len(value)})")
    return value


def _code_pattern(value: str) -> str:
    """A regular expression that finds a code: it compiles (ASCII classes), has at most one group
    (the code, else the whole match) and cannot match an empty text."""
    try:
        pattern = re.compile(value, re.ASCII)
    except re.error as exc:
        raise ValueError(f"is not a regular expression: {exc}") from None
    if pattern.groups > 1:
        raise ValueError("may have at most one group (the code)")
    if pattern.search("") is not None:
        raise ValueError("must not match an empty text")
    return value
_DOMAIN_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_APP_HASH: Final = re.compile(r"[A-Za-z0-9+/]{11}")


def _otp_domain(value: str) -> str:
    """The site an origin-bound code is for (``@example.com #123456``): a host name, no scheme,
    port or path; lower-cased, as browsers compare it."""
    host = value.strip().lower().rstrip(".")
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a host name such as example.com (no scheme, port or path)")
    return host


def _app_hash(value: str) -> str:
    """The SMS Retriever API's app hash: 11 characters of base64 (Google's AppSignatureHelper)."""
    if not _APP_HASH.fullmatch(value.strip()):
        raise ValueError("must be the 11-character app hash (letters, digits, + and /)")
    return value.strip()


def _metrics_place(value: str) -> str:
    """``on``, ``off`` or a TCP port: where the receiver serves ``/metrics``."""
    lowered = value.lower()
    if lowered in c.WEBHOOK_METRICS_CHOICES or (lowered.isdigit() and 0 < int(lowered) < 65536):
        return lowered
    raise ValueError("must be on, off or a port number")


_REDIS_SCHEMES: Final = ("redis", "rediss", "unix", *SENTINEL_SCHEMES)  # Sentinel: see worker.redisurl
_POOLS: Final = ("prefork", "threads", "solo", "gevent", "eventlet")

# --- numbers: counts, sizes and TTLs (positive), limits where 0 means off, timeouts, shares ---
PosInt = Annotated[int, Field(gt=0), Says("must be a positive whole number")]
NonNegInt = Annotated[int, Field(ge=0), Says("must be zero or a positive whole number")]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False), Says("must be a positive number")]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False), Says("must be zero or positive")]
Fraction = Annotated[float, Field(ge=0, le=1), Says("must be between 0 and 1")]
VerifyLength = Annotated[int, Field(ge=c.VERIFY_MIN_LENGTH, le=c.VERIFY_MAX_LENGTH),
                         Says(f"must be a whole number from {c.VERIFY_MIN_LENGTH} to {c.VERIFY_MAX_LENGTH}")]
VerifyTtl = Annotated[int, Field(ge=1, le=c.VERIFY_MAX_TTL_S),
                      Says(f"must be a whole number from 1 to {c.VERIFY_MAX_TTL_S}")]
Flag = Annotated[bool, Says("must be true or false")]  # 1/0, true/false, yes/no, on/off
# --- text ---
Upper = Annotated[str, AfterValidator(str.upper)]  # log levels, as the logging module spells them
LongSecret = Annotated[str, AfterValidator(_long_secret)]
MetricsPlace = Annotated[str, AfterValidator(_metrics_place)]
SupabaseSecret = Annotated[str, AfterValidator(_supabase_secret)]
HookKey = Annotated[str, AfterValidator(_hook_key)]
CodePattern = Annotated[str, AfterValidator(_code_pattern)]
OtpDomain = Annotated[str, AfterValidator(_otp_domain)]
AppHash = Annotated[str, AfterValidator(_app_hash)]
ReadableFile = Annotated[str, AfterValidator(_readable_file)]
SignatureMethod = Annotated[str, OneOf(c.SIGNATURE_METHODS)]
Pool = Annotated[str, OneOf(_POOLS, "a Celery pool")]
LogFormat = Annotated[str, OneOf(("json", "console"), "json or console")]
GuardMode = Annotated[str, OneOf(("enforce", "monitor", "off"))]
# --- URLs ---
RedisUrl = Annotated[str, _url(_REDIS_SCHEMES)]
BrokerUrl = Annotated[str, _url((*_REDIS_SCHEMES, "amqp", "amqps", "pyamqp"))]
HttpUrl = Annotated[str, _url(("http", "https"))]
# --- lists, comma-separated in the environment ---
Regions = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_regions)]
HostPorts = Annotated[tuple[str, ...], BeforeValidator(_host_ports)]
Routes = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_routes)]
GuardConversions = Annotated[str, OneOf(("verify", "all"))]
OriginName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
                       Says("must be 1-64 letters, digits, '_', '.' or '-'")]


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs, reprs and error messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all (an unclosed IPv6 bracket): nothing to find in it
        return url
    if password:
        return parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@")).geturl()
    return url


def is_loopback_url(url: str) -> bool:
    """True for a URL whose host is on this machine: 127.0.0.0/8, ``::1`` or ``localhost``."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
