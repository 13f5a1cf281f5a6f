"""The transition table: final states never move, and Redis enforces exactly the Python table."""

from __future__ import annotations

import json
import time

import redis

from worker import constants as c
from worker import lua
from worker.config import Settings
from worker.records.store import RecordStore, new_request_id
from worker.states import FINAL_STATES, RECEIPT_STATES, TRANSITIONS, State, can_move


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


def test_rendered_prelude_holds_the_python_table(redis_client: redis.Redis) -> None:
    """Redis, running the rendered prelude, sees exactly states.py's table and constants.py's keys."""
    keys = ",".join(f"{name}={name}" for name, _ in lua.KEY_NAMES)
    probe = lua.prelude() + f"return cjson.encode({{T=T, FINAL=FINAL, RECEIPT=RECEIPT, K={{{keys}}}}})\n"
    seen = json.loads(redis_client.eval(probe, 0))
    assert {state: set(targets) for state, targets in seen["T"].items()} == {
        state.value: {t.value for t in targets} for state, targets in TRANSITIONS.items()}
    assert all(flag is True for targets in seen["T"].values() for flag in targets.values())
    assert set(seen["FINAL"]) == {s.value for s in FINAL_STATES}
    assert set(seen["RECEIPT"]) == {s.value for s in RECEIPT_STATES}
    assert seen["K"]["K_PIN"] == c.KEY_PIN and seen["K"]["K_REC"] == c.KEY_RECORD
    assert seen["K"] == dict(lua.KEY_NAMES)
