"""SimConfig: every knob of the simulator, its default and its unit, in one frozen object.

The simulator holds one SimConfig and swaps it whole on :meth:`SimConfig.with_knobs`,
so a request handler always sees a consistent set of knobs (no locking on the
hot path). Knobs arrive from Python, from the CLI and as JSON over
``POST /_sim/config``; :meth:`with_knobs` coerces JSON lists to tuples/sets and
refuses unknown names, so a typo in a test fails loudly instead of being ignored.

``script`` is the fault script *loaded by the last configure*; the simulator
consumes its own copy, and ``GET /_sim/stats`` shows what is left of it.

Routes: the top-level fault and receipt knobs are every route's defaults;
``routes`` overrides some of them for one route (``sc2fa``, ``sms``,
``twilio``, ``messages``; which knobs: ``knobs.ROUTE_KNOBS``), and :meth:`SimConfig.for_route`
is what that route's requests see. Each route consumes its own copy of its script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Final

from worker.signing import METHODS

from . import faults, knobs
from .errors import SimConfigError
from .messages.keys import load_public_key
from .receipts import mix

TRANSPORTS: Final = ("get", "form", "json", "mixed")
DEFAULT_API_KEY: Final = "demo-key"
DEFAULT_API_SECRET: Final = "demo-secret-0123"  # noqa: S105 - the simulator's public demo secret
DEFAULT_TWILIO_ACCOUNT_SID: Final = "AC00000000000000000000000000000001"
DEFAULT_TWILIO_AUTH_TOKEN: Final = "test_auth_token_0123456789abcdef"  # noqa: S105 - public demo token
DEFAULT_TWILIO_FROM: Final = "+12015550123"
DEFAULT_MESSAGING_SERVICE_SID: Final = "MG00000000000000000000000000000003"
DEFAULT_TWILIO_SIGNING_KEY_SID: Final = "webhooks_sharedkey_00000000000000000000000000000004"
TWILIO_ALGORITHMS: Final = ("HMAC_SHA1", "HMAC_SHA256")  # X-Twilio-Webhooks-Signature-Settings
DEFAULT_APPLICATION_ID: Final = "00000000-0000-4000-8000-000000000005"  # the Messages API demo app
SMS_MESSAGE_ID_STYLES: Final = ("uuid", "hex")
_SECRETS: Final = ("api_secret", "signature_secret", "twilio_auth_token", "twilio_api_key_secret",
                   "twilio_signing_key", "control_token")


@dataclass(frozen=True)
class SimConfig:
    """Knobs; times in seconds unless the name says ms, rates as fractions 0..1."""

    # --- accounts and the 2FA checks -----------------------------------------
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)
    #: signs receipts (and checks inbound ``sig``) when non-empty
    signature_secret: str = field(default="", repr=False)
    signature_method: str = "md5hash"
    barred: frozenset[str] = frozenset()  # numbers answered with status 7
    #: number (digits, no '+') -> a fault spec answered to every send to it, on every route, before
    #: the script: {"16365550100": "status:21612"} is one number Twilio cannot route
    number_faults: dict[str, str] = field(default_factory=dict)
    opted_out: frozenset[str] = frozenset()  # numbers answered with status 102
    message_price: str = "0.03330000"  # EUR, also the DLR price
    balance: str = "100000.00000000"  # EUR, decremented per accepted send
    network: str = "310004"  # MCCMNC in the response and the DLR
    short_code: str = "98765"  # the DLR ``to``

    # --- the SMS API route (/sms/json) ---------------------------------------
    sms_message_ids: str = "uuid"  # uuid (as the v4 SDK fixtures) | hex (16 chars, as 2FA)
    sms_partial_failure: bool = False  # the last part of a multi-part text is refused (status 1)

    # --- the Twilio route (/2010-04-01/Accounts/{sid}/Messages.json) ----------
    twilio_account_sid: str = DEFAULT_TWILIO_ACCOUNT_SID
    twilio_auth_token: str = field(default=DEFAULT_TWILIO_AUTH_TOKEN, repr=False)  # signs callbacks too
    twilio_api_key_sid: str = ""  # SK...: an API key as the Basic-auth user (off when empty)
    twilio_api_key_secret: str = field(default="", repr=False)
    twilio_numbers: frozenset[str] = frozenset({DEFAULT_TWILIO_FROM})  # the From values owned (21606)
    twilio_messaging_service_sid: str = DEFAULT_MESSAGING_SERVICE_SID
    twilio_status_url: str = ""  # the Messaging Service's callback URL, used without StatusCallback
    twilio_callback_retries: int = 1  # retries of a failed status callback (Twilio's rc default)
    #: a SharedKey secret: callbacks are then signed with it and ``twilio_signing_algorithm``, and carry
    #: ``X-Twilio-Webhooks-Signature-Settings: key=<sid>,algorithm=<alg>`` (docs/provider-routes.md §B.5)
    twilio_signing_key: str = field(default="", repr=False)
    twilio_signing_key_sid: str = DEFAULT_TWILIO_SIGNING_KEY_SID
    twilio_signing_algorithm: str = "HMAC_SHA256"  # HMAC_SHA1 | HMAC_SHA256
    #: extra callback params, name -> values; a name with two or more values is sent repeated
    twilio_callback_params: dict[str, Any] = field(default_factory=dict)

    # --- the Messages API route (POST /v1/messages, channel sms) ----------------
    vonage_application_id: str = DEFAULT_APPLICATION_ID  # the JWT's ``application_id`` claim
    #: PEM public key of the application (verifies RS256 JWTs); empty: a demo key pair made on first use
    vonage_public_key: str = field(default="", repr=False)
    #: where status webhooks go unless a request names a ``webhook_url``; empty: ``dlr_url``'s origin
    #: plus ``/messages-status-webhook`` (none when ``dlr_url`` is empty too)
    messages_status_url: str = ""

    # --- faults (every route's defaults; ``routes`` overrides per route) -------
    latency_ms: float = 0.0  # added before every answer
    script: tuple[str, ...] = ()  # upcoming answers, see faults.py
    error_rates: dict[str, float] = field(default_factory=dict)  # fault spec -> probability
    throttle_wait_ms: int = 200  # N in the status-1 text for scripted/random throttling
    rate_limit_per_s: float = 0.0  # sliding 1 s window; 0 = unlimited

    # --- conversions ------------------------------------------------------------
    conversion_script: tuple[int, ...] = ()  # forced HTTP statuses for the next calls
    conversion_signing_required: bool = False  # refuse (401) a conversion call without ``sig``

    # --- receipts (DLRs) ----------------------------------------------------------
    dlr_url: str = ""  # no receipts when empty
    dlr_delay_s: float = 0.2  # from the accepted send to the first DLR
    dlr_jitter_s: float = 0.0  # uniform 0..jitter added to the delay
    dlr_gap_s: float = 0.05  # between chained DLRs (intermediate/final/duplicate)
    dlr_mix: dict[str, float] = field(default_factory=lambda: dict(mix.DEFAULT_MIX))
    dlr_intermediate: bool = False  # an ``accepted`` DLR before the final one
    dlr_transport: str = "get"  # get | form | json | mixed (random per receipt)
    duplicate_rate: float = 0.0  # chance the final DLR is pushed twice
    out_of_order: bool = False  # the final DLR goes before the intermediate
    receipt_before_response: bool = False  # DLRs are answered before the 2FA response
    dlr_retry_initial_s: float = 5.0
    dlr_retry_max_s: float = 900.0
    dlr_retry_window_s: float = 86400.0  # give up this long after the first attempt
    dlr_retry_4xx: bool = True  # retry on 4xx too (only 200-205 is success)
    #: sign every retry afresh (new timestamp/nonce/sig, new JWT); False re-sends the first push's
    #: signed payload and headers unchanged, as a provider that stores the signed request would
    dlr_resign_retries: bool = True
    dlr_connect_timeout_s: float = 2.0
    dlr_read_timeout_s: float = 5.0
    dlr_senders: int = 4  # sender threads; read at start only

    # --- per route ------------------------------------------------------------------
    #: route -> knob overrides, e.g. {"twilio": {"error_rates": {"auth": 1.0}}}
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- bookkeeping ---------------------------------------------------------------
    record_limit: int = 200_000  # newest requests kept for /_sim/requests
    seed: int | None = None  # random seed for mixes, jitter and error rates
    #: when set, every /_sim/* endpoint but /_sim/health needs ``Authorization: Bearer <token>``
    control_token: str = field(default="", repr=False)

    _per_route: ClassVar[Mapping[str, SimConfig]]  # set per instance in __post_init__

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise SimConfigError("api_key and api_secret must be non-empty")
        if self.signature_method not in METHODS:
            raise SimConfigError(f"signature_method {self.signature_method!r}: use one of {METHODS}")
        if self.dlr_transport not in TRANSPORTS:
            raise SimConfigError(f"dlr_transport {self.dlr_transport!r}: use one of {TRANSPORTS}")
        for name in ("dlr_url", "twilio_status_url", "messages_status_url"):
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                raise SimConfigError(f"{name} {url!r}: must be an http(s) URL")
        if self.sms_message_ids not in SMS_MESSAGE_ID_STYLES:
            raise SimConfigError(
                f"sms_message_ids {self.sms_message_ids!r}: use one of {SMS_MESSAGE_ID_STYLES}"
            )
        self._check_twilio_and_messages()
        faults.expand(self.script)
        object.__setattr__(self, "number_faults", faults.check_number_faults(self.number_faults))
        object.__setattr__(self, "error_rates", faults.check_rates(self.error_rates))
        object.__setattr__(self, "dlr_mix", mix.check_mix(self.dlr_mix))
        for name in ("duplicate_rate",):
            if not 0 <= getattr(self, name) <= 1:
                raise SimConfigError(f"{name} = {getattr(self, name)!r}: must be 0..1")
        for status in self.conversion_script:
            if not 100 <= status <= 599:
                raise SimConfigError(f"conversion_script entry {status!r}: must be 100..599")
        self._check_non_negative()
        self._build_routes()

    def _check_twilio_and_messages(self) -> None:
        if not self.twilio_account_sid or not self.twilio_auth_token:
            raise SimConfigError("twilio_account_sid and twilio_auth_token must be non-empty")
        if self.twilio_signing_algorithm not in TWILIO_ALGORITHMS:
            raise SimConfigError(
                f"twilio_signing_algorithm {self.twilio_signing_algorithm!r}: use one of {TWILIO_ALGORITHMS}"
            )
        object.__setattr__(self, "twilio_callback_params", knobs.param_lists(self.twilio_callback_params))
        if self.vonage_public_key:
            load_public_key(self.vonage_public_key)  # a bad key is refused now, not at the first JWT

    def _build_routes(self) -> None:
        """Check ``routes`` and keep one SimConfig per overridden route (validated like any other)."""
        routes = knobs.coerce_routes(self.routes, _coerce)
        object.__setattr__(self, "routes", routes)
        per_route = {route: replace(self, routes={}, **overrides) for route, overrides in routes.items()}
        object.__setattr__(self, "_per_route", per_route)

    def for_route(self, route: str) -> SimConfig:
        """The knobs a request on ``route`` sees: these, with that route's overrides applied."""
        return self._per_route.get(route, self)

    def with_route_knobs(self, route: str, **overrides: Any) -> SimConfig:
        """A copy where ``route`` also overrides ``overrides`` (merged into what it had)."""
        route = knobs.check_route(route)
        merged = {**self.routes.get(route, {}), **knobs.route_knobs(overrides, _coerce)}
        return replace(self, routes={**self.routes, route: merged})

    def _check_non_negative(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise SimConfigError(f"{f.name} = {value!r}: must be >= 0")
        if self.dlr_senders < 1 or self.dlr_retry_initial_s <= 0:
            raise SimConfigError("dlr_senders must be >= 1 and dlr_retry_initial_s > 0")

    @property
    def signs_receipts(self) -> bool:
        return bool(self.signature_secret)

    def with_knobs(self, **knobs: Any) -> SimConfig:
        """A copy with ``knobs`` applied, coerced from JSON-ish values and validated."""
        return replace(self, **{name: _coerce(name, value) for name, value in knobs.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able knobs, secrets masked."""
        data = asdict(self)
        for name in _SECRETS:
            data[name] = "***" if data[name] else ""
        data["routes"] = self.routes
        result: dict[str, Any] = knobs.jsonable(data)
        return result


def _default(name: str) -> Any:
    for f in fields(SimConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise SimConfigError(f"unknown knob {name!r}; known: {', '.join(KNOB_NAMES)}")


def _coerce(name: str, value: Any) -> Any:
    """Turn a JSON/CLI value into the knob's type, or raise naming the knob."""
    default = _default(name)
    if name == "routes":
        return knobs.coerce_routes(value, _coerce)
    return knobs.coerce(name, value, default)


KNOB_NAMES: Final = tuple(f.name for f in fields(SimConfig))
