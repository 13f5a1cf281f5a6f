"""SimConfig knobs, fault specs, request param parsing, the CLI glue and the public surface."""

from __future__ import annotations

import argparse
import random

import pytest

import pinrelay_ops.simulator
from pinrelay_ops.simulator import FaultSpecError, SimConfig, SimConfigError, SimulatorError, cli, faults
from pinrelay_ops.simulator.http import params
from worker.errors import PinrelayError


def test_public_surface_is_pinned() -> None:
    """The package exports exactly the simulator, its config and its errors."""
    assert sorted(pinrelay_ops.simulator.__all__) == [
        "FaultSpecError",
        "SimConfig",
        "SimConfigError",
        "Simulator",
        "SimulatorError",
    ]


def test_errors_share_pinrelays_root() -> None:
    """Simulator errors are PinrelayErrors; config errors are also ValueErrors."""
    assert issubclass(SimulatorError, PinrelayError)
    assert issubclass(FaultSpecError, SimConfigError) and issubclass(SimConfigError, ValueError)


def test_defaults_match_the_documented_ones() -> None:
    """Demo credentials, 0.2 s DLR delay, 5 s -> 900 s retries over 24 h."""
    config = SimConfig()
    assert (config.api_key, config.api_secret) == ("demo-key", "demo-secret-0123")
    assert config.dlr_delay_s == 0.2 and config.dlr_transport == "get"
    assert (config.dlr_retry_initial_s, config.dlr_retry_max_s, config.dlr_retry_window_s) == (
        5.0,
        900.0,
        86400.0,
    )


def test_repr_and_dict_hide_secrets() -> None:
    """Neither repr nor to_dict shows the API secret or the signature secret."""
    config = SimConfig(api_secret="super-secret-1", signature_secret="sig-secret-2")
    assert "super-secret-1" not in repr(config) and "sig-secret-2" not in repr(config)
    data = config.to_dict()
    assert data["api_secret"] == "***" and data["signature_secret"] == "***"


def test_with_knobs_coerces_json_values() -> None:
    """JSON lists become tuples/frozensets, ints become floats where the knob is a float."""
    config = SimConfig().with_knobs(
        script=["status:5", "http:503*2"], barred=["15550000001"], latency_ms=5, conversion_script=[402]
    )
    assert config.script == ("status:5", "http:503*2")
    assert config.barred == frozenset({"15550000001"})
    assert config.latency_ms == 5.0 and isinstance(config.latency_ms, float)
    assert config.conversion_script == (402,)


@pytest.mark.parametrize(
    "knobs",
    [
        {"no_such_knob": 1},
        {"latency_ms": "fast"},
        {"dlr_intermediate": 1},
        {"dlr_transport": "carrier-pigeon"},
        {"script": "status:5"},
        {"script": ["status:x"]},
        {"error_rates": {"http:503": 1.5}},
        {"duplicate_rate": 2.0},
        {"latency_ms": -1},
        {"dlr_url": "ftp://x"},
        {"signature_method": "sha3"},
        {"conversion_script": [42]},
    ],
)
def test_bad_knobs_are_refused_naming_the_problem(knobs: dict[str, object]) -> None:
    """Unknown names, wrong types and out-of-range values raise SimConfigError."""
    with pytest.raises(SimConfigError):
        SimConfig().with_knobs(**knobs)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("status:5", (faults.Fault("status", "5"), 1)),
        ("http:503*3", (faults.Fault("http", "503"), 3)),
        ("429", (faults.Fault("429", "1"), 1)),
        ("429:2", (faults.Fault("429", "2"), 1)),
        ("hang:1.5", (faults.Fault("hang", "1.5"), 1)),
        ("close", (faults.Fault("close"), 1)),
        ("close:sent*2", (faults.Fault("close", "sent"), 2)),
        ("GARBAGE", (faults.Fault("garbage"), 1)),
    ],
)
def test_fault_specs_parse(spec: str, expected: tuple[faults.Fault, int]) -> None:
    """Each documented spec form parses to its fault and repeat count."""
    assert faults.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "boom", "status", "http:99", "hang", "close:later", "http:500*0"])
def test_bad_fault_specs_raise(spec: str) -> None:
    """Malformed specs raise FaultSpecError."""
    with pytest.raises(FaultSpecError):
        faults.parse(spec)


def test_only_hang_and_close_sent_still_send() -> None:
    """hang and close:sent process the send; the others do not."""
    sending = {f.spec for f in map(lambda s: faults.parse(s)[0], ["hang:1", "close:sent"])}
    assert all(faults.parse(s)[0].processes_send for s in sending)
    assert not any(faults.parse(s)[0].processes_send for s in ["close", "http:500", "429", "garbage"])


def test_random_faults_follow_their_rates() -> None:
    """error_rates 0.25 fires about a quarter of the time; rates summing over 1 are refused."""
    rng = random.Random(11)
    rates = faults.check_rates({"http:503": 0.25})
    hits = sum(faults.pick(rates, rng) is not None for _ in range(4000))
    assert 850 < hits < 1150
    with pytest.raises(FaultSpecError):
        faults.check_rates({"http:503": 0.6, "close": 0.6})


def test_params_merge_query_and_body() -> None:
    """Query string and form body merge, the body winning."""
    got = params.parse("to=1&pin=2", "application/x-www-form-urlencoded", b"pin=3&api_key=k")
    assert got == {"to": "1", "pin": "3", "api_key": "k"}


@pytest.mark.parametrize("ctype", sorted(params.JSON_TYPES))
def test_params_read_json_bodies_as_strings(ctype: str) -> None:
    """Every JSON content type is read; numbers and booleans become strings, nulls vanish."""
    body = b'{"to": 16365553226, "pin": 1234, "flag": true, "gone": null}'
    assert params.parse("", f"{ctype}; charset=utf-8", body) == {
        "to": "16365553226",
        "pin": "1234",
        "flag": "true",
    }


def test_params_ignore_unreadable_bodies() -> None:
    """Broken JSON, a JSON list and an unknown content type contribute nothing."""
    assert params.parse("a=1", "application/json", b"{nope") == {"a": "1"}
    assert params.parse("", "application/json", b"[1, 2]") == {}
    assert params.parse("", "text/plain", b"to=1") == {}


def parse_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_options_map_onto_knobs() -> None:
    """Every CLI option lands on its SimConfig knob."""
    args = parse_cli(
        "--port", "9000", "--dlr-url", "http://127.0.0.1:1/dlr", "--dlr-delay", "0.5",
        "--mix", "delivered=90,failed=10", "--transport", "json", "--intermediate",
        "--signature-secret", "s", "--signature-method", "sha256", "--duplicates", "0.1",
        "--out-of-order", "--receipt-first", "--latency-ms", "20", "--rate-limit", "30",
        "--api-key", "k", "--api-secret", "secret-x", "--dlr-retry-initial", "1",
        "--script", "http:503*2", "--error-rate", "status:5=0.1", "--barred", "15550000001",
    )
    config = cli.config_from_args(args)
    assert args.port == 9000 and args.host == "127.0.0.1"
    assert config.dlr_url == "http://127.0.0.1:1/dlr" and config.dlr_delay_s == 0.5
    assert config.dlr_mix == {"delivered": 90.0, "failed": 10.0}
    assert config.dlr_transport == "json" and config.dlr_intermediate
    assert (config.signature_secret, config.signature_method) == ("s", "sha256")
    assert config.duplicate_rate == 0.1 and config.out_of_order and config.receipt_before_response
    assert config.latency_ms == 20 and config.rate_limit_per_s == 30
    assert (config.api_key, config.api_secret) == ("k", "secret-x")
    assert config.dlr_retry_initial_s == 1
    assert config.script == ("http:503*2",) and config.error_rates == {"status:5": 0.1}
    assert config.barred == frozenset({"15550000001"})


def test_cli_default_port_is_8090() -> None:
    """Without --port the simulator listens on 8090."""
    assert parse_cli().port == 8090


def test_cli_run_refuses_bad_options_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --mix is reported on stderr and run() returns 2 without serving."""
    assert cli.run(parse_cli("--mix", "bogus=1", "--port", "0")) == 2
    assert "bogus" in capsys.readouterr().err


# --- per-route knobs -------------------------------------------------------------------------------


def test_routes_override_only_their_route() -> None:
    """A route's overrides apply to it alone; the others see the top-level knobs."""
    twilio_knobs = {"error_rates": {"auth": 1.0}, "dlr_mix": {"failed": 1}}
    config = SimConfig(latency_ms=5, routes={"twilio": twilio_knobs})
    twilio, sms = config.for_route("twilio"), config.for_route("sms")
    assert twilio.error_rates == {"auth": 1.0} and twilio.dlr_mix == {"failed": 1.0}
    assert twilio.latency_ms == 5 and sms.error_rates == {} and sms.dlr_mix == SimConfig().dlr_mix
    assert config.for_route("sc2fa") is config


def test_with_route_knobs_merges_and_coerces_json() -> None:
    """Route knobs merge into what the route had, JSON lists become tuples, the rest is unchanged."""
    config = SimConfig().with_route_knobs("sms", script=["http:503*2"]).with_route_knobs("sms", latency_ms=3)
    assert config.routes == {"sms": {"script": ("http:503*2",), "latency_ms": 3.0}}
    assert config.for_route("sms").script == ("http:503*2",) and config.script == ()
    assert config.to_dict()["routes"] == {"sms": {"script": ["http:503*2"], "latency_ms": 3.0}}


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.with_route_knobs("voice", latency_ms=1),
        lambda c: c.with_route_knobs("sms", api_key="other"),
        lambda c: c.with_route_knobs("sms", script=["boom"]),
        lambda c: c.with_route_knobs("twilio", dlr_mix={"lost": 1}),
        lambda c: c.with_knobs(routes={"sms": {"twilio_auth_token": "x"}}),
        lambda c: c.with_knobs(routes=["sms"]),
        lambda c: c.with_knobs(twilio_status_url="mailto:x"),
        lambda c: c.with_knobs(sms_message_ids="snowflake"),
    ],
)
def test_bad_route_knobs_are_refused(change: object) -> None:
    """Unknown routes, knobs that are not per-route, bad values inside a route: SimConfigError."""
    with pytest.raises(SimConfigError):
        change(SimConfig())  # type: ignore[operator]


def test_twilio_secrets_are_masked() -> None:
    """The auth token and an API key secret never show in repr or to_dict."""
    config = SimConfig(twilio_auth_token="tok-secret-1", twilio_api_key_secret="key-secret-2")
    assert "tok-secret-1" not in repr(config) and "key-secret-2" not in repr(config)
    data = config.to_dict()
    assert data["twilio_auth_token"] == "***" and data["twilio_api_key_secret"] == "***"
    assert data["twilio_numbers"] == ["+12015550123"]


def test_auth_fault_parses() -> None:
    """'auth' is a fault of its own, with no argument, and does not send."""
    assert faults.parse("auth*3") == (faults.Fault("auth"), 3)
    assert not faults.parse("auth")[0].processes_send
    with pytest.raises(FaultSpecError):
        faults.parse("auth:4")


def test_cli_route_options_map_onto_route_knobs() -> None:
    """--route-error-rate and --route-mix land under routes; the Twilio options on their knobs."""
    args = parse_cli(
        "--route-error-rate", "twilio:auth=1", "--route-error-rate", "sms:http:503=0.5",
        "--route-mix", "sms:failed=1", "--twilio-auth-token", "tok", "--twilio-from", "+12015550999",
        "--twilio-status-url", "http://127.0.0.1:1/s",
    )
    config = cli.config_from_args(args)
    assert config.routes == {
        "twilio": {"error_rates": {"auth": 1.0}},
        "sms": {"error_rates": {"http:503": 0.5}, "dlr_mix": {"failed": 1.0}},
    }
    assert config.twilio_auth_token == "tok" and config.twilio_numbers == frozenset({"+12015550999"})
    assert config.twilio_status_url == "http://127.0.0.1:1/s"
    with pytest.raises(SimConfigError):
        cli.config_from_args(parse_cli("--route-mix", "failed=1"))
