"""The result queue (webhook.queue) against a real Redis: stream entries and the nonce guard."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from webhook.queue import ResultQueue, connect
from worker.config import Settings
from worker.errors import ConfigError
from worker.local.embedded import free_port


@pytest.fixture
def queue(settings: Settings, redis_client: redis.Redis) -> ResultQueue:
    return ResultQueue(redis_client, settings.key_prefix, nonce_ttl_s=600)


def test_push_returns_the_entry_id_of_the_stream_entry(
    queue: ResultQueue, settings: Settings, redis_client: redis.Redis
) -> None:
    """push() appends the fields to {prefix}receipts and returns that entry's id."""
    entry_id = queue.push({"messageId": "0A1", "status": "delivered"})
    ((stored_id, fields),) = redis_client.xrange(settings.key_prefix + "receipts")
    assert entry_id == stored_id.decode()
    assert fields == {b"messageId": b"0A1", b"status": b"delivered"}


def test_same_nonce_is_pushed_once(queue: ResultQueue, settings: Settings, redis_client: redis.Redis) -> None:
    """A second push with a nonce already seen returns None and adds nothing."""
    first = queue.push({"messageId": "0A1", "status": "delivered"}, nonce="n-1")
    again = queue.push({"messageId": "0A1", "status": "delivered"}, nonce="n-1")
    other = queue.push({"messageId": "0A1", "status": "delivered"}, nonce="n-2")
    assert first is not None and other is not None and again is None
    assert redis_client.xlen(settings.key_prefix + "receipts") == 2
    assert 590 < redis_client.ttl(settings.key_prefix + "nonce:n-1") <= 600


def test_failed_push_does_not_burn_the_nonce(
    queue: ResultQueue, settings: Settings, redis_client: redis.Redis
) -> None:
    """When XADD fails the nonce is not remembered, so the provider's retry is queued."""
    stream = settings.key_prefix + "receipts"
    redis_client.set(stream, "not a stream")
    with pytest.raises(redis.ResponseError):
        queue.push({"messageId": "0A1", "status": "delivered"}, nonce="n-1")
    assert not redis_client.exists(settings.key_prefix + "nonce:n-1")
    redis_client.delete(stream)
    assert queue.push({"messageId": "0A1", "status": "delivered"}, nonce="n-1") is not None


def test_ping_is_true_when_redis_answers(queue: ResultQueue) -> None:
    """ping() is True against a live Redis."""
    assert queue.ping() is True


def test_connect_needs_a_redis_url() -> None:
    """connect() without a Redis URL is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="PINRELAY_REDIS_URL"):
        connect(Settings(redis_url=None))


def test_connect_reuses_one_pool_per_process(settings: Settings) -> None:
    """Two clients for the same URL share this process's connection pool, with 2 s timeouts."""
    first, second = connect(settings), connect(settings)
    try:
        assert first.connection_pool is second.connection_pool
        assert first.connection_pool.connection_kwargs["socket_timeout"] == 2.0
    finally:
        first.close()
        second.close()


def test_nonce_ttl_must_be_positive(redis_client: redis.Redis) -> None:
    """A zero nonce TTL is refused at construction."""
    with pytest.raises(ValueError, match="nonce_ttl_s"):
        ResultQueue(redis_client, "x:", nonce_ttl_s=0)


def test_concurrent_pushes_each_get_their_own_entry(
    queue: ResultQueue, settings: Settings, redis_client: redis.Redis
) -> None:
    """200 pushes from 16 threads (batched together) give 200 distinct ids, all on the stream."""
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda i: queue.push({"messageId": f"m{i}", "status": "ok"}), range(200)))
    assert len(set(ids)) == 200
    stored = redis_client.xrange(settings.key_prefix + "receipts")
    assert {entry_id.decode() for entry_id, _ in stored} == set(ids)
    by_id = {entry_id.decode(): fields[b"messageId"].decode() for entry_id, fields in stored}
    assert [by_id[entry_id] for entry_id in ids] == [f"m{i}" for i in range(200)]


def test_concurrent_replays_of_one_nonce_queue_it_once(
    queue: ResultQueue, settings: Settings, redis_client: redis.Redis
) -> None:
    """The same nonce pushed by 32 threads at once is queued once; the rest get None."""
    barrier = threading.Barrier(32)

    def push(_: int) -> str | None:
        barrier.wait()
        return queue.push({"messageId": "m", "status": "ok"}, nonce="same")

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(push, range(32)))
    assert sum(r is not None for r in results) == 1
    assert redis_client.xlen(settings.key_prefix + "receipts") == 1


def test_a_failed_batch_fails_every_push_in_it(settings: Settings) -> None:
    """When Redis is unreachable every concurrent push raises a RedisError, none hangs."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    queue = ResultQueue(dead, settings.key_prefix, nonce_ttl_s=600)

    def push(i: int) -> str:
        try:
            queue.push({"messageId": f"m{i}", "status": "ok"})
        except redis.RedisError as exc:
            return type(exc).__name__
        return "pushed"

    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(push, range(40)))
    finally:
        dead.close()
    assert outcomes == ["ConnectionError"] * 40
