"""The Redis transport pinrelay's apps name for kombu, against a real Redis."""

from __future__ import annotations

import kombu
import kombu.transport
from flower.utils.broker import Broker, Redis

from worker.config import Settings
from worker.taskqueue.app import publisher_app
from worker.taskqueue.transport import Channel, Transport
from worker.worker_app import create_app


def test_create_app_uses_it_and_keeps_the_redis_url(settings: Settings) -> None:
    """Our apps run on our transport, and the URL stays redis:// (Flower reads its scheme)."""
    aliases = dict(kombu.transport.TRANSPORT_ALIASES)
    for app in (create_app(settings), publisher_app(settings)):
        with app.connection_for_write() as conn:
            assert isinstance(conn.transport, Transport)
            assert conn.as_uri().startswith("redis://")
            assert isinstance(Broker(conn.as_uri(include_password=True)), Redis)  # Flower's broker page
            assert isinstance(conn.default_channel, Channel)
        app.close()
    assert aliases == kombu.transport.TRANSPORT_ALIASES  # nothing rewritten for other apps
    with kombu.Connection(settings.effective_broker_url) as plain:  # another app's: kombu's own
        assert type(plain.transport) is kombu.transport.redis.Transport


def test_one_client_per_channel_until_the_pool_is_replaced(settings: Settings) -> None:
    """Every synchronous step gets the same client; a new pool (after an error) gets a new one."""
    app = create_app(settings)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        with channel.conn_or_acquire() as client:
            assert client is first
            assert client.ping()
        channel._disconnect_pools()
        assert channel._create_client() is not first
        assert channel._create_client(asynchronous=True) is not channel._create_client(asynchronous=True)
    app.close()


def test_publish_and_consume_through_it(settings: Settings) -> None:
    """A message published through the transport comes back out of the queue intact."""
    app = create_app(settings)
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(settings.queue + "-probe")
        queue.put({"probe": 1})
        message = queue.get(timeout=2)
        assert message.payload == {"probe": 1}
        message.ack()
        queue.close()
    app.close()
