"""The simulator's SMS API and Twilio routes over real HTTP: answers, DLRs, signed status callbacks,
per-route faults and per-route counts."""

from __future__ import annotations

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
from webhook.twilio.signature import verify_twilio
from worker.signing import verify

CREDS = {"api_key": "demo-key", "api_secret": "demo-secret-0123"}
SMS = {**CREDS, "from": "12015550123", "to": "447700900000", "text": "Your code is 481516"}
TWOFA = {**CREDS, "to": "16365553226", "pin": "1234"}
SID, TOKEN = SimConfig.twilio_account_sid, SimConfig.twilio_auth_token
TWILIO = {"To": "+14155550100", "From": "+12015550123", "Body": "Your code is 481516"}
FAST = {
    "dlr_delay_s": 0.01,
    "dlr_gap_s": 0.03,
    "dlr_retry_initial_s": 0.05,
    "dlr_retry_max_s": 0.2,
    "dlr_retry_window_s": 3.0,
    "dlr_read_timeout_s": 1.0,
    "dlr_mix": {"delivered": 1},
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
    """A webhook that records each hit: method, the full URL it was called on, headers, params
    (query and body merged) and ``form`` (the body's params alone, which Twilio signs)."""

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
                self.record(b"")

            def do_POST(self) -> None:
                self.record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def record(self, body: bytes) -> None:
                ctype = self.headers.get("Content-Type", "")
                params = dict(parse_qsl(urlsplit(self.path).query))
                is_json = ctype.startswith("application/json")
                form = dict(parse_qsl(body.decode())) if body and not is_json else {}
                params.update(json.loads(body) if is_json else form)
                with receiver.lock:
                    status = receiver.answers.popleft() if receiver.answers else 200
                    receiver.hits.append({
                        "method": self.command, "url": f"{receiver.base}{self.path}", "params": params,
                        "form": form, "headers": dict(self.headers.items()), "content_type": ctype,
                    })
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

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
    barred, opted_out = frozenset({"447700900007", "14155550107"}), frozenset({"+14155550199"})
    config = SimConfig(barred=barred, opted_out=opted_out)
    with Simulator(config) as sim:
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


def sms(http: requests.Session, sim: Simulator, **params: str) -> dict[str, Any]:
    response = http.post(f"{sim.url}/sms/json", data=params, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["message-count"] == str(len(body["messages"]))
    return body


def twilio(
    http: requests.Session,
    sim: Simulator,
    auth: tuple[str, str] = (SID, TOKEN),
    sid: str = SID,
    **params: str,
) -> requests.Response:
    url = f"{sim.url}/2010-04-01/Accounts/{sid}/Messages.json"
    return http.post(url, data=params, auth=auth, timeout=5)


# --- the SMS API -------------------------------------------------------------------------------------


def test_sms_is_accepted_and_recorded_on_its_route(sim: Simulator, http: requests.Session) -> None:
    """POST /sms/json: status 0 with every value a string; the ledger says route sms, 2FA untouched."""
    body = sms(http, sim, **SMS, **{"client-ref": "otp-1"})
    message = body["messages"][0]
    assert body["message-count"] == "1" and message["status"] == "0" and message["client-ref"] == "otp-1"
    assert all(isinstance(v, str) for v in message.values())
    routes = http.get(f"{sim.url}/_sim/stats", timeout=5).json()["routes"]
    assert (routes["sms"]["requests"], routes["sms"]["accepted"], routes["sc2fa"]["requests"]) == (1, 1, 0)
    recorded = http.get(f"{sim.url}/_sim/requests", params={"route": "sms"}, timeout=5).json()
    assert len(recorded) == 1 and recorded[0]["route"] == "sms" and recorded[0]["path"] == "/sms/json"
    assert recorded[0]["message_id"] == message["message-id"] and recorded[0]["accepted"] is True
    assert http.get(f"{sim.url}/_sim/requests", params={"route": "twilio"}, timeout=5).json() == []


def test_sms_other_encodings_and_basic_auth(sim: Simulator, http: requests.Session) -> None:
    """GET with a query, a JSON body, and Basic credentials instead of body ones are all accepted."""
    assert http.get(f"{sim.url}/sms/json", params=SMS, timeout=5).json()["messages"][0]["status"] == "0"
    as_json = http.post(f"{sim.url}/sms/json", json=SMS, timeout=5).json()
    assert as_json["messages"][0]["status"] == "0"
    bare = {k: v for k, v in SMS.items() if k not in CREDS}
    basic = http.post(f"{sim.url}/sms/json", data=bare, auth=("demo-key", "demo-secret-0123"), timeout=5)
    assert basic.json()["messages"][0]["status"] == "0"
    assert sim.requests(route="sms")[-1]["auth"] == "basic"
    assert len(sim.requests(route="sms")) == sim.stats()["routes"]["sms"]["requests"] == 3


def test_sms_refusals_have_only_status_and_text(sim: Simulator, http: requests.Session) -> None:
    """Barred is 7; an alphanumeric sender to the US is 15; the entry has no other key."""
    assert sms(http, sim, **dict(SMS, to="447700900007"))["messages"] == [
        {"status": "7", "error-text": "Number Barred"}
    ]
    assert sms(http, sim, **dict(SMS, to="16365553226", **{"from": "Acme"}))["messages"][0]["status"] == "15"
    assert sim.stats()["routes"]["sms"]["outcomes"] == {"status:7": 1, "status:15": 1}


def test_long_sms_gets_one_signed_dlr_per_part(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """A 2-part unicode text: two ids, and a signed DLR for each to dlr_url with to = our from."""
    sim.configure(dlr_url=f"{receiver.base}/dlr", signature_secret="dlr-secret", signature_method="sha256",
                  dlr_transport="json", **FAST)
    body = sms(http, sim, **dict(SMS, text="Código " * 12, type="unicode"), **{"client-ref": "otp-2"})
    ids = [m["message-id"] for m in body["messages"]]
    assert body["message-count"] == "2" and len(set(ids)) == 2
    hits = wait_for(lambda: len(receiver.received()) == 2 and receiver.received(), what="two DLRs")
    assert sorted(h["params"]["messageId"] for h in hits) == sorted(ids)
    for hit in hits:
        params = hit["params"]
        assert params["to"] == "12015550123" and params["msisdn"] == SMS["to"]
        assert params["client-ref"] == "otp-2" and params["status"] == "delivered"
        assert verify(params, "dlr-secret", "sha256")
    assert {r["route"] for r in sim.receipts()} == {"sms"}


def test_sms_callback_overrides_and_status_report_req_off(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """callback sends the DLR there instead of dlr_url; status-report-req=0 sends none."""
    sim.configure(dlr_url=f"{receiver.base}/default", **FAST)
    sms(http, sim, **SMS, callback=f"{receiver.base}/per-message")
    sms(http, sim, **SMS, **{"status-report-req": "0"})
    assert sim.wait_receipts_idle(5)
    assert [urlsplit(h["url"]).path for h in receiver.received()] == ["/per-message"]


# --- Twilio ---------------------------------------------------------------------------------------------


def test_twilio_create_answers_201_queued(sim: Simulator, http: requests.Session) -> None:
    """201 with sid SM..., status queued, to/from/body echoed; recorded on route twilio."""
    response = twilio(http, sim, **TWILIO)
    body = response.json()
    assert response.status_code == 201 and response.headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"]) and body["status"] == "queued"
    assert (body["to"], body["from"], body["body"], body["account_sid"]) == (
        TWILIO["To"], TWILIO["From"], TWILIO["Body"], SID,
    )
    record = sim.requests(route="twilio")[0]
    assert (record["status"], record["http_status"], record["message_id"]) == ("queued", 201, body["sid"])
    assert sim.stats()["routes"]["twilio"]["outcomes"] == {"status:queued": 1}
    assert sim.accepted_count(TWILIO["To"], TWILIO["Body"], route="twilio") == 1


@pytest.mark.parametrize(
    ("auth", "sid", "status", "code"),
    [
        ((SID, "wrong-token"), SID, 401, 20003),
        (("nobody", ""), SID, 401, 20003),
        ((SID, TOKEN), "AC" + "7" * 32, 404, 20404),
    ],
)
def test_twilio_auth_failures(
    sim: Simulator, http: requests.Session, auth: tuple[str, str], sid: str, status: int, code: int
) -> None:
    """A wrong token or user is 401 / 20003; another account's URL is 404 / 20404; all in error JSON."""
    response = twilio(http, sim, auth=auth, sid=sid, **TWILIO)
    body = response.json()
    assert response.status_code == status and body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def test_twilio_param_errors(sim: Simulator, http: requests.Session) -> None:
    """To without + is 400 / 21211; an opted-out recipient is 400 / 21610; nothing is accepted."""
    assert twilio(http, sim, **dict(TWILIO, To="14155550100")).json()["code"] == 21211
    assert twilio(http, sim, **dict(TWILIO, To="+14155550199")).json()["code"] == 21610
    assert sim.stats()["routes"]["twilio"]["accepted"] == 0


def test_twilio_signed_callbacks_sent_then_delivered(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """StatusCallback gets sent, then delivered: form POSTs whose X-Twilio-Signature verifies."""
    sim.configure(**FAST)
    callback = f"{receiver.base}/twilio-status-webhook?route=tw1"
    sid = twilio(http, sim, **TWILIO, StatusCallback=callback).json()["sid"]
    hits = wait_for(lambda: len(receiver.received()) == 2 and receiver.received(), what="two callbacks")
    assert [h["params"]["MessageStatus"] for h in hits] == ["sent", "delivered"]
    for hit in hits:
        params = hit["params"]
        assert hit["method"] == "POST" and hit["url"] == callback
        assert hit["content_type"].startswith("application/x-www-form-urlencoded")
        assert (params["MessageSid"], params["SmsSid"], params["AccountSid"]) == (sid, sid, SID)
        assert (params["To"], params["From"]) == (TWILIO["To"], TWILIO["From"])
        assert params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in params
        signature = hit["headers"]["X-Twilio-Signature"]
        assert verify_twilio(TOKEN, hit["url"], hit["form"], signature)  # body params only: B.5
        assert not verify_twilio(TOKEN, hit["url"], dict(hit["form"], MessageStatus="failed"), signature)
        assert not verify_twilio(TOKEN, hit["url"].replace("tw1", "tw2"), hit["form"], signature)
    assert re.fullmatch(r"\d{10}", hits[1]["params"]["RawDlrDoneDate"])


def test_twilio_messaging_service_uses_its_status_url(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """With a Messaging Service and no StatusCallback: 201 accepted, callbacks to twilio_status_url."""
    sim.configure(twilio_status_url=f"{receiver.base}/service", **FAST)
    service = sim.config.twilio_messaging_service_sid
    body = twilio(http, sim, To="+14155550100", Body="x", MessagingServiceSid=service).json()
    assert body["status"] == "accepted" and body["from"] is None
    hits = wait_for(lambda: len(receiver.received()) == 2 and receiver.received(), what="two callbacks")
    assert {h["params"]["MessagingServiceSid"] for h in hits} == {sim.config.twilio_messaging_service_sid}
    assert {h["params"]["From"] for h in hits} == {"+12015550123"}


def test_twilio_barred_number_ends_undelivered_30004(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """A barred number is accepted, then reported undelivered with ErrorCode 30004."""
    sim.configure(**FAST)
    twilio(http, sim, **dict(TWILIO, To="+14155550107"), StatusCallback=f"{receiver.base}/cb")
    hits = wait_for(lambda: len(receiver.received()) == 2 and receiver.received(), what="two callbacks")
    assert [(h["params"]["MessageStatus"], h["params"].get("ErrorCode")) for h in hits] == [
        ("sent", None), ("undelivered", "30004"),
    ]


def test_twilio_callback_is_retried_once_then_dropped(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """A callback answered 500 twice is pushed twice (one retry, Twilio's default) and abandoned."""
    receiver.answers.extend([500, 500])
    sim.configure(**dict(FAST, dlr_mix={"failed": 1}))
    twilio(http, sim, **TWILIO, StatusCallback=f"{receiver.base}/cb")
    assert sim.wait_receipts_idle(5)
    assert len(receiver.received()) == 2
    receipt = sim.receipts()[0]
    assert (receipt["status"], receipt["state"], receipt["attempts"]) == ("failed", "abandoned", 2)


# --- per-route faults over /_sim/config -------------------------------------------------------------------


def test_route_key_breaks_one_route_only(sim: Simulator, http: requests.Session) -> None:
    """{"route": ..., "error_rates": {"auth": 1}}: credentials errors on that route; the others work."""
    for route in ("sms", "twilio"):
        response = http.post(f"{sim.url}/_sim/config", json={"route": route, "error_rates": {"auth": 1.0}},
                             timeout=5)
        assert response.status_code == 200 and route in response.json()["routes"]
    assert sms(http, sim, **SMS)["messages"][0] == {"status": "4", "error-text": "Bad Credentials"}
    refused = twilio(http, sim, **TWILIO)
    assert (refused.status_code, refused.json()["code"]) == (401, 20003)
    ok = http.post(f"{sim.url}/sc/us/2fa/json", data=TWOFA, timeout=5).json()["messages"][0]
    assert ok["status"] == "0"
    routes = sim.stats()["routes"]
    assert routes["sms"]["faults"] == {"auth": 1} and routes["twilio"]["outcomes"] == {"status:20003": 1}
    bad = http.post(f"{sim.url}/_sim/config", json={"route": "sms", "api_key": "x"}, timeout=5)
    assert bad.status_code == 400 and "per route" in bad.json()["error"]


def test_route_script_of_5xx_then_normal(sim: Simulator, http: requests.Session) -> None:
    """A route's script answers 503 twice on that route, while a top-level script stays on the others."""
    sim.configure(route="twilio", script=["http:503*2"])
    assert [twilio(http, sim, **TWILIO).status_code for _ in range(3)] == [503, 503, 201]
    assert sim.stats()["routes"]["twilio"]["script_remaining"] == []
    sim.configure(script=["http:500"])
    assert twilio(http, sim, **TWILIO).status_code == 201  # twilio keeps its own (used-up) script
    assert http.post(f"{sim.url}/sms/json", data=SMS, timeout=5).status_code == 500
    assert http.post(f"{sim.url}/sc/us/2fa/json", data=TWOFA, timeout=5).status_code == 500


def test_route_faults_speak_each_providers_language(sim: Simulator, http: requests.Session) -> None:
    """status:1 on sms is a throttle entry; on twilio 429:2 is 20429 JSON with Retry-After,
    status:21611 its 400 JSON, and garbage an HTML 200."""
    sim.configure(route="sms", script=["status:1"])
    throttled = sms(http, sim, **SMS)["messages"][0]
    assert throttled["status"] == "1" and re.fullmatch(r"Throughput Rate Exceeded - please wait \[ \d+ \] "
                                                       r"and retry", throttled["error-text"])
    sim.configure(route="twilio", script=["429:2", "status:21611", "garbage"])
    first, second, third = (twilio(http, sim, **TWILIO) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"], first.json()["code"]) == (429, "2", 20429)
    assert (second.status_code, second.json()["code"]) == (400, 21611)
    assert third.status_code == 200 and third.headers["Content-Type"].startswith("text/html")
    assert sim.stats()["routes"]["twilio"]["outcomes"] == {"status:20429": 1, "status:21611": 1, "garbage": 1}


def test_route_delivers_only_failed_receipts(
    sim: Simulator, http: requests.Session, receiver: Receiver
) -> None:
    """dlr_mix {"failed": 1} on sms: its DLRs fail while twilio's callbacks still end delivered."""
    sim.configure(dlr_url=f"{receiver.base}/dlr", **FAST)
    sim.configure(route="sms", dlr_mix={"failed": 1})
    sms(http, sim, **SMS)
    twilio(http, sim, **TWILIO, StatusCallback=f"{receiver.base}/cb")
    assert sim.wait_receipts_idle(5)
    by_path = {urlsplit(h["url"]).path: h["params"] for h in receiver.received()}
    assert by_path["/dlr"]["status"] == "failed" and by_path["/dlr"]["err-code"] != "0"
    assert by_path["/cb"]["MessageStatus"] == "delivered"


def test_route_throughput_limit_is_429_20429_on_twilio(sim: Simulator, http: requests.Session) -> None:
    """rate_limit_per_s 2 on twilio: the third call in a burst is 429 / 20429; 2FA is not limited."""
    sim.configure(route="twilio", rate_limit_per_s=2)
    answers = [twilio(http, sim, **TWILIO) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429] and answers[2].json()["code"] == 20429
    twofa = [http.post(f"{sim.url}/sc/us/2fa/json", data=TWOFA, timeout=5).json() for _ in range(3)]
    assert {m["messages"][0]["status"] for m in twofa} == {"0"}


def test_reset_forgets_route_overrides(sim: Simulator, http: requests.Session) -> None:
    """After a reset the route answers normally again and its counts are zero."""
    sim.configure(route="sms", error_rates={"http:503": 1.0})
    assert http.post(f"{sim.url}/sms/json", data=SMS, timeout=5).status_code == 503
    assert http.post(f"{sim.url}/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.config.routes == {} and sim.stats()["routes"]["sms"]["requests"] == 0
    assert sms(http, sim, **SMS)["messages"][0]["status"] == "0"


def test_module_entry_point_takes_route_options() -> None:
    """`python -m pinrelay_ops.simulator --route-error-rate twilio:auth=1`: Twilio refuses, SMS accepts."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pinrelay_ops.simulator", "--port", "0",
         "--route-error-rate", "twilio:auth=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert url
        with requests.Session() as session:
            refused = session.post(f"{url.group(0)}/2010-04-01/Accounts/{SID}/Messages.json", data=TWILIO,
                                   auth=(SID, TOKEN), timeout=5)
            accepted = session.post(f"{url.group(0)}/sms/json", data=SMS, timeout=5).json()
        assert refused.status_code == 401 and accepted["messages"][0]["status"] == "0"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
