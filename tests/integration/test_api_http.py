"""The HTTP API over real HTTP: `pinrelay api` (granian) in front of a real worker and simulator.

What a service in another language sees: the status codes, the stable error codes, the
headers, and on the simulator's ledger whether a PIN was sent (once) or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.api import CALLBACK_SECRET, VERIFY_SECRET, Client, cli, create_key, error_code
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for

TO = "16365553226"
SETTLED = {"submitted", "delivered", "accepted"}
JSON = {"Content-Type": "application/json"}


STRICT: dict[str, str] = {}  # name -> URL of the API processes with the strict settings


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("api-http"), callback_secret=CALLBACK_SECRET,
                       verify_secret=VERIFY_SECRET, api_rate_per_key=1000.0)
    try:
        stack.stack.start_api()
        # Two more API processes that share a strict limit (one request per 5 s per key, so no
        # pause of a loaded machine lets a second one through) and refuse private callback hosts,
        # as a default deployment does.
        for name in ("strict_a", "strict_b"):
            STRICT[name] = stack.stack.start_api(name=name, PINRELAY_API_RATE_PER_KEY="0.2",
                                                 PINRELAY_CALLBACK_ALLOW_PRIVATE="0")
        yield stack
    finally:
        STRICT.clear()
        stop_live(stack)


@pytest.fixture
def api(live: LiveStack) -> Iterator[Client]:
    live.sim.reset()
    client = Client(live.stack.api_url or "", create_key(live.settings)["key"])
    yield client
    client.close()


def sent_pins(sim: Simulator) -> list[str]:
    """Every PIN the simulator was asked to send, in order (its ledger)."""
    return [str(r["params"].get("pin", "")) for r in sim.requests()]


def strict(live: LiveStack, name: str, key: str) -> Client:
    return Client(STRICT[name], key)


def test_a_pin_sent_over_http_reaches_the_provider_and_reads_back(live: LiveStack, api: Client) -> None:
    """202 {"id"}; the simulator gets that PIN for that number; GET shows the record move on."""
    pin = "730145"
    answer = api.post("/v1/pins", json={"to": TO, "pin": pin, "client_ref": "http-1"})
    assert answer.status_code == 202 and answer.headers["Content-Type"] == "application/json"
    rid = answer.json()["id"]
    record = wait_for(lambda: (r := api.get(f"/v1/pins/{rid}").json())["state"] in SETTLED and r, 20,
                      "the send to be submitted")
    assert record["id"] == rid and record["client_ref"] == "http-1" and record["message_id"]
    assert live.sim.accepted_count(TO, pin, "http-1") == 1 and sent_pins(live.sim) == [pin]
    assert set(record) >= {"id", "to", "state", "message_id", "attempts", "created_at", "submitted_at"}


def test_a_repeated_idempotency_key_sends_once(live: LiveStack, api: Client) -> None:
    """Three POSTs with one Idempotency-Key: the same id each time, one call on the provider's ledger."""
    pin, key = "551902", f"order-{uuid.uuid4().hex}"
    ids = set()
    for _ in range(3):
        answer = api.post("/v1/pins", json={"to": TO, "pin": pin}, headers={"Idempotency-Key": key})
        assert answer.status_code in (200, 202)
        ids.add(answer.json()["id"])
    (rid,) = ids
    wait_for(lambda: api.get(f"/v1/pins/{rid}").json()["state"] in SETTLED, 20, "the send")
    assert live.sim.accepted_count(TO, pin, rid) == 1
    assert sent_pins(live.sim).count(pin) == 1
    assert api.get(f"/v1/pins/{rid}").json()["idempotency_key"] == key


def test_bad_input_is_refused_and_never_sent(live: LiveStack, api: Client) -> None:
    """400/415/422 with their codes; the provider never hears of those PINs."""
    cases = [
        (api.post("/v1/pins", json={"to": "6365553226", "pin": "100001"}), 422, "invalid_number"),
        (api.post("/v1/pins", json={"to": TO, "pin": "1"}), 422, "invalid_pin"),
        (api.post("/v1/pins", json={"to": TO, "pin": "100003", "colour": "red"}), 422, "invalid_request"),
        (api.post("/v1/pins", data="{not json", headers=JSON), 400, "invalid_request"),
        (api.post("/v1/pins", data="to=1&pin=100004"), 415, "unsupported_media_type"),
        (api.post("/v1/pins", data="{" + " " * 20000 + "}", headers=JSON), 413, "payload_too_large"),
        (api.post("/v1/pins", json={"to": TO, "pin": "100005", "callback_url": "file:///etc/passwd"}),
         422, "invalid_callback_url"),
    ]
    for answer, status, code in cases:
        assert (answer.status_code, error_code(answer)) == (status, code), answer.text
    assert api.get("/v1/pins/00000000000000000000000000000000").status_code == 404
    wrong_method = api.get("/v1/pins")
    assert (wrong_method.status_code, wrong_method.headers["Allow"]) == (405, "POST")
    assert not [pin for pin in sent_pins(live.sim) if pin.startswith("10000")]


def test_no_key_a_wrong_key_and_a_revoked_key_are_401(live: LiveStack) -> None:
    """`pinrelay keys revoke` takes effect at once on every API process."""
    created = create_key(live.settings, "to-revoke")
    a, b = Client(live.stack.api_url or "", created["key"]), strict(live, "strict_a", created["key"])
    assert a.get("/v1/pins/abc").status_code == 404 and b.get("/v1/pins/abc").status_code == 404
    done = cli(live.settings, "keys", "revoke", created["id"])
    assert done.returncode == 0 and json.loads(done.stdout)["revoked_at"]
    base = live.stack.api_url or ""
    for client in (a, b, Client(base, None), Client(base, "pk_wrong")):
        answer = client.post("/v1/pins", json={"to": TO, "pin": "200001"})
        assert (answer.status_code, error_code(answer)) == (401, "unauthorized")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    listing = cli(live.settings, "keys", "list")
    assert listing.returncode == 0 and created["key"] not in listing.stdout
    assert {k["id"]: k["revoked_at"] is not None for k in json.loads(listing.stdout)}[created["id"]]
    assert "200001" not in sent_pins(live.sim)


def test_the_per_key_limit_is_shared_by_api_processes(live: LiveStack) -> None:
    """One request per 5 s per key: the next, to another API process, is 429 with Retry-After."""
    key = create_key(live.settings, "limited")["key"]
    first = strict(live, "strict_a", key).get("/v1/pins/abc")
    second = strict(live, "strict_b", key).get("/v1/pins/abc")
    assert first.status_code == 404
    assert (second.status_code, error_code(second)) == (429, "rate_limited")
    assert int(second.headers["Retry-After"]) >= 1
    other_key = strict(live, "strict_b", create_key(live.settings, "other")["key"])
    assert other_key.get("/v1/pins/abc").status_code == 404  # the limit is per key


# Inside hosts in every spelling the issue found (issue 23 finding 5): 6to4 of 127.0.0.1 and of the
# cloud metadata address, site-local, Teredo, NAT64 and IPv4-compatible forms, internal names.
INSIDE_CALLBACKS = (
    "http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/x",
    "http://[2002:7f00:1::1]/", "http://[2002:a9fe:a9fe::1]/", "http://[fec0::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[::7f00:1]/",
    "http://[::ffff:10.0.0.1]/", "http://redis/", "http://redis:6379/", "http://correlator.internal/",
)


def test_a_private_callback_host_is_refused_without_the_switch(live: LiveStack) -> None:
    """Default deployment: every inside host is 422 `invalid_callback_url` with one and the same
    message, which names no address (nor whether the name resolved), and nothing is sent."""
    messages = set()
    for url in INSIDE_CALLBACKS:
        client = strict(live, "strict_b", create_key(live.settings, "ssrf")["key"])  # one request per key
        answer = client.post("/v1/pins", json={"to": TO, "pin": "300001", "callback_url": url})
        assert (answer.status_code, error_code(answer)) == (422, "invalid_callback_url"), url
        messages.add(answer.json()["error"]["message"])
    (message,) = messages
    assert "public host" in message
    assert not any(word in message for word in ("127.0.0.1", "169.254", "resolve to a", "does not resolve"))
    assert "300001" not in sent_pins(live.sim)


def test_health_metrics_and_the_document(live: LiveStack, api: Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "redis": True}
    assert api.get("/readyz").status_code == 200
    assert api.get("/openapi.json").json()["openapi"] == "3.1.0"
    api.get("/v1/pins/abc")
    assert 'pinrelay_api_requests_total{route="GET /v1/pins/{id}",status="404"}' in api.get("/metrics").text


def code_sent_for(live: LiveStack, api: Client, verification_id: str) -> str:
    """The code the simulator got for the verification's latest send (matched by message-id)."""
    def found() -> str | None:
        sends = api.get(f"/v1/verifications/{verification_id}").json()["sends"]
        by_message = {r["message_id"]: r["params"].get("pin") for r in live.sim.requests() if r["message_id"]}
        return by_message.get(sends[-1]["message_id"]) if sends and sends[-1]["message_id"] else None

    code: str = wait_for(found, 20, "the verification's code at the provider")
    return code


def test_a_verification_is_started_checked_and_read_over_http(live: LiveStack, api: Client) -> None:
    """Start (202), a wrong code (200 wrong_code, one attempt used), the right one (approved), then used."""
    answer = api.post("/v1/verifications", json={"to": TO, "client_ref": "signup-9"})
    assert answer.status_code == 202
    vid = answer.json()["id"]
    code = code_sent_for(live, api, vid)
    wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
    checked = api.post(f"/v1/verifications/{vid}/check", json={"code": wrong})
    assert checked.status_code == 200
    assert checked.json() == {"id": vid, "status": "wrong_code", "attempts_left": 4}
    assert api.post(f"/v1/verifications/{vid}/check", json={"code": code}).json()["status"] == "approved"
    assert api.post(f"/v1/verifications/{vid}/check", json={"code": code}).json()["status"] == "used"
    shown = api.get(f"/v1/verifications/{vid}").json()
    assert shown["state"] == "approved" and shown["client_ref"] == "signup-9" and shown["to"].endswith("****")
    assert code not in json.dumps(shown)
    refused = api.post(f"/v1/verifications/{vid}/resend")
    assert (refused.status_code, error_code(refused)) == (409, "resend_refused")


def test_a_resend_sends_a_new_code_and_the_old_one_stops_working(live: LiveStack, api: Client) -> None:
    vid = api.post("/v1/verifications", json={"to": TO}).json()["id"]
    first = code_sent_for(live, api, vid)
    resent = api.post(f"/v1/verifications/{vid}/resend")
    assert (resent.status_code, resent.json()) == (202, {"id": vid})
    wait_for(lambda: len(api.get(f"/v1/verifications/{vid}").json()["sends"]) == 2, 10, "the second send")
    second = code_sent_for(live, api, vid)
    check = f"/v1/verifications/{vid}/check"
    if first != second:
        assert api.post(check, json={"code": first}).json()["status"] == "wrong_code"
    assert api.post(check, json={"code": second}).json()["status"] == "approved"


def test_verification_errors(live: LiveStack, api: Client) -> None:
    """Bad number, bad length, a code that is not digits: 422; an unknown id: 404 everywhere."""
    cases = [
        (api.post("/v1/verifications", json={"to": "123"}), 422, "invalid_number"),
        (api.post("/v1/verifications", json={"to": TO, "length": 3}), 422, "invalid_request"),
        (api.post("/v1/verifications", json={"to": TO, "ttl": 100000}), 422, "invalid_request"),
        (api.post(f"/v1/verifications/{'a' * 32}/check", json={"code": "12ab"}), 422, "invalid_code"),
        (api.post(f"/v1/verifications/{'a' * 32}/check", json={"code": "123456"}), 404, "not_found"),
        (api.post(f"/v1/verifications/{'a' * 32}/resend"), 404, "not_found"),
        (api.get(f"/v1/verifications/{'a' * 32}"), 404, "not_found"),
        (api.post("/v1/verifications/nope/resend", json={"extra": 1}), 422, "invalid_request"),
    ]
    for answer, status, code in cases:
        assert (answer.status_code, error_code(answer)) == (status, code), answer.text
