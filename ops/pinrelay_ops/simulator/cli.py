"""Command-line glue: ``pinrelay sim`` and ``python -m pinrelay_ops.simulator`` share these two functions.

:func:`add_arguments` declares the options, :func:`run` serves in the
foreground until SIGINT/SIGTERM and prints one line with the URL on start.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
from typing import Any

from worker.constants import DEFAULT_SIM_PORT
from worker.signing import METHODS

from .config import TRANSPORTS, TWILIO_ALGORITHMS, SimConfig
from .errors import SimConfigError
from .messages.keys import load_public_key
from .receipts.mix import parse_mix
from .simulator import Simulator

CONTROL_TOKEN_ENV = "PINRELAY_SIM_CONTROL_TOKEN"  # noqa: S105 - the variable's name, not a token
# The secrets' defaults come from pinrelay's own variables, so a deployment (compose's `sim`) passes
# them in the environment, never on the command line, where `ps` shows them to every local user.
SECRET_ENV = {"api_key": "PINRELAY_API_KEY", "api_secret": "PINRELAY_API_SECRET",
              "signature_secret": "PINRELAY_SIGNATURE_SECRET",
              "signature_method": "PINRELAY_SIGNATURE_METHOD",
              "twilio_auth_token": "PINRELAY_TWILIO_AUTH_TOKEN"}


def _from_env(knob: str, default: str) -> str:
    return os.environ.get(SECRET_ENV[knob]) or default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, grouped; every one maps onto a SimConfig knob."""
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=DEFAULT_SIM_PORT, help="port (default %(default)s)")
    net.add_argument(
        "--control-token", default=os.environ.get(CONTROL_TOKEN_ENV, ""), metavar="TOKEN",
        help=f"/_sim/* then need 'Authorization: Bearer TOKEN'; required off loopback (default "
        f"${CONTROL_TOKEN_ENV}, which keeps it out of `ps`)",
    )
    acct = parser.add_argument_group("account and checks")
    acct.add_argument("--api-key", default=_from_env("api_key", SimConfig.api_key),
                      help="the one accepted API key (default $PINRELAY_API_KEY, else the demo key)")
    acct.add_argument("--api-secret", default=_from_env("api_secret", SimConfig.api_secret),
                      help="its secret (default $PINRELAY_API_SECRET, which keeps it out of `ps`)")
    acct.add_argument("--barred", action="append", default=[], metavar="MSISDN", help="status 7")
    acct.add_argument("--opted-out", action="append", default=[], metavar="MSISDN", help="status 102")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="added to every 2FA answer")
    faults.add_argument("--rate-limit", type=float, default=0.0, help="2FA requests/s (0 = none)")
    faults.add_argument(
        "--script", action="append", default=[], metavar="SPEC", help="next answers, e.g. http:503*2"
    )
    faults.add_argument(
        "--error-rate", action="append", default=[], metavar="SPEC=P", help="e.g. status:5=0.01"
    )
    dlr = parser.add_argument_group("delivery receipts")
    dlr.add_argument("--dlr-url", default="", help="where DLRs go (none when empty)")
    dlr.add_argument("--dlr-delay", type=float, default=0.2, help="seconds to the first DLR")
    dlr.add_argument("--dlr-jitter", type=float, default=0.0, help="random extra delay, seconds")
    dlr.add_argument("--mix", default="", help="e.g. delivered=90,failed=5,expired=3,rejected=1,accepted=1")
    dlr.add_argument("--transport", choices=TRANSPORTS, default="get", help="how DLRs are sent")
    dlr.add_argument("--intermediate", action="store_true", help="an 'accepted' DLR first")
    dlr.add_argument("--signature-secret", default=_from_env("signature_secret", ""),
                     help="sign DLRs, and Messages API webhooks (HS256 JWT), with this secret (default "
                     "$PINRELAY_SIGNATURE_SECRET, which keeps it out of `ps`)")
    dlr.add_argument("--signature-method", choices=METHODS, default=_from_env("signature_method", "md5hash"),
                     help="how DLRs are signed (default $PINRELAY_SIGNATURE_METHOD, else md5hash)")
    dlr.add_argument("--duplicates", type=float, default=0.0, metavar="RATE", help="push finals twice")
    dlr.add_argument("--out-of-order", action="store_true", help="final DLR before intermediate")
    dlr.add_argument("--receipt-first", action="store_true", help="DLR before the 2FA response")
    dlr.add_argument("--dlr-retry-initial", type=float, default=5.0, help="first retry, seconds")
    dlr.add_argument("--dlr-retry-max", type=float, default=900.0, help="backoff cap, seconds")
    dlr.add_argument("--dlr-retry-window", type=float, default=86400.0, help="give up after, seconds")
    dlr.add_argument("--dlr-retry-same-signature", action="store_true",
                     help="retries re-send the first push's signed payload (default: signed afresh)")
    conv = parser.add_argument_group("conversions")
    conv.add_argument("--conversion-signing-required", action="store_true",
                      help="refuse (401) a conversion call without sig, as a signing-only account")
    twilio = parser.add_argument_group("the Twilio route")
    twilio.add_argument("--twilio-account-sid", default=SimConfig.twilio_account_sid, help="the account")
    twilio.add_argument("--twilio-auth-token",
                        default=_from_env("twilio_auth_token", SimConfig.twilio_auth_token),
                        help="signs callbacks (default $PINRELAY_TWILIO_AUTH_TOKEN, else the demo token)")
    twilio.add_argument("--twilio-from", action="append", default=[], metavar="E164", help="an owned From")
    twilio.add_argument("--twilio-status-url", default="", help="the Messaging Service's callback URL")
    _signing_arguments(twilio)
    messages = parser.add_argument_group("the Vonage Messages API route (POST /v1/messages)")
    messages.add_argument("--vonage-application-id", default=SimConfig.vonage_application_id,
                          help="the application whose JWTs are accepted")
    messages.add_argument("--vonage-public-key", default="", metavar="FILE",
                          help="its public key (PEM); default: a demo key pair made at start")
    messages.add_argument("--vonage-private-key-out", default="", metavar="FILE",
                          help="write the demo key pair's private key here (PKCS#8 PEM, mode 0600)")
    messages.add_argument("--messages-status-url", default="",
                          help="status webhooks (default: --dlr-url's origin + /messages-status-webhook)")
    routes = parser.add_argument_group("per route (sc2fa, sms, twilio, messages)")
    routes.add_argument(
        "--route-error-rate", action="append", default=[], metavar="ROUTE:SPEC=P", help="e.g. twilio:auth=1"
    )
    routes.add_argument("--route-mix", action="append", default=[], metavar="ROUTE:MIX", help="sms:failed=1")
    parser.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")


def _signing_arguments(twilio: argparse._ArgumentGroup) -> None:
    """How the Twilio status callbacks are signed and what they carry besides the usual params."""
    twilio.add_argument("--twilio-signing-key", default="", metavar="SECRET",
                        help="sign callbacks with this SharedKey secret (and the settings header)")
    twilio.add_argument("--twilio-signing-key-sid", default=SimConfig.twilio_signing_key_sid, metavar="SID",
                        help="the key=... of X-Twilio-Webhooks-Signature-Settings")
    twilio.add_argument("--twilio-signing-algorithm", choices=TWILIO_ALGORITHMS,
                        default=SimConfig.twilio_signing_algorithm, help="the SharedKey's HMAC")
    twilio.add_argument("--twilio-callback-param", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra callback param; a NAME given twice is sent repeated")


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the options describe; raises SimConfigError naming a bad one."""
    knobs: dict[str, Any] = {
        "api_key": args.api_key,
        "api_secret": args.api_secret,
        "barred": frozenset(args.barred),
        "opted_out": frozenset(args.opted_out),
        "latency_ms": args.latency_ms,
        "rate_limit_per_s": args.rate_limit,
        "script": tuple(args.script),
        "error_rates": _rates(args.error_rate),
        "dlr_url": args.dlr_url,
        "dlr_delay_s": args.dlr_delay,
        "dlr_jitter_s": args.dlr_jitter,
        "dlr_transport": args.transport,
        "dlr_intermediate": args.intermediate,
        "signature_secret": args.signature_secret,
        "signature_method": args.signature_method,
        "duplicate_rate": args.duplicates,
        "out_of_order": args.out_of_order,
        "receipt_before_response": args.receipt_first,
        "dlr_retry_initial_s": args.dlr_retry_initial,
        "dlr_retry_max_s": args.dlr_retry_max,
        "dlr_retry_window_s": args.dlr_retry_window,
        "dlr_resign_retries": not args.dlr_retry_same_signature,
        "conversion_signing_required": args.conversion_signing_required,
        "twilio_account_sid": args.twilio_account_sid,
        "twilio_auth_token": args.twilio_auth_token,
        "twilio_status_url": args.twilio_status_url,
        "twilio_signing_key": args.twilio_signing_key,
        "twilio_signing_key_sid": args.twilio_signing_key_sid,
        "twilio_signing_algorithm": args.twilio_signing_algorithm,
        "twilio_callback_params": _param_lists(args.twilio_callback_param),
        "vonage_application_id": args.vonage_application_id,
        "vonage_public_key": _public_key(args.vonage_public_key),
        "messages_status_url": args.messages_status_url,
        "routes": _route_knobs(args.route_error_rate, args.route_mix),
        "seed": args.seed,
        "control_token": args.control_token,
    }
    if args.twilio_from:
        knobs["twilio_numbers"] = frozenset(args.twilio_from)
    if args.mix:
        knobs["dlr_mix"] = parse_mix(args.mix)
    return SimConfig(**knobs)


def _route_knobs(rates: list[str], mixes: list[str]) -> dict[str, dict[str, Any]]:
    """``twilio:auth=1`` and ``sms:failed=1`` into ``{"twilio": {"error_rates": ...}, ...}``."""
    routes: dict[str, dict[str, Any]] = {}
    for option, values in (("--route-error-rate", rates), ("--route-mix", mixes)):
        for value in values:
            route, sep, rest = value.partition(":")
            if not sep or not rest:
                raise SimConfigError(f"{option} {value!r}: expected ROUTE:...")
            knobs = routes.setdefault(route, {})
            if option == "--route-mix":
                knobs["dlr_mix"] = parse_mix(rest)
            else:
                knobs.setdefault("error_rates", {}).update(_rates([rest]))
    return routes


def _param_lists(pairs: list[str]) -> dict[str, list[str]]:
    """``["Tag=a", "Tag=b", "X=1"]`` -> ``{"Tag": ["a", "b"], "X": ["1"]}``."""
    values: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SimConfigError(f"--twilio-callback-param {pair!r}: expected NAME=VALUE")
        values.setdefault(name, []).append(value)
    return values


def _public_key(path: str) -> str:
    """The PEM text of ``--vonage-public-key`` (checked), or empty for the demo key pair."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as handle:
            pem = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SimConfigError(f"--vonage-public-key {path}: cannot read it ({exc})") from None
    load_public_key(pem)
    return pem


def _announce_application(sim: Simulator, key_out: str) -> bool:
    """Say which Messages API application the simulator accepts and where its demo private key is;
    False (said on stderr) when the key file cannot be written."""
    app = sim.config.vonage_application_id
    if sim.config.vonage_public_key:
        print(f"Messages API application {app}: JWTs verified with the configured public key", flush=True)
        return True
    pem = sim.demo_private_key_pem
    if key_out:
        try:
            descriptor = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
        except OSError as exc:
            print(f"pinrelay sim: --vonage-private-key-out {key_out}: {exc}", file=sys.stderr)
            return False
        where = f"written to {key_out}"
    else:
        where = f"at GET {sim.url}/_sim/messages-application (or use --vonage-private-key-out FILE)"
    print(f"Messages API application {app}: demo key pair, private key {where}", flush=True)
    return True


def _rates(pairs: list[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for pair in pairs:
        spec, sep, rate = pair.rpartition("=")
        try:
            rates[spec] = float(rate)
        except ValueError:
            raise SimConfigError(f"--error-rate {pair!r}: expected SPEC=PROBABILITY") from None
        if not sep:
            raise SimConfigError(f"--error-rate {pair!r}: expected SPEC=PROBABILITY")
    return rates


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 for bad options, 1 if it cannot listen."""
    try:
        config = config_from_args(args)
    except SimConfigError as exc:
        print(f"pinrelay sim: {exc}", file=sys.stderr)
        return 2
    if not config.control_token and not _loopback(args.host):
        print(f"pinrelay sim: --host {args.host} is not loopback: set {CONTROL_TOKEN_ENV} (or "
              "--control-token) so /_sim/* (every PIN, the fault knobs) needs a bearer token",
              file=sys.stderr)
        return 2
    try:
        sim = Simulator(config, host=args.host, port=args.port)
    except OSError as exc:
        print(f"pinrelay sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = _install_signals(stop)
    try:
        sim.start()
        print(f"pinrelay simulator listening on {sim.url}", flush=True)
        if not _announce_application(sim, args.vonage_private_key_out):
            return 2
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _install_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGINT/SIGTERM set ``stop``; outside the main thread nothing is installed."""
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread: the caller stops us some other way
            break
    return previous
