"""The settle watch and one delivery attempt, against a real Redis, with the HTTP POST faked.

The real POST (a local HTTP server, its 500 then 200, the signature checked by the
receiver) runs in tests/integration/test_api_callbacks.py; here the schedule is driven with
an injected clock: what is due when, the lease, the backoff, the deadline and the events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
import redis
from celery import Celery

from worker import constants as c
from worker.callbacks import signing
from worker.callbacks.delivery import Deliverer
from worker.callbacks.watch import PIN, SettleWatch, event_id
from worker.config import Settings
from worker.enqueue.callback_url import CallbackTarget
from worker.enqueue.producer import Producer
from worker.errors import ValidationError
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore
from worker.states import State
from worker.worker_app import create_app

SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
URL = "http://127.0.0.1:9/hook"
NOW = 1_800_000_000.0


@dataclass
class FakePoster:
    """Answers with the scripted statuses in turn (then 200) and keeps what it was sent."""

    statuses: list[int] = field(default_factory=list)
    sent: list[tuple[CallbackTarget, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, target: CallbackTarget, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append((target, body, dict(headers)))
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def cb_settings(settings: Settings) -> Settings:
    return settings.replace(callback_secret=SECRET, callback_allow_private=True,
                   callback_retry_deadline_s=30.0)


@pytest.fixture
def store(cb_settings: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=cb_settings.key_prefix, ttl_s=600)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_send(store: RecordStore, client: redis.Redis, settings: Settings, rid: str, *,
              url: str = URL) -> None:
    argv = store.new_record(rid, to="16365553226", pin="1234", client_ref=None, params=None,
                            expires_at=NOW + 300, now=NOW)
    store.create(rid, None, [*argv, "callback_url", url])
    client.zadd(PIN.watch_key(settings.key_prefix), {rid: NOW})


def sweeper(client: redis.Redis, settings: Settings) -> tuple[SettleWatch, list[dict[str, str]]]:
    published: list[dict[str, str]] = []
    return SettleWatch(client, settings.key_prefix, published.append), published


def test_a_send_is_published_once_when_it_settles(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """Nothing while queued; one task (with a stable event id) once `error`; leased after that."""
    make_send(store, redis_client, cb_settings, "r1")
    watch, published = sweeper(redis_client, cb_settings)
    assert watch.sweep(now=NOW + 1) == []
    store.finish("r1", State.ERROR, fields={"error_text": "refused"})
    assert watch.sweep(now=NOW + 2) == [
        {"kind": "pin", "record_id": "r1", "state": "error", "event_id": event_id("pin", "r1", "error")}]
    assert watch.sweep(now=NOW + 3) == []  # leased: the task is on its way
    assert len(published) == 1


def test_a_delivery_posts_the_signed_record_and_ends_the_watch(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """The POST carries the public record, a signature over "<t>.<body>" and the event id."""
    make_send(store, redis_client, cb_settings, "r2")
    store.finish("r2", State.ERROR, fields={"error_text": "refused"})
    poster, clock = FakePoster(), Clock()
    verdict = Deliverer(cb_settings, redis_client, poster, clock).deliver("pin", "r2", "error", "ev-2")
    assert verdict == "done"
    (target, body, headers), = poster.sent
    assert (target.host, target.port) == ("127.0.0.1", 9)
    record = json.loads(body)
    assert record["id"] == "r2" and record["state"] == "error" and "callback_url" not in record
    assert signing.verify(SECRET, headers["X-Pinrelay-Signature"], body, now=NOW)
    assert signing.verify_v2(SECRET, headers["X-Pinrelay-Signature"], body, "ev-2", "", now=NOW)
    assert headers["X-Pinrelay-Event-Id"] == "ev-2" and headers["Content-Type"] == "application/json"
    assert "X-Pinrelay-Key-Id" not in headers  # made without an API key
    assert redis_client.zscore(PIN.watch_key(cb_settings.key_prefix), "r2") is None
    watch, _ = sweeper(redis_client, cb_settings)
    assert watch.sweep(now=NOW + 100) == []


def test_a_refused_attempt_is_retried_with_backoff_and_the_same_event(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """A 500 schedules the next attempt ~1 s later; the sweep then publishes the same event again."""
    make_send(store, redis_client, cb_settings, "r3")
    store.finish("r3", State.ERROR)
    watch, _ = sweeper(redis_client, cb_settings)
    clock, poster = Clock(), FakePoster([500])
    clock.now = NOW + 1
    (task,) = watch.sweep(now=clock.now)
    assert Deliverer(cb_settings, redis_client, poster, clock).deliver(**task_args(task)) == "retry"
    due = redis_client.zscore(PIN.watch_key(cb_settings.key_prefix), "r3")
    assert clock.now + 1.0 <= due <= clock.now + 1.5
    assert watch.sweep(now=clock.now + 0.5) == []
    clock.now += 2
    (again,) = watch.sweep(now=clock.now)
    assert again == task
    assert Deliverer(cb_settings, redis_client, poster, clock).deliver(**task_args(again)) == "done"
    assert [h["X-Pinrelay-Event-Id"] for _, _, h in poster.sent] == [task["event_id"]] * 2
    assert redis_client.hget(store.key("r3"), "callback_attempts") is None


def test_after_the_deadline_a_failing_callback_is_given_up(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """Past PINRELAY_CALLBACK_RETRY_DEADLINE from the first attempt: dead letter, no more tries."""
    make_send(store, redis_client, cb_settings, "r4")
    store.finish("r4", State.ERROR)
    clock, poster = Clock(), FakePoster([500, 503])
    deliverer = Deliverer(cb_settings, redis_client, poster, clock)
    assert deliverer.deliver("pin", "r4", "error", "ev-4") == "retry"
    clock.now += cb_settings.callback_retry_deadline_s + 1
    assert deliverer.deliver("pin", "r4", "error", "ev-4") == "gave_up"
    assert redis_client.zscore(PIN.watch_key(cb_settings.key_prefix), "r4") is None
    detail = DeadLetters(redis_client, cb_settings.key_prefix).detail("tasks", "callback:ev-4")
    assert detail is not None and "gave_up after 2 attempt(s): HTTP 503" in detail["error"]


def test_an_unconfirmed_send_is_told_twice(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """`unconfirmed` is told and watching goes on; a final state reached later is a second event."""
    make_send(store, redis_client, cb_settings, "r5")
    store.claim("r5", now=NOW)
    store.finish("r5", State.UNCONFIRMED)
    watch, _ = sweeper(redis_client, cb_settings)
    clock = Clock()
    (first,) = watch.sweep(now=NOW + 1)
    assert first["state"] == "unconfirmed"
    assert Deliverer(cb_settings, redis_client, FakePoster(), clock).deliver(**task_args(first)) == "done"
    assert watch.sweep(now=NOW + 2) == []
    redis_client.hset(store.key("r5"), "state", "delivered")  # what a late receipt does
    (second,) = watch.sweep(now=NOW + 60)
    assert second["state"] == "delivered" and second["event_id"] != first["event_id"]


def test_a_url_that_resolves_inside_at_delivery_is_refused(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """The check runs again before each POST: without the switch, 127.0.0.1 is never contacted."""
    strict = cb_settings.replace(callback_allow_private=False)
    make_send(store, redis_client, strict, "r6")
    store.finish("r6", State.ERROR)
    poster = FakePoster()
    assert Deliverer(strict, redis_client, poster, Clock()).deliver("pin", "r6", "error", "ev-6") == "refused"
    assert poster.sent == []
    detail = DeadLetters(redis_client, strict.key_prefix).detail("tasks", "callback:ev-6")
    assert detail is not None and "must name a public host" in detail["error"]


def test_a_worker_without_the_secret_refuses_instead_of_sending_unsigned(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    make_send(store, redis_client, cb_settings, "r7")
    store.finish("r7", State.ERROR)
    poster = FakePoster()
    unsigned = cb_settings.replace(callback_secret=None)
    verdict = Deliverer(unsigned, redis_client, poster, Clock()).deliver("pin", "r7", "error", "ev-7")
    assert verdict == "refused"
    assert poster.sent == []


def test_a_vanished_record_leaves_the_watch(
        cb_settings: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    redis_client.zadd(PIN.watch_key(cb_settings.key_prefix), {"ghost": NOW})
    watch, _ = sweeper(redis_client, cb_settings)
    assert watch.sweep(now=NOW + 1) == []
    assert redis_client.zcard(PIN.watch_key(cb_settings.key_prefix)) == 0
    deliverer = Deliverer(cb_settings, redis_client, FakePoster(), Clock())
    assert deliverer.deliver("pin", "ghost", "error", "e") == "gone"


@pytest.fixture
def app(cb_settings: Settings) -> Iterator[Celery]:
    celery = create_app(cb_settings)
    yield celery
    celery.close()


def test_the_producer_stores_the_url_and_watches_the_send(
        cb_settings: Settings, app: Celery, redis_client: redis.Redis) -> None:
    rid = Producer(cb_settings, app, redis_client).send_pin("16365553226", "1234", callback_url=URL)
    assert redis_client.hget(f"{cb_settings.key_prefix}{c.KEY_RECORD}{rid}", "callback_url") == URL.encode()
    assert redis_client.zscore(PIN.watch_key(cb_settings.key_prefix), rid) is not None


def test_the_producer_refuses_a_private_host_and_stores_nothing(
        cb_settings: Settings, app: Celery, redis_client: redis.Redis) -> None:
    strict = cb_settings.replace(callback_allow_private=False)
    with pytest.raises(ValidationError, match=r"callback_url: must name a public host"):
        Producer(strict, app, redis_client).send_pin("16365553226", "1234", callback_url=URL)
    with pytest.raises(ValidationError, match="PINRELAY_CALLBACK_SECRET is not set"):
        Producer(cb_settings.replace(callback_secret=None), app, redis_client).send_pin(
            "16365553226", "1234", callback_url=URL)
    assert list(redis_client.scan_iter(match=f"{cb_settings.key_prefix}*")) == []
    assert redis_client.llen(cb_settings.queue) == 0


def task_args(task: dict[str, str]) -> dict[str, str]:
    return {"kind_name": task["kind"], "record_id": task["record_id"], "state": task["state"],
            "event_id": task["event_id"]}


def test_a_failing_sweep_does_not_end_the_correlators_loop() -> None:
    """A sweep that raises is logged and skipped: receipts keep being correlated."""
    from structlog.testing import capture_logs

    from worker.callbacks.sweeps import guarded

    def broken() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        assert guarded("test", broken)() is None
    assert [(e["event"], e["sweep"]) for e in logs] == [("correlator_sweep_failed", "test")]
