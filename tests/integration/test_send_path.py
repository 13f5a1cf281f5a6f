"""The send path through real processes: producer -> Redis -> Celery worker -> simulator."""

from __future__ import annotations

import json

import pytest
from celery import Celery

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack
from tests.support.waiting import wait_for
from worker.errors import ValidationError

TO = "16365553226"


def test_send_reaches_provider_once_and_is_submitted(live: LiveStack, fresh_sim: Simulator) -> None:
    """One send: exactly one provider call with the right params; record submitted with its id."""
    rid = live.producer.send_pin(TO, "123456", "login-1", params={"brand": "Acme"})
    record = live.wait_state(rid, {"submitted"})
    calls = fresh_sim.requests()
    assert len(calls) == 1
    params = calls[0]["params"]
    assert params["to"] == TO and params["pin"] == "123456" and params["client-ref"] == "login-1"
    assert params["api_key"] == live.settings.api_key
    assert params["api_secret"] == live.settings.api_secret
    assert params["brand"] == "Acme"
    assert record["message_id"] == calls[0]["message_id"]
    assert record["client_ref"] == "login-1" and record["attempts"] == 1
    assert record["provider_status"] == "0"


def test_throttled_and_5xx_are_retried_until_success(live: LiveStack, fresh_sim: Simulator) -> None:
    """Status 1, then HTTP 503, then success: three calls, record submitted."""
    fresh_sim.configure(script=("status:1", "http:503"))
    rid = live.producer.send_pin(TO, "222333")
    record = live.wait_state(rid, {"submitted", "error"})
    assert record["state"] == "submitted"
    assert record["attempts"] == 3
    assert len(fresh_sim.requests()) == 3


def test_permanent_code_ends_in_error_after_one_call(live: LiveStack, fresh_sim: Simulator) -> None:
    """Status 7 (barred) is not retried."""
    fresh_sim.configure(script=("status:7",))
    rid = live.producer.send_pin(TO, "444555")
    record = live.wait_state(rid, {"error"})
    assert record["provider_status"] == "7"
    assert "Number Barred" in record["error_text"]
    assert len(fresh_sim.requests()) == 1


def test_bad_credentials_leave_the_send_queued_and_open_the_route(live: LiveStack,
                                                                  fresh_sim: Simulator) -> None:
    """Status 4 is the route's fault: its breaker opens and the send waits in `queued`, not `error`
    (it goes out once the route closes: tests/integration/test_routes_live.py)."""
    fresh_sim.configure(api_secret="another-secret-99")
    store, client = live.producer.store, live.producer.redis
    breaker = f"{live.settings.key_prefix}route:sc2fa"
    try:
        rid = live.producer.send_pin(TO, "777888")
        record = wait_for(lambda: (r := live.record(rid)) and r["provider_status"] == "4" and r,
                          what="the refused attempt")
        assert record["state"] == "queued" and record["routes_tried"] == ["sc2fa"]
        assert client.hget(breaker, "state") == b"open"
        assert len(fresh_sim.requests()) == 1
    finally:
        fresh_sim.reset()
        # The waiting task finds no record and stops; the next tests start on a closed route.
        client.delete(store.key(rid), store.pin_key(rid), breaker)


def test_read_timeout_is_unconfirmed_and_not_resent(live: LiveStack, fresh_sim: Simulator) -> None:
    """A hang past the read timeout leaves the send unconfirmed after one call."""
    fresh_sim.configure(script=("hang:3",))
    rid = live.producer.send_pin(TO, "909090")
    record = live.wait_state(rid, {"unconfirmed"}, timeout=15)
    assert "no answer" in record["error_text"]
    wait_for(lambda: len(fresh_sim.requests()) >= 1, what="the hung call to be recorded")
    assert len(fresh_sim.requests()) == 1


@pytest.mark.parametrize("to", ["++16365553226", "447400123456", "123",
                                "\uff11\uff16\uff13\uff16\uff15\uff15\uff15\uff13\uff12\uff12\uff16"])
def test_bad_number_is_refused_before_enqueue(live: LiveStack, fresh_sim: Simulator, to: str) -> None:
    """Invalid input raises and leaves nothing in the queue or at the provider."""
    before = live.producer.redis.llen(live.settings.queue)
    with pytest.raises(ValidationError):
        live.producer.send_pin(to, "1234")
    assert live.producer.redis.llen(live.settings.queue) == before
    assert fresh_sim.requests() == []


def test_plain_send_task_without_pinrelay_import(live: LiveStack, fresh_sim: Simulator) -> None:
    """Another service's bare Celery app can send `pinrelay.send_pin` by name with JSON kwargs."""
    other = Celery("other-service", broker=live.settings.redis_url, set_as_current=False)
    other.conf.update(task_serializer="json")
    result = other.send_task("pinrelay.send_pin", kwargs={"to": TO, "pin": "5566", "client_ref": "ext"},
                             queue=live.settings.queue, kwargsrepr="{'pin': '[redacted]'}")
    record = live.wait_state(result.id, {"submitted"})
    assert record["client_ref"] == "ext"
    assert fresh_sim.requests()[0]["params"]["pin"] == "5566"


def test_invalid_send_task_is_recorded_as_error(live: LiveStack, fresh_sim: Simulator) -> None:
    """A bare send_task with a bad number becomes an error record, not a silent drop."""
    other = Celery("other-service", broker=live.settings.redis_url, set_as_current=False)
    result = other.send_task("pinrelay.send_pin", kwargs={"to": "12", "pin": "5566"},
                             queue=live.settings.queue)
    record = live.wait_state(result.id, {"error"})
    assert "invalid request" in record["error_text"]
    assert fresh_sim.requests() == []


def test_no_pin_or_secret_in_worker_logs(live: LiveStack, fresh_sim: Simulator) -> None:
    """The worker's JSON log lines carry attempts but never the PIN, the secret or the number."""
    rid = live.producer.send_pin(TO, "86420864", "log-check")
    live.wait_state(rid, {"submitted"})
    wait_for(lambda: rid in live.worker_log(), what="the attempt to be logged")
    text = live.worker_log()
    assert "86420864" not in text
    assert live.settings.api_secret not in text
    assert TO not in text
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    attempts = [e for e in events if e.get("event") == "provider_attempt" and e.get("request_id") == rid]
    assert attempts and attempts[0]["decision"] == "accepted"
    assert attempts[0]["message_id"] and attempts[0]["to"].endswith("****")


def test_idempotency_key_returns_the_same_request(live: LiveStack, fresh_sim: Simulator) -> None:
    """Enqueueing twice with one idempotency key sends one PIN and returns one id."""
    first = live.producer.send_pin(TO, "1212", idempotency_key="order-77")
    second = live.producer.send_pin(TO, "1212", idempotency_key="order-77")
    assert first == second
    live.wait_state(first, {"submitted"})
    assert len(fresh_sim.requests()) == 1


def test_bulk_send_pins_are_all_delivered_once(live: LiveStack, fresh_sim: Simulator) -> None:
    """send_pins writes records and task messages in one pipeline; a worker sends each once."""
    from worker.enqueue.producer import PinSpec

    specs = [PinSpec(f"1636555{1000 + i:04d}", f"{4000 + i}", f"bulk-{i}") for i in range(40)]
    ids = live.producer.send_pins(specs)
    assert len(set(ids)) == 40
    for rid in ids:
        live.wait_state(rid, {"submitted"})
    calls = fresh_sim.requests()
    assert sorted(c["params"]["client-ref"] for c in calls) == sorted(f"bulk-{i}" for i in range(40))
