"""kombu's Redis transport, with one Redis client per channel instead of one per operation,
and its ack bookkeeping in plain pipelines (:class:`QoS`: four commands less per task).

kombu's Redis channel builds a new ``redis.Redis`` object for every synchronous
step (each ack, each QoS bookkeeping call, each publish), and redis-py 5/6 fills a
case-insensitive table of response callbacks in every constructor. Profiled
under a steady send load that was 12% of the worker's CPU (``Channel._create_client``),
more than our own scripts per send. The client is only a front for the
channel's connection pool, and it is thread-safe, so one per channel (rebuilt if
kombu replaces the pool after a connection error) does the same work.

pinrelay's Celery apps name these classes directly (Celery's ``broker_transport``:
:func:`transport_for`), so the broker URL stays ``redis://`` or ``sentinel://`` and nothing
in kombu's registries changes: another Celery app in the same process (a service that
embeds pinrelay's producer) keeps kombu's own transport. :class:`Connection` shows those
classes by their scheme in a connection's URL form (``as_uri``), which Flower reads to pick
its broker client and Celery prints in its banner and errors. Every other
behaviour is kombu's own, but one: a Sentinel broker connection that finds no primary
(the Sentinels are mid-failover, or still name the dead one) asks again every
:data:`FAILOVER_POLL_S` for up to :data:`FAILOVER_PATIENCE_S` before it gives up. Celery's
consumer otherwise waits 2, 4, 6 ... s between its reconnects (not configurable), so a
worker found the promoted replica up to one such interval late (6 s after a 2.4 s
failover, measured; RELIABILITY.md).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final

import kombu
import redis
from kombu.transport import redis as kombu_redis
from redis.sentinel import SentinelManagedConnection

FAILOVER_POLL_S: Final = 0.25
FAILOVER_PATIENCE_S: Final = 5.0


class _OneSyncClient:
    """The override, for both channel kinds: reuse the synchronous client while the pool lasts."""

    _sync_client: Any = None
    _sync_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool  # type: ignore[attr-defined]
        if self._sync_client is None or self._sync_pool is not pool:
            self._sync_client = super()._create_client()  # type: ignore[misc]
            self._sync_pool = pool
        return self._sync_client


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    """kombu's ack emulation, with plain pipelines instead of MULTI/EXEC transactions.

    kombu records each delivered task (``ZADD`` the unacked index, ``HSET`` the message)
    and forgets it on ack (``ZREM``, ``HDEL``), each pair wrapped in ``MULTI``/``EXEC``: four
    of the nine commands Celery spends per task. The pairs go down one connection in one
    write either way; the transaction only stops another client's commands landing between
    the two, and the one that reads these keys, ``restore_visible``, takes only tags older
    than the visibility timeout (a task just delivered is not; one still running that long
    is refused at start, :func:`worker.config.rules.check_schedule_fits`) and re-reads the
    message under ``WATCH``. The order makes a half-done pair (a connection lost between
    the two) clean itself up: an index entry without its message is dropped by the next
    restore (the message was lost with that BRPOP anyway, and a send's pending-set sweep
    republishes it), and an ack removes the message first, then the index entry.
    """

    @contextmanager
    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Iterator[Any]:
        if pipe:
            yield pipe
        else:
            with self.channel.conn_or_acquire(client) as conn:
                yield conn.pipeline(transaction=False)

    def _remove_from_indices(self, delivery_tag: Any, pipe: Any = None) -> Any:
        with self.pipe_or_acquire(pipe) as steps:
            return steps.hdel(self.unacked_key, delivery_tag).zrem(self.unacked_index_key, delivery_tag)


class Channel(_OneSyncClient, kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class _PatientConnect:
    """Connect through the Sentinels, asking again while they name no live primary.

    A refused password or certificate is not a failover: it is raised at once."""

    def connect(self) -> None:
        deadline = time.monotonic() + FAILOVER_PATIENCE_S
        while True:
            try:
                super().connect()  # type: ignore[misc]
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                refused = isinstance(exc, redis.AuthenticationError) or isinstance(exc.__context__,
                                                                                    ssl.SSLError)
                if refused or time.monotonic() + FAILOVER_POLL_S > deadline:
                    raise
                time.sleep(FAILOVER_POLL_S)


class PatientSentinelConnection(_PatientConnect, SentinelManagedConnection):  # type: ignore[misc]
    pass


class PatientSentinelSSLConnection(_PatientConnect, kombu_redis.SentinelManagedSSLConnection):  # type: ignore[misc]
    pass


class SentinelChannel(_OneSyncClient, kombu_redis.SentinelChannel):  # type: ignore[misc]
    QoS = QoS
    connection_class = PatientSentinelConnection
    connection_class_ssl = PatientSentinelSSLConnection


class SentinelTransport(kombu_redis.SentinelTransport):  # type: ignore[misc]
    Channel = SentinelChannel


TRANSPORT: Final = f"{__name__}:Transport"
SENTINEL_TRANSPORT: Final = f"{__name__}:SentinelTransport"
_BY_SCHEME: Final = {"redis": TRANSPORT, "sentinel": SENTINEL_TRANSPORT}


def transport_for(broker_url: str) -> str | None:
    """The transport class (its path) for Celery's ``broker_transport``; None: kombu's choice.

    ``redis://`` and ``sentinel://`` get ours; ``rediss://``, ``unix://`` and other brokers
    keep kombu's own, as before (the alias table used to be rewritten for these two only).
    """
    return _BY_SCHEME.get(broker_url.split("://", 1)[0].lower())


class Connection(kombu.Connection):  # type: ignore[misc]
    """kombu's connection, naming our transport classes by their scheme in its URL form.

    ``as_uri()`` writes the transport name as the scheme; for a class path that would be
    ``worker.taskqueue.transport:Transport://...``, which Flower cannot map to a broker client.
    ``resolve_aliases`` is kombu's own table for exactly this (``pyamqp`` is shown as ``amqp``).
    """

    resolve_aliases: ClassVar[dict[str, str]] = {**kombu.Connection.resolve_aliases,
                       **{path: scheme for scheme, path in _BY_SCHEME.items()}}
