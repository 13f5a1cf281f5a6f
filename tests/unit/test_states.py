"""The transition table: final states never move, and Redis enforces exactly the Python table."""

from __future__ import annotations

import time

import redis

from worker.config import Settings
from worker.records.store import RecordStore, new_request_id
from worker.states import FINAL_STATES, State, can_move


def test_final_states_have_no_way_out() -> None:
    """Nothing moves a delivered, failed, expired, rejected, unknown or error record."""
    for final in FINAL_STATES:
        assert not any(can_move(final, target) for target in State)


def test_late_intermediate_cannot_undo_a_final_receipt() -> None:
    assert not can_move(State.DELIVERED, State.ACCEPTED)
    assert can_move(State.ACCEPTED, State.DELIVERED)
    assert can_move(State.UNCONFIRMED, State.DELIVERED)


def test_lua_scripts_enforce_the_same_table(settings: Settings, redis_client: redis.Redis) -> None:
    """For every (from, to) pair, FINISH moves the record exactly when can_move says so."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    for current in State:
        for target in State:
            rid = new_request_id()
            store.create(rid, None, store.new_record(rid, to="16365553226", pin="1234", client_ref=None,
                                                     params=None, expires_at=time.time() + 60))
            redis_client.hset(store.key(rid), "state", current.value)
            after = store.finish(rid, target)
            expected = target.value if can_move(current, target) else current.value
            assert after == expected, (current, target)
