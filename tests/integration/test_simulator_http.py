"""The provider simulator over real HTTP: 2FA encodings and checks, faults, conversions, receipts."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from pinrelay_ops.simulator import SimConfig, Simulator
from worker.signing import sign, verify

TO = "16365553226"
CREDS = {"api_key": "demo-key", "api_secret": "demo-secret-0123"}
GOOD = {**CREDS, "to": TO, "pin": "1234"}
FAST_RETRIES = {
    "dlr_delay_s": 0.01,
    "dlr_gap_s": 0.03,
    "dlr_retry_initial_s": 0.05,
    "dlr_retry_max_s": 0.2,
    "dlr_retry_window_s": 3.0,
    "dlr_read_timeout_s": 1.0,
}


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return value


class Receiver:
    """A tiny DLR webhook: records each hit (method, params, content type) and answers from a script."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.answers: deque[int] = deque()  # statuses for the next hits, then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.record("GET", b"")

            def do_POST(self) -> None:
                self.record("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def record(self, method: str, body: bytes) -> None:
                ctype = self.headers.get("Content-Type", "")
                params = dict(parse_qsl(urlsplit(self.path).query))
                if ctype.startswith("application/json"):
                    params.update(json.loads(body))
                elif body:
                    params.update(parse_qsl(body.decode()))
                with receiver.lock:
                    status = receiver.answers.popleft() if receiver.answers else 200
                    receiver.hits.append(
                        {"method": method, "params": params, "content_type": ctype, "at": time.time()}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dlr"

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.hits)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture(scope="module")
def module_sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(barred=frozenset({"15550000007"}), opted_out=frozenset({"15550000102"}))) as sim:
        yield sim


@pytest.fixture
def sim(module_sim: Simulator) -> Simulator:
    """The module's simulator, reset to its initial knobs and empty records."""
    module_sim.reset()
    return module_sim


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def submit(http: requests.Session, sim: Simulator, **params: str) -> dict[str, str]:
    """POST form to the 2FA endpoint; the JSON ``messages[0]`` of an HTTP 200 answer."""
    response = http.post(f"{sim.url}/sc/us/2fa/json", data=params, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["message-count"] == "1"
    message: dict[str, str] = body["messages"][0]
    return message


# --- the 2FA call: encodings -------------------------------------------------------------


def test_get_with_query_string_is_accepted(sim: Simulator, http: requests.Session) -> None:
    """GET with params in the query string (python/.NET SDK style) is accepted."""
    message = http.get(f"{sim.url}/sc/us/2fa/json", params=GOOD, timeout=5).json()["messages"][0]
    assert message["status"] == "0"
    assert sim.requests()[0]["method"] == "GET"


def test_post_form_is_accepted_with_every_value_a_string(sim: Simulator, http: requests.Session) -> None:
    """POST form: status 0 with the documented keys, every value a string."""
    message = submit(http, sim, **GOOD, **{"client-ref": "login-1"})
    assert set(message) == {
        "to", "message-id", "status", "remaining-balance", "message-price", "network", "client-ref",
    }
    assert all(isinstance(v, str) for v in message.values())
    assert message["to"] == TO and message["client-ref"] == "login-1"
    assert re.fullmatch(r"[0-9A-F]{16}", message["message-id"])


@pytest.mark.parametrize("ctype", ["application/json", "text/json", "text/x-javascript"])
def test_post_json_body_is_accepted(sim: Simulator, http: requests.Session, ctype: str) -> None:
    """POST with a JSON object body (node SDK style) is accepted for the documented JSON types."""
    response = http.post(
        f"{sim.url}/sc/us/2fa/json", data=json.dumps(GOOD), headers={"Content-Type": ctype}, timeout=5
    )
    assert response.json()["messages"][0]["status"] == "0"
    assert sim.requests()[0]["content_type"] == ctype


def test_post_with_params_in_query_and_empty_body_is_accepted(sim: Simulator, http: requests.Session) -> None:
    """nexmo-node's style: POST, every param in the query string, no body."""
    response = http.post(f"{sim.url}/sc/us/2fa/json", params=GOOD, timeout=5)
    assert response.json()["messages"][0]["status"] == "0"


def test_xml_endpoint_answers_the_xml_form(sim: Simulator, http: requests.Session) -> None:
    """/sc/us/2fa/xml answers <mt-submission-response> with a messageId."""
    response = http.post(f"{sim.url}/sc/us/2fa/xml", data=GOOD, timeout=5)
    assert response.headers["Content-Type"] == "text/xml"
    assert "<mt-submission-response>" in response.text and "<messageId>" in response.text


def test_message_ids_are_unique_across_calls(sim: Simulator, http: requests.Session) -> None:
    """Fifty accepted sends get fifty different message-ids, each recorded with its request."""
    ids = {submit(http, sim, **GOOD)["message-id"] for _ in range(50)}
    assert len(ids) == 50
    assert {r["message_id"] for r in sim.requests()} == ids


def test_balance_goes_down_by_the_price(sim: Simulator, http: requests.Session) -> None:
    """remaining-balance drops by message-price on each accepted send."""
    first, second = submit(http, sim, **GOOD), submit(http, sim, **GOOD)
    drop = float(first["remaining-balance"]) - float(second["remaining-balance"])
    assert abs(drop - float(first["message-price"])) < 1e-9


def test_requests_are_recorded_with_pin_method_and_answer(sim: Simulator, http: requests.Session) -> None:
    """/_sim/requests lists params (PIN included), method, content type, time, statuses, id."""
    before = time.time()
    message = submit(http, sim, **GOOD, brand="Acme")
    records = http.get(f"{sim.url}/_sim/requests", timeout=5).json()
    assert len(records) == 1
    record = records[0]
    assert record["params"] == {**GOOD, "brand": "Acme"}
    assert record["method"] == "POST" and record["content_type"] == "application/x-www-form-urlencoded"
    assert before - 1 <= record["arrived"] <= time.time()
    assert (record["status"], record["http_status"]) == ("0", 200)
    assert record["message_id"] == message["message-id"]
    assert record["unknown_params"] == ["brand"]


# --- the 2FA call: checks -----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["api_key", "api_secret", "to", "pin"])
def test_missing_param_is_status_2(sim: Simulator, http: requests.Session, missing: str) -> None:
    """A missing required param is HTTP 200 with status 2 naming the param."""
    message = submit(http, sim, **{k: v for k, v in GOOD.items() if k != missing})
    assert message["status"] == "2" and message["error-text"] == f"Missing {missing} param"
    assert "message-id" not in message


def test_wrong_secret_is_status_4(sim: Simulator, http: requests.Session) -> None:
    """A wrong api_secret is status 4."""
    assert submit(http, sim, **dict(GOOD, api_secret="wrong-one-000"))["status"] == "4"


def test_sig_with_api_secret_is_status_32(sim: Simulator, http: requests.Session) -> None:
    """Sending sig and api_secret together is status 32."""
    assert submit(http, sim, **GOOD, sig="ABC", timestamp="1")["status"] == "32"


def test_signed_request_is_accepted_when_signing_is_on(sim: Simulator, http: requests.Session) -> None:
    """With a signature secret configured, sig replaces api_secret."""
    sim.configure(signature_secret="sign-me", signature_method="md5hash")
    params = {"api_key": "demo-key", "to": TO, "pin": "5678", "timestamp": str(int(time.time()))}
    params["sig"] = sign(params, "sign-me", "md5hash")
    assert submit(http, sim, **params)["status"] == "0"


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"to": "+16365553226"}, "3"),
        ({"to": "123"}, "3"),
        ({"pin": "12ab"}, "3"),
        ({"client-ref": "r" * 41}, "3"),
        ({"to": "15550000007"}, "7"),
        ({"to": "15550000102"}, "102"),
    ],
)
def test_invalid_or_refused_numbers(
    sim: Simulator, http: requests.Session, override: dict[str, str], status: str
) -> None:
    """Bad to/pin/client-ref are status 3; barred numbers 7; opted-out numbers 102."""
    message = submit(http, sim, **{**GOOD, **override})
    assert message["status"] == status and message["error-text"]


def test_unknown_params_are_accepted_and_recorded(sim: Simulator, http: requests.Session) -> None:
    """Template placeholders are accepted, ignored, and listed on the record."""
    assert submit(http, sim, **GOOD, template="1", company="Acme")["status"] == "0"
    assert sim.requests()[0]["unknown_params"] == ["company", "template"]


# --- faults ------------------------------------------------------------------------------------


def test_added_latency_delays_every_answer(sim: Simulator, http: requests.Session) -> None:
    """latency_ms 150 makes the answer take at least 150 ms."""
    sim.configure(latency_ms=150)
    started = time.monotonic()
    assert submit(http, sim, **GOOD)["status"] == "0"
    assert time.monotonic() - started >= 0.15


def test_script_of_status_codes_then_normal(sim: Simulator, http: requests.Session) -> None:
    """Scripted statuses answer in order, then sends are accepted again."""
    sim.configure(script=["status:1", "status:5", "status:13*2"])
    statuses = [submit(http, sim, **GOOD) for _ in range(5)]
    assert [m["status"] for m in statuses] == ["1", "5", "13", "13", "0"]
    assert re.fullmatch(
        r"Throughput Rate Exceeded - please wait \[ \d+ \] and retry", statuses[0]["error-text"]
    )
    assert sim.stats()["faults"] == {"status:1": 1, "status:5": 1, "status:13": 2}


@pytest.mark.parametrize("code", [500, 503])
def test_scripted_http_errors(sim: Simulator, http: requests.Session, code: int) -> None:
    """http:N answers HTTP N once, and nothing is sent."""
    sim.configure(script=[f"http:{code}"])
    assert http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5).status_code == code
    assert sim.stats()["accepted"] == 0
    assert submit(http, sim, **GOOD)["status"] == "0"


def test_scripted_429_carries_retry_after(sim: Simulator, http: requests.Session) -> None:
    """429:2 answers HTTP 429 with Retry-After: 2."""
    sim.configure(script=["429:2"])
    response = http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"


def test_hang_outlasts_the_client_timeout_and_still_sends(sim: Simulator, http: requests.Session) -> None:
    """hang:1 times a 0.3 s client out, yet the send is accepted afterwards (PIN went out)."""
    sim.configure(script=["hang:1"])
    with pytest.raises(requests.ReadTimeout):
        http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=(1, 0.3))
    assert sim.requests()[0]["outcome"] == "pending"  # recorded on arrival, answer still to come
    wait_for(lambda: sim.accepted_count(TO, "1234") == 1, what="the hung send to be accepted")
    wait_for(lambda: sim.requests()[0]["outcome"] == "status:0", what="the outcome to be recorded")
    assert sim.requests()[0]["fault"] == "hang:1"


def test_close_drops_the_connection_without_sending(sim: Simulator, http: requests.Session) -> None:
    """close ends the connection with no answer; nothing is sent; the next call works."""
    sim.configure(script=["close"])
    with pytest.raises(requests.ConnectionError):
        http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5)
    assert sim.stats()["accepted"] == 0 and sim.stats()["outcomes"] == {"close": 1}
    assert submit(http, sim, **GOOD)["status"] == "0"


def test_close_after_send_loses_the_answer_but_sends(sim: Simulator, http: requests.Session) -> None:
    """close:sent accepts the send, then drops the connection unanswered."""
    sim.configure(script=["close:sent"])
    with pytest.raises(requests.ConnectionError):
        http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5)
    assert sim.accepted_count(TO, "1234") == 1
    assert sim.requests()[0]["http_status"] is None and sim.requests()[0]["message_id"]


def test_garbage_is_html_with_status_200(sim: Simulator, http: requests.Session) -> None:
    """garbage answers HTTP 200 with a text/html body."""
    sim.configure(script=["garbage"])
    response = http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


def test_error_rate_injects_faults_at_random(sim: Simulator, http: requests.Session) -> None:
    """error_rates {'http:503': 1.0} fails every call; 0.5 fails about half (seeded)."""
    sim.configure(error_rates={"http:503": 1.0})
    assert {http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5).status_code for _ in range(5)} == {
        503
    }
    sim.configure(error_rates={"status:5": 0.5}, seed=42)
    statuses = [submit(http, sim, **GOOD)["status"] for _ in range(60)]
    assert 15 < statuses.count("5") < 45 and set(statuses) == {"0", "5"}


def test_throughput_limit_answers_status_1_with_wait(sim: Simulator, http: requests.Session) -> None:
    """rate_limit_per_s 5: a burst of 10 gets 5 accepted and 5 throttled with a wait in ms."""
    sim.configure(rate_limit_per_s=5)
    messages = [submit(http, sim, **GOOD) for _ in range(10)]
    assert [m["status"] for m in messages].count("0") == 5
    throttled = [m for m in messages if m["status"] == "1"]
    assert len(throttled) == 5
    for message in throttled:
        match = re.fullmatch(
            r"Throughput Rate Exceeded - please wait \[ (\d+) \] and retry", message["error-text"]
        )
        assert match and 0 < int(match.group(1)) <= 1000


def test_configured_credentials_replace_the_defaults(sim: Simulator, http: requests.Session) -> None:
    """api_key/api_secret knobs change what is accepted."""
    sim.configure(api_key="other-key", api_secret="other-secret-99")
    assert submit(http, sim, **GOOD)["status"] == "4"
    assert submit(http, sim, **dict(GOOD, api_key="other-key", api_secret="other-secret-99"))["status"] == "0"


# --- control endpoints ---------------------------------------------------------------------------


def test_config_over_http_changes_knobs_and_refuses_bad_ones(sim: Simulator, http: requests.Session) -> None:
    """POST /_sim/config applies a JSON object of knobs; an unknown knob is a 400 naming it."""
    response = http.post(f"{sim.url}/_sim/config", json={"script": ["status:5"], "latency_ms": 1}, timeout=5)
    assert response.status_code == 200 and response.json()["latency_ms"] == 1.0
    assert submit(http, sim, **GOOD)["status"] == "5"
    bad = http.post(f"{sim.url}/_sim/config", json={"latency": 5}, timeout=5)
    assert bad.status_code == 400 and "latency" in bad.json()["error"]


def test_reset_over_http_forgets_everything_and_restores_knobs(
    sim: Simulator, http: requests.Session
) -> None:
    """POST /_sim/reset empties the records and puts the initial knobs back."""
    sim.configure(latency_ms=10, script=["status:5*3"])
    submit(http, sim, **GOOD)
    assert http.post(f"{sim.url}/_sim/reset", timeout=5).json() == {"ok": True}
    assert http.get(f"{sim.url}/_sim/requests", timeout=5).json() == []
    assert sim.config.latency_ms == 0 and sim.stats()["script_remaining"] == []
    assert submit(http, sim, **GOOD)["status"] == "0"


def test_stats_count_outcomes_and_repeated_sends(sim: Simulator, http: requests.Session) -> None:
    """/_sim/stats counts by outcome and shows a (to, pin, client-ref) accepted twice."""
    sim.configure(script=["http:500"])
    http.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=5)
    for _ in range(2):
        submit(http, sim, **GOOD, **{"client-ref": "r1"})
    submit(http, sim, **dict(GOOD, to="123"))
    stats = http.get(f"{sim.url}/_sim/stats", timeout=5).json()
    assert stats["requests"] == 4 and stats["accepted"] == 2
    assert stats["outcomes"] == {"http:500": 1, "status:0": 2, "status:3": 1}
    assert stats["accepted_calls"] == [
        {"route": "sc2fa", "to": TO, "pin": "1234", "client-ref": "r1", "count": 2}
    ]
    assert stats["duplicate_accepted_calls"] == 1


def test_unknown_path_is_404_and_wrong_method_405(sim: Simulator, http: requests.Session) -> None:
    """Unknown paths are 404; GET on a POST-only endpoint (control or Twilio) is 405."""
    assert http.get(f"{sim.url}/sms/xml", timeout=5).status_code == 404
    assert http.get(f"{sim.url}/2010-04-01/Accounts/AC1/Calls.json", timeout=5).status_code == 404
    assert http.get(f"{sim.url}/_sim/reset", timeout=5).status_code == 405
    assert http.get(f"{sim.url}/2010-04-01/Accounts/AC1/Messages.json", timeout=5).status_code == 405


# --- conversions -----------------------------------------------------------------------------------


def convert(http: requests.Session, sim: Simulator, **params: str) -> requests.Response:
    return http.post(f"{sim.url}/conversions/sms", data=params, timeout=5)


def test_conversion_is_accepted_and_recorded(sim: Simulator, http: requests.Session) -> None:
    """A good conversion answers 200 'OK' and is listed, linked to a known message-id."""
    message_id = submit(http, sim, **GOOD)["message-id"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    response = convert(
        http, sim, **CREDS, **{"message-id": message_id, "delivered": "true", "timestamp": stamp}
    )
    assert (response.status_code, response.text) == (200, "OK")
    recorded = http.get(f"{sim.url}/_sim/conversions", timeout=5).json()
    assert len(recorded) == 1
    assert recorded[0]["params"]["message-id"] == message_id and recorded[0]["known_message"] is True


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"api_key": "demo-key", "api_secret": "nope-nope", "message-id": "A1", "delivered": "1"}, 401),
        ({**CREDS, "delivered": "true"}, 420),
        ({**CREDS, "message-id": "A1", "delivered": "maybe"}, 420),
        ({**CREDS, "message-id": "A1", "delivered": "0", "timestamp": "yesterday"}, 420),
    ],
)
def test_conversion_refusals(
    sim: Simulator, http: requests.Session, params: dict[str, str], status: int
) -> None:
    """Wrong credentials are 401; missing or malformed params are 420."""
    assert convert(http, sim, **params).status_code == status


def test_conversion_script_forces_statuses(sim: Simulator, http: requests.Session) -> None:
    """conversion_script [402, 500, 429] answers those, then 200 again."""
    sim.configure(conversion_script=[402, 500, 429])
    good = {**CREDS, "message-id": "A1", "delivered": "true"}
    assert [convert(http, sim, **good).status_code for _ in range(4)] == [402, 500, 429, 200]
    assert sim.stats()["conversions"]["by_http_status"] == {"402": 1, "500": 1, "429": 1, "200": 1}


def test_conversion_get_is_405(sim: Simulator, http: requests.Session) -> None:
    """The Conversion API takes POST only."""
    assert http.get(f"{sim.url}/conversions/sms", params=CREDS, timeout=5).status_code == 405


# --- receipts ---------------------------------------------------------------------------------------


def dlr_sim(sim: Simulator, receiver: Receiver, **knobs: Any) -> Simulator:
    sim.configure(**{"dlr_url": receiver.url, "dlr_mix": {"delivered": 1}, **FAST_RETRIES, **knobs})
    return sim


def test_receipt_get_carries_every_documented_field(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """A GET DLR has msisdn, to (short code), network-code, messageId, price, status, scts, err-code,
    message-timestamp, client-ref and api-key, all non-empty strings."""
    dlr_sim(sim, receiver)
    message = submit(http, sim, **GOOD, **{"client-ref": "login-7"})
    hit = wait_for(receiver.received, what="the DLR")[0]
    params = hit["params"]
    assert hit["method"] == "GET"
    assert set(params) == {
        "msisdn", "to", "network-code", "messageId", "price", "status", "scts", "err-code",
        "message-timestamp", "client-ref", "api-key",
    }
    assert params["msisdn"] == TO and params["to"] == "98765" and params["messageId"] == message["message-id"]
    assert params["status"] == "delivered" and params["err-code"] == "0"
    assert params["client-ref"] == "login-7" and params["api-key"] == "demo-key"
    assert re.fullmatch(r"\d{10}", params["scts"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", params["message-timestamp"])
    assert all(isinstance(v, str) and v for v in params.values())
    assert sim.wait_receipts_idle(5)
    receipt = http.get(f"{sim.url}/_sim/receipts", timeout=5).json()[0]
    assert (
        receipt["state"] == "acknowledged" and receipt["attempts"] == 1 and receipt["last_http_status"] == 200
    )


@pytest.mark.parametrize(
    ("transport", "method", "ctype"),
    [("form", "POST", "application/x-www-form-urlencoded"), ("json", "POST", "application/json")],
)
def test_receipt_post_transports(
    sim: Simulator, http: requests.Session, receiver: Receiver, transport: str, method: str, ctype: str
) -> None:
    """form posts urlencoded, json posts a JSON object of strings."""
    dlr_sim(sim, receiver, dlr_transport=transport)
    message = submit(http, sim, **GOOD)
    hit = wait_for(receiver.received, what="the DLR")[0]
    assert hit["method"] == method and hit["content_type"].startswith(ctype)
    assert hit["params"]["messageId"] == message["message-id"]
    assert all(isinstance(v, str) for v in hit["params"].values())


def test_mixed_transport_uses_all_three(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """'mixed' spreads 30 receipts over GET, form and JSON."""
    dlr_sim(sim, receiver, dlr_transport="mixed", seed=3)
    for _ in range(30):
        submit(http, sim, **GOOD)
    wait_for(lambda: len(receiver.received()) == 30, what="30 DLRs")
    assert {(h["method"], h["content_type"].split(";")[0]) for h in receiver.received()} == {
        ("GET", ""), ("POST", "application/x-www-form-urlencoded"), ("POST", "application/json"),
    }


@pytest.mark.parametrize("method", ["md5hash", "sha256"])
def test_signed_receipts_verify(
    sim: Simulator, http: requests.Session, receiver: Receiver, method: str
) -> None:
    """With a signature secret, DLRs carry timestamp, nonce and a sig that verifies."""
    dlr_sim(sim, receiver, signature_secret="dlr-secret", signature_method=method, dlr_transport="json")
    submit(http, sim, **GOOD)
    params = wait_for(receiver.received, what="the DLR")[0]["params"]
    assert {"timestamp", "nonce", "sig"} <= set(params)
    assert abs(int(params["timestamp"]) - time.time()) < 10
    assert verify(params, "dlr-secret", method)
    assert not verify(dict(params, status="failed"), "dlr-secret", method)


def test_intermediate_then_final_in_order(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """dlr_intermediate pushes 'accepted' first, then the final status."""
    dlr_sim(sim, receiver, dlr_intermediate=True, dlr_mix={"failed": 1})
    submit(http, sim, **GOOD)
    wait_for(lambda: len(receiver.received()) == 2, what="two DLRs")
    params = [h["params"] for h in receiver.received()]
    assert [p["status"] for p in params] == ["accepted", "failed"]
    assert params[0]["err-code"] == "0" and params[1]["err-code"] != "0"


def test_out_of_order_sends_final_first(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """out_of_order pushes the final DLR before the intermediate one."""
    dlr_sim(sim, receiver, dlr_intermediate=True, out_of_order=True)
    submit(http, sim, **GOOD)
    wait_for(lambda: len(receiver.received()) == 2, what="two DLRs")
    assert [h["params"]["status"] for h in receiver.received()] == ["delivered", "accepted"]


def test_duplicates_push_the_same_receipt_twice(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """duplicate_rate 1: the final DLR arrives twice with identical fields."""
    dlr_sim(sim, receiver, duplicate_rate=1.0)
    submit(http, sim, **GOOD)
    wait_for(lambda: len(receiver.received()) == 2, what="the DLR and its duplicate")
    first, second = (h["params"] for h in receiver.received())
    assert first == second
    assert [r["kind"] for r in sim.receipts()] == ["final", "duplicate"]


def test_receipt_retried_after_500_until_200(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """The receiver answers 500 twice, then 200: three pushes, the receipt acknowledged."""
    receiver.answers.extend([500, 500])
    dlr_sim(sim, receiver)
    submit(http, sim, **GOOD)
    assert sim.wait_receipts_idle(5)
    assert len(receiver.received()) == 3
    assert len({h["params"]["messageId"] for h in receiver.received()}) == 1
    receipt = sim.receipts()[0]
    assert receipt["state"] == "acknowledged" and receipt["attempts"] == 3
    stats = sim.stats()["receipts"]
    assert (stats["fired"], stats["retried"], stats["acknowledged"], stats["failed_pushes"]) == (1, 2, 1, 2)


def test_retries_back_off_exponentially(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """Gaps between pushes double from dlr_retry_initial_s up to dlr_retry_max_s."""
    receiver.answers.extend([503] * 4)
    dlr_sim(sim, receiver, dlr_retry_initial_s=0.1, dlr_retry_max_s=0.25)
    submit(http, sim, **GOOD)
    assert sim.wait_receipts_idle(5)
    times = [h["at"] for h in receiver.received()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 4
    for gap, expected in zip(gaps, [0.1, 0.2, 0.25, 0.25], strict=True):
        assert expected - 0.02 <= gap <= expected + 0.2


def test_receipt_abandoned_after_the_retry_window(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """A receiver that always fails sees pushes until the window closes; then the receipt is abandoned."""
    receiver.answers.extend([500] * 100)
    dlr_sim(sim, receiver, dlr_retry_window_s=0.3)
    submit(http, sim, **GOOD)
    assert sim.wait_receipts_idle(5)
    assert sim.receipts()[0]["state"] == "abandoned"
    assert sim.stats()["receipts"]["abandoned"] == 1
    assert 2 <= len(receiver.received()) <= 6


def test_unreachable_receiver_is_retried_without_harm(sim: Simulator, http: requests.Session) -> None:
    """Connection errors are counted and retried; the 2FA endpoint keeps answering."""
    with Simulator() as spare:  # a port that is certainly closed once this block ends
        dead_url = f"{spare.url}/dlr"
    sim.configure(dlr_url=dead_url, **dict(FAST_RETRIES, dlr_retry_window_s=0.3))
    assert submit(http, sim, **GOOD)["status"] == "0"
    assert sim.wait_receipts_idle(5)
    receipt = sim.receipts()[0]
    assert receipt["state"] == "abandoned" and receipt["attempts"] >= 2
    assert receipt["last_http_status"] is None and receipt["last_error"] == "ConnectionError"
    assert submit(http, sim, **GOOD)["status"] == "0"


def test_receipt_before_response(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """receipt_before_response: the DLR has been answered before the 2FA response arrives."""
    dlr_sim(sim, receiver, receipt_before_response=True, dlr_delay_s=5.0)
    message = submit(http, sim, **GOOD)
    hits = receiver.received()  # no waiting: it must already be there
    assert len(hits) == 1 and hits[0]["params"]["messageId"] == message["message-id"]


def test_reset_cancels_scheduled_receipts(sim: Simulator, http: requests.Session, receiver: Receiver) -> None:
    """A reset drops receipts still waiting for their delay; idle is reached at once."""
    dlr_sim(sim, receiver, dlr_delay_s=5.0)
    submit(http, sim, **GOOD)
    assert not sim.wait_receipts_idle(0.05)
    sim.reset()
    assert sim.wait_receipts_idle(1) and sim.receipts() == [] and receiver.received() == []


# --- lifecycle -------------------------------------------------------------------------------------


def test_stop_is_prompt_with_a_hang_and_open_connections() -> None:
    """stop() returns quickly even while a request hangs and a keep-alive connection is open."""
    sim = Simulator(SimConfig(script=("hang:30",))).start()
    errors: list[Exception] = []

    def hung_call() -> None:
        with requests.Session() as session:
            try:
                session.post(f"{sim.url}/sc/us/2fa/json", data=GOOD, timeout=10)
            except requests.RequestException as exc:
                errors.append(exc)

    with requests.Session() as idle:
        assert idle.get(f"{sim.url}/_sim/health", timeout=5).json() == {"ok": True}
        caller = threading.Thread(target=hung_call)
        caller.start()
        wait_for(lambda: sim.stats()["script_remaining"] == [], what="the hang to start")
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 3
        caller.join(5)
    assert not caller.is_alive()


def test_module_entry_point_serves_until_sigterm() -> None:
    """python -m pinrelay_ops.simulator prints its URL, serves, and exits 0 on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pinrelay_ops.simulator", "--port", "0", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        with requests.Session() as session:
            body = session.post(f"{url.group(0)}/sc/us/2fa/json", data=GOOD, timeout=5).json()
        assert body["messages"][0]["status"] == "0"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
