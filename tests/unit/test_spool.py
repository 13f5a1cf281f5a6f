"""The acceptance spool (issue 10, finding 6) against a real Redis: an acceptance a worker could
not write survives the worker, and settles the send ``submitted`` even after the stale-claim
path has marked it ``unconfirmed``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis
import structlog

from tests.support.waiting import wait_for
from worker import constants as c
from worker.config import Settings
from worker.local.embedded import free_port
from worker.records.store import RecordStore, new_request_id
from worker.redisconn import redis_client
from worker.send.spool import AcceptanceSpool, spool_dir

LEASE_S = 7.5
FIELDS = {"provider_status": "0", "message_id": "MID0000000001", "submitted_at": "1.000",
          "network": "310004", "price": "0.0333", "error_text": ""}


def _claimed(store: RecordStore) -> tuple[str, float]:
    rid = new_request_id()
    argv = store.new_record(rid, to="16365553226", pin="424242", client_ref=None, params=None,
                            expires_at=time.time() + 300)
    store.create(rid, None, argv)
    now = time.time()
    assert store.claim(rid, now=now, lease_s=LEASE_S).verdict == "ok"
    return rid, now


def _stores(settings: Settings, client: redis.Redis) -> tuple[RecordStore, RecordStore]:
    """The real store, and one whose Redis is gone (every call a ConnectionError)."""
    dead = redis_client(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    return (RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s),
            RecordStore(dead, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s))


def test_a_dead_workers_spool_settles_an_unconfirmed_send_as_submitted(
    settings: Settings, redis_client: redis.Redis, tmp_path: Path
) -> None:
    store, dead = _stores(settings, redis_client)
    directory = spool_dir(str(tmp_path), settings.key_prefix)
    rid, claimed_at = _claimed(store)
    log = structlog.get_logger("test")

    gone = AcceptanceSpool(directory, dead, log, retry_every_s=0.05)  # the worker that lost Redis
    gone.keep(rid, "MID0000000001", FIELDS)
    gone.hand_over(rid)
    gone.close()  # it stops with the entry unwritten: the file stays, unlocked
    assert [p.stat().st_size > 0 for p in directory.glob("*.spool")] == [True]

    # the redelivered task finds the claim stale: unconfirmed, and the text says why
    assert store.claim(rid, now=claimed_at + LEASE_S + 1, lease_s=LEASE_S).verdict == "unconfirmed"
    record = store.get_raw(rid)
    assert record["error_text"].startswith("no outcome recorded within the claim lease")
    assert "lost Redis" in record["error_text"]
    dead_sends = f"{settings.key_prefix}{c.KEY_DEAD_PREFIX}sends"
    assert redis_client.zscore(dead_sends, rid) is not None

    successor = AcceptanceSpool(directory, store, log, retry_every_s=0.05)
    try:
        assert successor.recover() == 1
        wait_for(lambda: store.get_raw(rid)["state"] == "submitted", 10, "the spool to record it")
        record = store.get_raw(rid)
        assert record["message_id"] == "MID0000000001"
        assert record["error_text"] == ""
        assert redis_client.get(f"{settings.key_prefix}{c.KEY_MESSAGE_INDEX}MID0000000001") == rid.encode()
        assert redis_client.zscore(dead_sends, rid) is None  # nothing left to replay
        assert not redis_client.exists(store.pin_key(rid))
        wait_for(lambda: successor.pending == 0, 5, "the entry to be done")
        assert not directory.exists()  # the adopted file and its own are gone, and the directory
    finally:
        successor.close()


def test_a_live_workers_spool_is_not_adopted(
    settings: Settings, redis_client: redis.Redis, tmp_path: Path
) -> None:
    store, dead = _stores(settings, redis_client)
    directory = spool_dir(str(tmp_path), settings.key_prefix)
    rid, _ = _claimed(store)
    log = structlog.get_logger("test")
    alive = AcceptanceSpool(directory, dead, log, retry_every_s=60)
    other = AcceptanceSpool(directory, store, log)
    try:
        alive.keep(rid, "MID0000000002", FIELDS)
        assert other.recover() == 0  # it holds its file: its own thread will record it
        assert store.get_raw(rid)["state"] == "sending"
        alive.done(rid)  # written after all: nothing left on disk
        assert list(directory.glob("*.spool")) == []
    finally:
        alive.close()
        other.close()
    assert list(directory.glob("*.spool")) == []


def test_a_torn_last_line_is_skipped(settings: Settings, redis_client: redis.Redis, tmp_path: Path) -> None:
    store, _ = _stores(settings, redis_client)
    directory = spool_dir(str(tmp_path), settings.key_prefix)
    directory.mkdir(parents=True)
    rid, _ = _claimed(store)
    good = json.dumps({"op": "keep", "id": rid, "mid": "MID3", "fields": {"message_id": "MID3"}})
    (directory / "host-1-abc.spool").write_text(good + '\n{"op":"keep","id":"x')
    spool = AcceptanceSpool(directory, store, structlog.get_logger("test"), retry_every_s=0.05)
    try:
        assert spool.recover() == 1
        wait_for(lambda: store.get_raw(rid).get("message_id") == "MID3", 10, "the good line to be recorded")
    finally:
        spool.close()
