"""Conversion reports the verify flow relies on: a route without the API, a send still in flight."""

from __future__ import annotations

from types import SimpleNamespace

import redis
import structlog

from worker.config import Settings
from worker.records.store import RecordStore
from worker.send.conversions import report, send_in_flight


def _store(settings: Settings, client: redis.Redis, **fields: str) -> RecordStore:
    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=60)
    argv = store.new_record("r1", to="16365553226", pin="123456", client_ref=None, params=None,
                            expires_at=1e10)
    store.create("r1", None, argv)
    if fields:
        store.update_fields("r1", fields)
    return store


def test_a_route_without_a_conversion_api_is_skipped(settings: Settings, redis_client: redis.Redis) -> None:
    """A Twilio send is not reported (no call at all, the conversion URL is unreachable), and says why."""
    store = _store(settings, redis_client, route="twilio", message_id="SM1", state="submitted")
    services = SimpleNamespace(store=store, log=structlog.get_logger("t"),
                               settings=settings.replace(conversion_url="http://127.0.0.1:9"))
    outcome = report(services, "r1", delivered=True)
    assert outcome == "skipped: the twilio route has no conversion API"
    assert store.get_raw("r1")["conversion_status"] == outcome


def test_a_send_without_message_id_is_in_flight_only_while_queued_or_sending(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """queued/sending without a message-id: wait for it; submitted, or an error: report now."""
    store = _store(settings, redis_client)
    assert send_in_flight(store, "r1")
    store.update_fields("r1", {"state": "sending"})
    assert send_in_flight(store, "r1")
    store.update_fields("r1", {"state": "error"})
    assert not send_in_flight(store, "r1")
    store.update_fields("r1", {"state": "sending", "message_id": "M1"})
    assert not send_in_flight(store, "r1") and not send_in_flight(store, "missing")
