"""Ory Kratos's courier against a running pinrelay: the shipped template's output, posted as
Kratos posts it (the evaluator's bytes, the headers of ops/kratos/courier.yml with a key from
`pinrelay keys create`), to the real `pinrelay api` in front of a real worker; the simulator's
ledger shows each code reach the provider for the right number, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.api import create_key, error_code
from tests.support.kratos import CODE_FIELD, courier_channel, courier_headers, evaluate, message_context
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for

IDENTITY = "0c5a1f2e-8d3b-4f6a-9e7c-1b2d3e4f5a60"
# One number per template type, so each send is told apart on the provider's ledger.
CASES = [
    ("verification_code_valid", "+16365553201", "204611"),
    ("login_code_valid", "+16365553202", "318027"),
    ("registration_code_valid", "+16365553203", "550932"),
    ("recovery_code_valid", "+16365553204", "771485"),
]
assert sorted(t for t, _, _ in CASES) == sorted(t for t, field in CODE_FIELD.items() if field)


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("kratos"))
    try:
        stack.stack.start_api()
        yield stack
    finally:
        stop_live(stack)


def post_as_kratos(live: LiveStack, body: str, key: str) -> requests.Response:
    """POST ``body`` the way Kratos's HTTP channel does with the shipped configuration: its
    method and path (on this test's API), its headers, the evaluator's output as is."""
    request = courier_channel()["request_config"]
    url = (live.stack.api_url or "") + urlsplit(request["url"]).path
    return requests.request(request["method"], url, data=body.encode(), headers=courier_headers(key),
                            timeout=10)


def test_every_kratos_code_reaches_the_provider_once(live: LiveStack) -> None:
    live.sim.reset()
    key = create_key(live.settings, "kratos")["key"]
    for template_type, phone, code in CASES:
        body = evaluate(message_context(template_type, phone, code, IDENTITY))
        answer = post_as_kratos(live, body, key)
        assert answer.status_code == 202, (template_type, answer.text)  # 2xx: Kratos marks it sent
        request_id = answer.json()["id"]
        record = live.wait_state(request_id, {"submitted", "accepted", "delivered"})
        # Registration passes only traits (no identity id yet): no client_ref, so the provider
        # gets the request id as its client-ref.
        client_ref = None if template_type == "registration_code_valid" else IDENTITY
        assert (record["to"], record["client_ref"]) == (phone.removeprefix("+"), client_ref)
        assert live.sim.accepted_count(record["to"], code, client_ref or request_id) == 1, template_type
    sent = wait_for(lambda: len(reqs := live.sim.requests()) >= len(CASES) and reqs, 10, "the provider calls")
    assert sorted((r["params"]["to"], r["params"]["pin"]) for r in sent) == sorted(
        (phone.removeprefix("+"), code) for _, phone, code in CASES)


def test_a_number_pinrelay_refuses_is_a_failed_dispatch_for_kratos(live: LiveStack) -> None:
    """A number outside the allowed regions: 422 invalid_number (Kratos counts a non-2xx as a
    failed dispatch and retries it), and nothing reaches the provider."""
    live.sim.reset()
    key = create_key(live.settings, "kratos-refused")["key"]
    body = evaluate(message_context("login_code_valid", "+442079460958", "909090", IDENTITY))
    answer = post_as_kratos(live, body, key)
    assert (answer.status_code, error_code(answer)) == (422, "invalid_number")
    assert json.loads(body) == {"to": "442079460958", "pin": "909090", "client_ref": IDENTITY}
    assert not [r for r in live.sim.requests() if r["params"].get("pin") == "909090"]
