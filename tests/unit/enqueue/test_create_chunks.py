"""Bulk enqueue in chunks of create.lua calls, against a real Redis: every feature of a send is
there for every item, a refusal anywhere stores nothing, a lost reply stores nothing twice, and
a Redis that fails part way is reported item by item."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.support.settings import cleanup, isolated_settings
from worker import constants as c
from worker.config import Settings
from worker.enqueue import chunks
from worker.enqueue.abuse import AbuseGuard
from worker.enqueue.producer import PinSpec, Producer
from worker.errors import AbuseLimitError
from worker.records.creation import CREATE_CHUNK, fresh_ids
from worker.worker_app import create_app

N = 2 * CREATE_CHUNK + 17  # three chunks, the last one short


@pytest.fixture
def app(settings: Settings) -> Iterator[Celery]:
    celery = create_app(settings)
    yield celery
    celery.close()


def number(i: int) -> str:
    return f"1636555{i % 10000:04d}"


def queued_ids(client: redis.Redis, settings: Settings) -> list[str]:
    """The request ids of the task messages in the queue, in the order a worker takes them."""
    out = []
    for raw in reversed(client.lrange(settings.queue, 0, -1)):
        _, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out.append(kwargs["request_id"])
    return out


def records(client: redis.Redis, settings: Settings) -> list[bytes]:
    return list(client.scan_iter(match=f"{settings.key_prefix}{c.KEY_RECORD}*", count=1000))


def test_every_item_of_a_big_batch_gets_every_feature(settings: Settings, app: Celery,
                                                       redis_client: redis.Redis) -> None:
    """Record, PIN key with its TTL, idempotency key, client-ref index, pending set, window
    counts and one task per item, queued in the batch's order, over several chunks."""
    limited = settings.replace(per_number_10min=1000, per_number_day=1000, per_prefix_minute=100000)
    producer = Producer(limited, app, redis_client)
    specs = [PinSpec(number(i), f"{1000 + i}", client_ref=f"ref-{i}" if i % 3 == 0 else None,
                     params={"brand": "Acme"} if i % 5 == 0 else None,
                     idempotency_key=f"k-{i}" if i % 2 == 0 else None) for i in range(N)]
    ids = producer.send_pins(specs, expires_in=120)
    assert len(set(ids)) == N
    assert queued_ids(redis_client, settings) == ids
    p = settings.key_prefix
    for i, (spec, rid) in enumerate(zip(specs, ids, strict=True)):
        record = {k.decode(): v.decode() for k, v in redis_client.hgetall(f"{p}{c.KEY_RECORD}{rid}").items()}
        assert record["id"] == rid and record["to"] == spec.to and record["state"] == "queued"
        assert record["sent_ref"] == (spec.client_ref or rid)
        assert record.get("params") == ('{"brand":"Acme"}' if spec.params else None)
        assert record.get("idempotency_key") == spec.idempotency_key
        assert 0 < redis_client.ttl(f"{p}{c.KEY_RECORD}{rid}") <= settings.record_ttl_s
        assert redis_client.get(f"{p}{c.KEY_PIN}{rid}") == spec.pin.encode()
        assert 0 < redis_client.pttl(f"{p}{c.KEY_PIN}{rid}") <= 120_000
        if spec.idempotency_key:
            assert redis_client.get(f"{p}{c.KEY_IDEMPOTENCY}{spec.idempotency_key}") == rid.encode()
            assert redis_client.ttl(f"{p}{c.KEY_IDEMPOTENCY}{spec.idempotency_key}") > 0
        if spec.client_ref:
            assert redis_client.zrange(f"{p}{c.KEY_CLIENT_REF}{spec.client_ref}", 0, -1) == [rid.encode()]
        assert redis_client.zscore(f"{p}{c.KEY_PENDING}", rid) is not None, i
    assert redis_client.zcard(f"{p}{c.KEY_ABUSE_NUMBER}{number(0)}") == 1
    assert redis_client.zcard(f"{p}{c.KEY_ABUSE_PREFIX}1636555") == N
    assert 0 < redis_client.pttl(f"{p}{c.KEY_ABUSE_PREFIX}1636555") <= 60_000


def test_a_key_used_twice_in_one_batch_stands_for_one_request(settings: Settings, app: Celery,
                                                              redis_client: redis.Redis) -> None:
    """In one chunk or across chunks, the second use of a key answers the first's id and
    stores, counts and queues nothing."""
    producer = Producer(settings.replace(per_number_10min=1), app, redis_client)
    specs = [PinSpec(number(i), "1234", idempotency_key=f"k-{i}") for i in range(N)]
    specs[5] = PinSpec(number(4), "1234", idempotency_key="k-4")  # same chunk as item 4
    specs[CREATE_CHUNK + 3] = PinSpec(number(1), "1234", idempotency_key="k-1")  # a later chunk
    ids = producer.send_pins(specs)
    assert ids[5] == ids[4] and ids[CREATE_CHUNK + 3] == ids[1]
    assert len(set(ids)) == N - 2
    assert len(records(redis_client, settings)) == N - 2
    assert sorted(queued_ids(redis_client, settings)) == sorted(set(ids))


@pytest.mark.parametrize("size", [CREATE_CHUNK - 10, N])
def test_a_refusal_anywhere_stores_nothing(size: int, settings: Settings, app: Celery,
                                           redis_client: redis.Redis) -> None:
    """The third PIN of a number in a day is refused in the last chunk: nothing is stored or
    queued, and the error names that item."""
    producer = Producer(settings.replace(per_number_day=2), app, redis_client)
    specs = [PinSpec(number(i), "1234") for i in range(size)]
    refused = size - 3
    for i in (3, refused - 50, refused):
        specs[i] = PinSpec(number(9999), "1234")
    with pytest.raises(AbuseLimitError, match=rf"^item {refused} to: ") as info:
        producer.send_pins(specs)
    assert info.value.limit == "number_day"
    assert records(redis_client, settings) == [] and queued_ids(redis_client, settings) == []
    assert redis_client.zcard(f"{settings.key_prefix}{c.KEY_PENDING}") == 0
    # the sends before the refused one were counted (the cautious side), those after were not
    assert redis_client.zcard(f"{settings.key_prefix}{c.KEY_ABUSE_NUMBER}{number(9999)}") == 2
    assert not redis_client.exists(f"{settings.key_prefix}{c.KEY_ABUSE_NUMBER}{number(size - 1)}")


def test_send_pin_is_one_script_call(settings: Settings, app: Celery, redis_client: redis.Redis) -> None:
    """Limits, idempotency key, record and task: one round trip (after the denylist is cached)."""
    producer = Producer(settings.replace(per_number_10min=5), app, redis_client)
    producer.send_pin(number(1), "1234")

    def script_calls() -> int:
        stats = redis_client.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha"))

    before = script_calls()
    for i in range(5):
        producer.send_pin(number(2), "1234", idempotency_key=f"once-{i}")
    assert script_calls() - before == 5
    assert len(queued_ids(redis_client, settings)) == 6


def test_a_repeat_stands_after_its_number_is_denied(settings: Settings, app: Celery,
                                                    redis_client: redis.Redis) -> None:
    producer = Producer(settings, app, redis_client)
    earlier = producer.send_pin(number(7), "1234", idempotency_key="before-deny")
    producer.guard.deny(number(7))
    assert producer.send_pin(number(7), "1234", idempotency_key="before-deny") == earlier
    with pytest.raises(AbuseLimitError, match="denylist"):
        producer.send_pin(number(7), "1234", idempotency_key="after-deny")
    with pytest.raises(AbuseLimitError, match=r"^item 1 to: .*denylist"):
        producer.send_pins([PinSpec(number(8), "1234"), PinSpec(number(7), "1234")])
    assert len(queued_ids(redis_client, settings)) == 1


class FlakyReads:
    """Makes replies to the stream's EVALSHAs go missing: the reply is read (the chunk ran), then
    a ConnectionError is raised instead, on the EVALSHA replies numbered in ``lose`` (1-based,
    counted across connections), or on every one from ``lose_from`` on. Other commands on the
    same (pooled) connections are left alone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, lose: set[int], lose_from: int | None = None) -> None:
        self.reads = 0
        real = chunks._connection

        def connection(pool: Any) -> Any:
            conn = real(pool)
            send, read = type(conn).send_command.__get__(conn), type(conn).read_response.__get__(conn)
            drop = type(conn).disconnect.__get__(conn)
            owed = [0]

            def disconnect(*args: Any, **kwargs: Any) -> Any:
                owed[0] = 0
                return drop(*args, **kwargs)

            def counting_send(*args: Any, **kwargs: Any) -> Any:
                owed[0] += args[0] == "EVALSHA"
                return send(*args, **kwargs)

            def flaky_read(*args: Any, **kwargs: Any) -> Any:
                reply = read(*args, **kwargs)
                if owed[0]:
                    owed[0] -= 1
                    self.reads += 1
                    if self.reads in lose or (lose_from is not None and self.reads >= lose_from):
                        raise redis.ConnectionError("reply lost (test)")
                return reply

            conn.send_command, conn.read_response, conn.disconnect = counting_send, flaky_read, disconnect
            return conn

        monkeypatch.setattr(chunks, "_connection", connection)


def test_a_lost_reply_is_sent_again_and_stores_nothing_twice(
    settings: Settings, app: Celery, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second chunk ran but its reply was lost: it and the next are sent again on a new
    connection; every item is stored and queued exactly once (with or without a key)."""
    client = redis.Redis.from_url(redis_url)
    try:
        FlakyReads(monkeypatch, lose={2})
        producer = Producer(settings, app, client)
        specs = [PinSpec(number(i), "1234", idempotency_key=f"k-{i}" if i % 2 else None) for i in range(N)]
        ids = producer.send_pins(specs)
        assert len(set(ids)) == N
        assert sorted(queued_ids(client, settings)) == sorted(ids)
        assert len(records(client, settings)) == N
    finally:
        client.close()


def test_scripts_flushed_in_the_middle_are_loaded_again(
    settings: Settings, app: Celery, redis_client: redis.Redis, redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SCRIPT FLUSH (a restarted Redis) after the first chunk: the next call answers NOSCRIPT,
    the script is loaded again and the rest stored, each item once."""
    client = redis.Redis.from_url(redis_url)
    real, flushed = chunks._connection, []

    def connection(pool: Any) -> Any:
        conn = real(pool)
        read = type(conn).read_response.__get__(conn)

        def read_then_flush(*args: Any, **kwargs: Any) -> Any:
            reply = read(*args, **kwargs)
            if isinstance(reply, list) and not flushed:  # the first chunk's answer
                flushed.append(redis_client.script_flush())
            return reply

        conn.read_response = read_then_flush
        return conn

    attempts = []
    once = chunks._stream_once
    monkeypatch.setattr(chunks, "_connection", connection)
    monkeypatch.setattr(chunks, "_stream_once", lambda *a: attempts.append(a[2]) or once(*a))
    try:
        ids = Producer(settings, app, client).send_pins([PinSpec(number(i), "1234") for i in range(N)])
        assert flushed and len(attempts) == 2 and attempts[1].start in (1, 2)  # resumed, not restarted
        assert len(set(ids)) == N
        assert sorted(queued_ids(client, settings)) == sorted(ids)
    finally:
        client.close()


def test_redis_failing_part_way_says_what_was_stored(
    settings: Settings, app: Celery, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first chunk's reply arrives: its items are stored, the chunks sent without an
    answer are unknown (by id), the rest were not stored, and the message says so."""
    client = redis.Redis.from_url(redis_url)
    try:
        FlakyReads(monkeypatch, lose=set(), lose_from=2)
        producer = Producer(settings, app, client)
        with pytest.raises(chunks.PartialEnqueueError) as info:
            producer.send_pins([PinSpec(number(i), "1234") for i in range(N)])
        error = info.value
        assert sorted(error.stored) == list(range(CREATE_CHUNK))
        assert sorted(error.unknown) == list(range(CREATE_CHUNK, N))  # both later chunks were sent
        assert f"items 0-{CREATE_CHUNK - 1} stored" in str(error) and "unknown" in str(error)
        for rid in error.stored.values():
            assert client.exists(f"{settings.key_prefix}{c.KEY_RECORD}{rid}")
        # a record never exists without its task: every stored record has its message queued
        stored = {key.decode().removeprefix(f"{settings.key_prefix}{c.KEY_RECORD}")
                  for key in records(client, settings)}
        assert stored == set(queued_ids(client, settings))
        known = set(error.stored.values())
        assert known <= stored <= known | set(error.unknown.values())
    finally:
        client.close()


def test_partial_error_names_spans() -> None:
    error = chunks.PartialEnqueueError("boom", 10, {0: "a", 1: "b", 2: "c"}, {5: "x", 6: "y"})
    assert str(error) == ("could not enqueue all the sends: boom; of 10 items: items 0-2 stored, items "
                          "3-4, 7-9 not stored, items 5-6 unknown (sent, but Redis did not answer)")


def test_fresh_ids_are_uuid4_hex() -> None:
    import uuid

    ids = fresh_ids(1000)
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in ids)


# --- the windows counted in chunks agree with one send at a time -------------------------

SENDS = st.lists(st.integers(0, 5), min_size=1, max_size=40)  # numbers 0-5 in two NPA-NXX ranges
LIMITS = st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 12))


def _guard(redis_url: str, client: redis.Redis, limits: tuple[int, int, int]) -> tuple[AbuseGuard, Settings]:
    n10, nday, npfx = limits
    configured = isolated_settings(redis_url, per_number_10min=n10, per_number_day=nday,
                                   per_prefix_minute=npfx)
    return AbuseGuard(configured, client), configured


def _number(k: int) -> str:
    return f"1636555{k:04d}" if k < 3 else f"1212555{k:04d}"


def _model(sends: list[int], limits: tuple[int, int, int], counted_before: int) -> tuple[int, str] | None:
    """The limits as the docs state them, for sends all within the same minute: the first
    refused send and its limit."""
    n10, nday, npfx = limits
    per_number: dict[str, int] = {}
    per_prefix: dict[str, int] = {}

    def refusal(number: str) -> str | None:
        if nday and per_number.get(number, 0) >= nday:
            return "number_day"
        if n10 and per_number.get(number, 0) >= n10:
            return "number_10min"
        if npfx and per_prefix.get(number[:7], 0) >= npfx:
            return "prefix_minute"
        per_number[number] = per_number.get(number, 0) + 1
        per_prefix[number[:7]] = per_prefix.get(number[:7], 0) + 1
        return None

    for k in range(counted_before):
        refusal(_number(k))
    for index, k in enumerate(sends):
        limit = refusal(_number(k))
        if limit:
            return index, limit
    return None


@hsettings(max_examples=60, derandomize=True, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sends=SENDS, limits=LIMITS, counted_before=st.integers(0, 3))
def test_a_batch_is_refused_where_one_by_one_would_be(sends: list[int], limits: tuple[int, int, int],
                                                      counted_before: int, redis_url: str,
                                                      redis_client: redis.Redis) -> None:
    """check_many (one call per chunk, windows read once) refuses at the first send that
    check() one at a time refuses, with the same limit, and leaves the same counts; both
    refuse where the limits as documented say (:func:`_model`)."""
    (one, one_settings), (batch, batch_settings) = _guard(redis_url, redis_client, limits), \
        _guard(redis_url, redis_client, limits)
    try:
        for guard in (one, batch):  # some sends counted earlier, in other calls
            for k in range(counted_before):
                with contextlib.suppress(AbuseLimitError):
                    guard.check(_number(k))
        expected: tuple[int, str] | None = None
        for index, k in enumerate(sends):
            try:
                one.check(_number(k))
            except AbuseLimitError as exc:
                expected = (index, exc.limit)
                break
        try:
            batch.check_many([_number(k) for k in sends])
            got = None
        except AbuseLimitError as exc:
            got = (int(exc.field.split()[1]), exc.limit)
        assert got == expected == _model(sends, limits, counted_before)
        for k in range(6):
            for suffix in (f"{c.KEY_ABUSE_NUMBER}{_number(k)}", f"{c.KEY_ABUSE_PREFIX}{_number(k)[:7]}"):
                assert (redis_client.zcard(one_settings.key_prefix + suffix)
                        == redis_client.zcard(batch_settings.key_prefix + suffix)), suffix
    finally:
        cleanup(redis_client, one_settings)
        cleanup(redis_client, batch_settings)


def test_another_broker_gets_each_new_send_published_once(settings: Settings,
                                                          redis_client: redis.Redis) -> None:
    """With the broker elsewhere (here: another Redis database), records are stored without
    their messages and every new send is published through Celery, a repeat never."""
    broker = settings.redis_url.rsplit("/", 1)[0] + "/1"  # type: ignore[union-attr]
    elsewhere = settings.replace(broker_url=broker, per_number_10min=100)
    celery = create_app(elsewhere)
    broker_client = redis.Redis.from_url(broker)
    try:
        producer = Producer(elsewhere, celery, redis_client)
        first = producer.send_pin(number(1), "1234", idempotency_key="other-1")
        assert producer.send_pin(number(1), "1234", idempotency_key="other-1") == first
        ids = producer.send_pins([PinSpec(number(i), "1234") for i in range(CREATE_CHUNK + 5)])
        assert queued_ids(redis_client, settings) == []  # nothing pushed into the records' Redis
        assert sorted(queued_ids(broker_client, settings)) == sorted([first, *ids])
        assert len(records(redis_client, settings)) == CREATE_CHUNK + 6
    finally:
        cleanup(broker_client, settings)
        broker_client.close()
        celery.close()


def test_send_pins_with_redis_down_raises_store_unavailable() -> None:
    """No raw redis-py error: a StoreUnavailableError, whichever step meets the dead Redis."""
    from worker.errors import StoreUnavailableError
    from worker.local.embedded import free_port

    down = isolated_settings(f"redis://127.0.0.1:{free_port()}/0")
    celery = create_app(down)
    producer = Producer(down, celery)
    producer.guard._denylist_read_at = float("inf")  # the denylist cached: the stream meets it first
    try:
        with pytest.raises(StoreUnavailableError) as info:
            producer.send_pins([PinSpec(number(i), "1234") for i in range(3)])
        assert isinstance(info.value, chunks.PartialEnqueueError)
        assert info.value.stored == {} and info.value.unknown == {}
        assert "none stored, items 0-2 not stored" in str(info.value)
    finally:
        producer.close()
        celery.close()
