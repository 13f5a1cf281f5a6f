"""Enqueue on a shared Redis broker: the record and its task message in one script, against a real Redis.

The worker side of these messages (a real Celery worker consuming them) is covered by
tests/integration/test_send_path.py; here the message itself, the idempotency rules and
the round trips are checked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from worker.config import Settings
from worker.constants import TASK_SEND_PIN
from worker.enqueue.abuse import AbuseGuard
from worker.enqueue.producer import PinSpec, Producer
from worker.enqueue.task_message import SendTaskMessages
from worker.errors import AbuseLimitError
from worker.worker_app import create_app

TO = "16365553226"


@pytest.fixture
def app(settings: Settings) -> Iterator[Celery]:
    celery = create_app(settings)
    yield celery
    celery.close()


def queued(client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """The task messages waiting in the settings' queue, oldest first."""
    return [json.loads(raw) for raw in reversed(client.lrange(settings.queue, 0, -1))]


def kwargs_of(message: dict[str, Any]) -> dict[str, Any]:
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == []
    return dict(kwargs)


def test_send_pin_stores_the_record_and_pushes_its_task_together(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """One send_pin leaves a queued record and exactly one send_pin task naming it."""
    rid = Producer(settings, app, redis_client).send_pin(TO, "4321")
    (message,) = queued(redis_client, settings)
    assert message["headers"]["task"] == TASK_SEND_PIN
    assert message["headers"]["id"] == rid
    assert message["properties"]["delivery_info"]["routing_key"] == settings.queue
    assert kwargs_of(message) == {"request_id": rid}
    assert "4321" not in json.dumps(message)  # the PIN stays in Redis, never in a message
    record = redis_client.hgetall(f"{settings.key_prefix}req:{rid}")
    assert record[b"state"] == b"queued"


def test_a_repeated_idempotency_key_pushes_nothing_and_spends_no_limit(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """With 1 PIN per number per 10 min, the repeat still answers the first id; a new send is refused."""
    producer = Producer(settings.replace(per_number_10min=1), app, redis_client)
    first = producer.send_pin(TO, "1111", idempotency_key="login-1")
    assert producer.send_pin(TO, "1111", idempotency_key="login-1") == first
    assert len(queued(redis_client, settings)) == 1
    with pytest.raises(AbuseLimitError):
        producer.send_pin(TO, "2222", idempotency_key="login-2")
    assert len(queued(redis_client, settings)) == 1


def test_admit_answers_the_earlier_request_without_counting(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """admit() with a known idempotency key returns its request id and leaves the windows alone."""
    guard = AbuseGuard(settings.replace(per_number_10min=1), redis_client)
    repeat_key = f"{settings.key_prefix}idem:order-9"
    assert guard.admit(TO, repeat_key) is None  # counted: the one allowed send
    redis_client.set(repeat_key, "earlier-request")
    assert guard.admit(TO, repeat_key) == "earlier-request"
    with pytest.raises(AbuseLimitError):
        guard.admit(TO)


def test_admit_without_limits_still_finds_the_repeat(settings: Settings, redis_client: redis.Redis) -> None:
    guard = AbuseGuard(settings, redis_client)
    repeat_key = f"{settings.key_prefix}idem:order-10"
    assert guard.admit(TO, repeat_key) is None
    redis_client.set(repeat_key, "earlier-request")
    assert guard.admit(TO, repeat_key) == "earlier-request"


def test_bulk_with_idempotency_keys_pushes_only_new_requests(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """send_pins with a key already used returns the earlier id and queues one task per new request."""
    producer = Producer(settings, app, redis_client)
    earlier = producer.send_pin("16365550001", "1000", idempotency_key="k-1")
    ids = producer.send_pins([PinSpec("16365550001", "1000", idempotency_key="k-1"),
                              PinSpec("16365550002", "2000", idempotency_key="k-2"),
                              PinSpec("16365550003", "3000")])
    assert ids[0] == earlier
    assert len(set(ids)) == 3
    assert [kwargs_of(m)["request_id"] for m in queued(redis_client, settings)] == [earlier, *ids[1:]]


def test_template_messages_match_what_celery_builds(settings: Settings, app: Celery) -> None:
    """The reused template gives the headers, properties and body Celery's as_task_v2 gives."""
    rid = "ab" * 16
    message = json.loads(SendTaskMessages(app, settings.queue).message(rid))
    headers, properties, body, _ = app.amqp.as_task_v2(rid, TASK_SEND_PIN, kwargs={"request_id": rid})
    assert message["headers"] == {**headers, "ignore_result": True}
    assert {k: message["properties"][k] for k in properties} == properties
    assert json.loads(base64.b64decode(message["body"])) == json.loads(json.dumps(body))


def test_template_messages_match_what_celery_publishes(settings: Settings, app: Celery,
                                                       redis_client: redis.Redis) -> None:
    """The hand-filled message is what ``app.send_task`` leaves in the queue through kombu's Redis
    transport: the same protocol-2 headers, properties and body, field for field, but for the
    delivery tag (kombu's is a fresh uuid4, ours the request id in UUID form: unique either way)
    and ``reply_to``.
    An upgrade that adds, drops or changes a field fails here, before a worker would see it."""
    rid = "cd" * 16
    app.send_task(TASK_SEND_PIN, kwargs={"request_id": rid}, task_id=rid, queue=settings.queue,
                  ignore_result=True)
    (published,) = queued(redis_client, settings)
    ours = json.loads(SendTaskMessages(app, settings.queue).message(rid))
    assert set(ours) == set(published)
    assert ours["headers"] == published["headers"]
    tag = "cdcdcdcd-cdcd-cdcd-cdcd-cdcdcdcdcdcd"
    # reply_to: send_task names the app's oid for an RPC result backend; no result is ever kept
    assert ours["properties"] == {**published["properties"], "delivery_tag": tag, "reply_to": ""}
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(base64.b64decode(published["body"]))
    assert {k: ours[k] for k in ("content-encoding", "content-type")} == {
        k: published[k] for k in ("content-encoding", "content-type")}


def test_forget_keeps_an_idempotency_key_that_stands_for_another_request(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """Undoing a failed enqueue must not free a key an earlier, accepted request holds."""
    producer = Producer(settings, app, redis_client)
    earlier = producer.send_pin(TO, "5555", idempotency_key="k-held")
    producer.store.forget("some-other-request", "k-held")
    assert producer.store.existing_for("k-held") == earlier
    producer.store.forget(earlier, "k-held")
    assert producer.store.existing_for("k-held") is None


def test_a_repeat_stands_even_after_its_number_is_denied(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """The earlier request under the key is answered; a new send to the number is refused."""
    guard = AbuseGuard(settings, redis_client)
    repeat_key = f"{settings.key_prefix}idem:order-11"
    redis_client.set(repeat_key, "earlier-request")
    guard.deny(TO)
    assert guard.admit(TO, repeat_key) == "earlier-request"
    with pytest.raises(AbuseLimitError) as refused:
        guard.admit(TO, f"{settings.key_prefix}idem:order-12")
    assert refused.value.limit == "denylist"


def test_bulk_repeat_of_a_number_at_its_limit_is_not_refused(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """With 1 PIN per number per 10 min, a batch repeating the first send's key passes and counts nothing."""
    producer = Producer(settings.replace(per_number_10min=1), app, redis_client)
    earlier = producer.send_pin(TO, "1111", idempotency_key="bulk-k1")
    ids = producer.send_pins([PinSpec(TO, "1111", idempotency_key="bulk-k1"),
                              PinSpec("16365550009", "9999")])
    assert ids[0] == earlier
    assert len(queued(redis_client, settings)) == 2
    with pytest.raises(AbuseLimitError):
        producer.send_pins([PinSpec(TO, "2222", idempotency_key="bulk-k2")])


def test_bulk_refusal_names_the_item_and_stores_nothing(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """send_pins: an invalid item fails the batch with its index; no record, no task."""
    from worker.errors import ValidationError

    producer = Producer(settings, app, redis_client)
    specs = [PinSpec(TO, "1234"), PinSpec("+16365553227", "1234"), PinSpec(TO, "12a4")]
    with pytest.raises(ValidationError, match=r"^item 2 pin: must be a string of ASCII digits"):
        producer.send_pins(specs)
    assert queued(redis_client, settings) == []
    assert list(redis_client.scan_iter(match=f"{settings.key_prefix}req:*")) == []


def test_plus_spelling_counts_against_the_same_limit(
    settings: Settings, app: Celery, redis_client: redis.Redis
) -> None:
    """`+1636...` and `1636...` are one number for the per-number limit (the producer counts E.164)."""
    producer = Producer(settings.replace(per_number_10min=1), app, redis_client)
    producer.send_pin(TO, "1234")
    with pytest.raises(AbuseLimitError, match="in 10 minutes"):
        producer.send_pin("+" + TO, "1234")
