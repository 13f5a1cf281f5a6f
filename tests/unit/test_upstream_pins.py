"""The Celery and kombu behaviour pinrelay's patches rely on (docs/architecture.md, "What is
patched and why"): each test fails when an upgrade changes what a patch overrides or assumes.

Against a real Redis where behaviour is the point. Where the upstream reason for a patch could
go away (kombu building one client per step, MULTI around the ack bookkeeping), the stock
behaviour is asserted too: a failure there says the patch may no longer be needed.
"""

from __future__ import annotations

import inspect
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import celery.apps.worker
import celery.events.dispatcher
import celery.worker.consumer.events
import kombu
import pytest
import redis
from celery.worker.consumer import Consumer
from kombu.transport import redis as kombu_redis
from redis.sentinel import SentinelManagedConnection

from worker import constants as c
from worker.config import Settings
from worker.taskqueue import events, transport
from worker.worker_app import create_app

STOCK = "kombu.transport.redis:Transport"


def _commands(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


@pytest.fixture
def queue(settings: Settings) -> str:
    return f"{settings.queue}-pin-{uuid.uuid4().hex[:6]}"


def _connection(settings: Settings, queue: str, path: str) -> kombu.Connection:
    options = {"unacked_key": f"{settings.key_prefix}{queue}:unacked",
               "unacked_index_key": f"{settings.key_prefix}{queue}:unacked_index",
               "unacked_mutex_key": f"{settings.key_prefix}{queue}:unacked_mutex"}
    return kombu.Connection(settings.redis_url, transport=path, transport_options=options)


def _round_trip(conn: kombu.Connection, queue: str, count: int) -> None:
    simple = conn.SimpleQueue(queue)
    for i in range(count):
        simple.put({"i": i})
    for _ in range(count):
        simple.get(timeout=2).ack()
    simple.close()


# --- transport.py: one client per channel ------------------------------------------------------


def test_kombu_builds_a_client_per_step_where_we_keep_one(settings: Settings, queue: str) -> None:
    """kombu's ``Channel._create_client(asynchronous=False)`` is what ``conn_or_acquire`` and the
    QoS steps call, once per step (the cost: a ``redis.Redis`` constructor, ~45 us with redis-py
    6.4); ours answers with the channel's one client until the pool changes."""
    assert list(inspect.signature(kombu_redis.Channel._create_client).parameters) == ["self", "asynchronous"]
    assert isinstance(inspect.getattr_static(kombu_redis.Channel, "pool"), property)
    with _connection(settings, queue, STOCK) as stock:
        channel = stock.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is not second  # upstream still builds one per step: the override pays
    with _connection(settings, queue, transport.TRANSPORT) as ours:
        channel = ours.default_channel
        calls: list[bool] = []
        original = kombu_redis.Channel._create_client

        def counting(self: Any, asynchronous: bool = False) -> Any:
            calls.append(asynchronous)
            return original(self, asynchronous)

        kombu_redis.Channel._create_client = counting
        try:
            _round_trip(ours, queue, 3)  # publishes, gets, QoS bookkeeping, acks
        finally:
            kombu_redis.Channel._create_client = original
        assert calls == [False]  # one synchronous client for a dozen steps, built once
        with channel.conn_or_acquire() as first, channel.qos.pipe_or_acquire() as pipe:
            assert pipe.connection_pool is first.connection_pool


# --- transport.py: the ack bookkeeping in plain pipelines ---------------------------------------


def test_kombu_qos_steps_we_override_keep_their_shape() -> None:
    """``append``/``ack`` reach Redis through ``pipe_or_acquire`` and ``_remove_from_indices``,
    with these signatures; ``restore_by_tag`` passes its own (transaction) pipe to the latter."""
    qos = kombu_redis.QoS
    assert list(inspect.signature(qos.pipe_or_acquire).parameters) == ["self", "pipe", "client"]
    assert list(inspect.signature(qos._remove_from_indices).parameters) == ["self", "delivery_tag", "pipe"]
    assert "self.pipe_or_acquire()" in inspect.getsource(qos.append)
    assert "self._remove_from_indices(delivery_tag)" in inspect.getsource(qos.ack)
    assert "self._remove_from_indices(tag, pipe)" in inspect.getsource(qos.restore_by_tag)
    assert list(inspect.signature(qos.restore_visible).parameters) == ["self", "start", "num", "interval"]


def test_our_qos_drops_multi_exec_and_still_cleans_up(settings: Settings, queue: str,
                                                      redis_client: redis.Redis) -> None:
    """Stock: MULTI/EXEC around both steps (2 per message); ours: none, 4 commands fewer, and
    the unacked hash and index are empty after the acks either way."""
    per_message = {}
    for path in (STOCK, transport.TRANSPORT):
        with _connection(settings, queue, path) as conn:
            before = _commands(redis_client)
            _round_trip(conn, queue, 5)
            delta = _commands(redis_client) - before
            per_message[path] = (delta["multi"] / 5, delta["exec"] / 5)
            unacked = f"{settings.key_prefix}{queue}:unacked"
            assert redis_client.hlen(unacked) == 0 and redis_client.zcard(f"{unacked}_index") == 0
    stock, ours = per_message[STOCK], per_message[transport.TRANSPORT]
    # 2 per message more in stock kombu (append, ack); a kombu that drops them makes ours moot
    assert (stock[0] - ours[0], stock[1] - ours[1]) == (2.0, 2.0) and ours[0] < 1


def test_a_message_never_acked_is_restored_through_our_qos(settings: Settings, queue: str) -> None:
    """kombu's ``restore_visible`` takes index entries older than the visibility timeout and
    restores them under WATCH with our ``_remove_from_indices`` on its pipe."""
    with _connection(settings, queue, transport.TRANSPORT) as conn:
        simple = conn.SimpleQueue(queue)
        simple.put({"lost": 1})
        message = simple.get(timeout=2)  # delivered, never acked: its worker "died"
        channel = conn.default_channel
        qos = channel.qos
        client = channel.client
        client.zadd(qos.unacked_index_key, {message.delivery_tag: 1.0})  # delivered long ago
        qos.restore_visible(num=10, interval=1)
        assert client.hlen(qos.unacked_key) == 0 and client.zcard(qos.unacked_index_key) == 0
        again = simple.get(timeout=2)
        assert again.payload == {"lost": 1}
        again.ack()
        simple.close()


# --- transport.py: the Sentinel connection that waits for a primary ------------------------------


def test_kombu_sentinel_channel_still_picks_its_connection_classes() -> None:
    """Ours subclass the classes kombu's Sentinel channel names, and kombu builds its pools
    from ``self.connection_class`` / ``self.connection_class_ssl``."""
    assert kombu_redis.SentinelChannel.connection_class is SentinelManagedConnection
    assert issubclass(transport.PatientSentinelConnection, kombu_redis.SentinelChannel.connection_class)
    ssl_class = kombu_redis.SentinelChannel.connection_class_ssl
    assert issubclass(transport.PatientSentinelSSLConnection, ssl_class)
    source = inspect.getsource(kombu_redis.Channel._connparams)
    assert "self.connection_class" in source and "self.connection_class_ssl" in source


# --- app.py: the transport named by broker_transport, shown by its scheme ------------------------


def test_celery_honours_broker_transport_and_our_connection_class(settings: Settings) -> None:
    """Celery passes ``broker_transport`` to kombu (over the URL's scheme) and builds connections
    with ``app.amqp.Connection``; without our ``resolve_aliases`` the URL form would show the
    class path as its scheme (Flower picks its broker client by that scheme)."""
    app = create_app(settings)
    with app.connection_for_write() as conn:
        assert type(conn) is transport.Connection and isinstance(conn.transport, transport.Transport)
        assert conn.as_uri().startswith("redis://")
    with kombu.Connection(settings.effective_broker_url, transport=transport.TRANSPORT) as plain:
        assert plain.as_uri().startswith(transport.TRANSPORT)  # kombu's own: why the subclass exists
    assert isinstance(kombu.Connection.resolve_aliases, dict)
    app.close()


# --- app.py: json_console (the worker's logging hook: tests/integration/test_embedding.py) ----------


def test_celery_shutdown_notices_go_through_safe_say() -> None:
    """``json_console`` replaces ``celery.apps.worker.safe_say``, which the shutdown handler calls."""
    assert list(inspect.signature(celery.apps.worker.safe_say).parameters) == ["msg", "f"]
    assert "safe_say(" in inspect.getsource(celery.apps.worker._shutdown_handler)


# --- events.py: task events flushed on a timer ---------------------------------------------------


def test_celery_buffers_task_events_and_asks_the_consumer_to_flush() -> None:
    """The worker's dispatcher buffers the ``task`` group (24 at most) and calls the consumer's
    ``on_send_event_buffered``, whose flush is ``_flush_events``: what ours defers."""
    start = inspect.getsource(celery.worker.consumer.events.Events.start)
    assert "on_send_buffered=c.on_send_event_buffered" in start and "buffer_group=" in start
    parameters = inspect.signature(celery.events.dispatcher.EventDispatcher).parameters
    assert parameters["buffer_limit"].default == 24 and "on_send_buffered" in parameters
    assert callable(Consumer._flush_events) and callable(Consumer.on_send_event_buffered)


class _Hub:
    def __init__(self) -> None:
        self.later: list[tuple[float, Any]] = []

    def call_later(self, delay: float, callback: Any) -> None:
        self.later.append((delay, callback))


class _Dispatcher:
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def consumer() -> Iterator[Any]:
    made: Any = object.__new__(events.BatchedEventsConsumer)
    made.hub, made.event_dispatcher = _Hub(), _Dispatcher()
    yield made


def test_events_buffered_in_a_window_go_out_in_one_flush(consumer: Any) -> None:
    for _ in range(10):
        consumer.on_send_event_buffered()
    assert [delay for delay, _ in consumer.hub.later] == [c.TASK_EVENT_FLUSH_S]
    consumer.hub.later[0][1]()
    assert consumer.event_dispatcher.flushes == 1
    consumer.on_send_event_buffered()  # the next window
    assert len(consumer.hub.later) == 2


def test_a_dispatcher_publishes_buffered_task_events_only_on_flush(settings: Settings,
                                                                   redis_client: redis.Redis) -> None:
    """Celery's dispatcher with a buffer group: events wait for the flush, then go as one publish."""
    app = create_app(settings)
    asked: list[bool] = []
    with app.connection_for_write() as conn:
        dispatcher = app.events.Dispatcher(conn, enabled=True, buffer_group={"task"},
                                           on_send_buffered=lambda: asked.append(True))
        before = _commands(redis_client)["publish"]
        for _ in range(5):
            dispatcher.send("task-succeeded", uuid=uuid.uuid4().hex, runtime=0.001)
        assert _commands(redis_client)["publish"] == before and len(asked) == 5
        dispatcher.flush()
        assert _commands(redis_client)["publish"] == before + 1
        dispatcher.close()
    app.close()
