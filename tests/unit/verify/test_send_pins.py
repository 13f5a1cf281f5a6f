"""A verification's plaintext code in the send path: dropped at every end of its send, never replayed.

A plain ``send_pin`` keeps its PIN after ``error``/``unconfirmed`` so an operator may replay
it; a verification's send (idempotency key ``verify:<id>:<n>``) must not: a replay would be
a new request the verification never links, and the code would sit in Redis meanwhile.
"""

from __future__ import annotations

import argparse
import time

import pytest
import redis

from tests.unit.verify.sendpath import RecordingSendPath
from worker import constants as c
from worker import lua
from worker.cli.dead import run_dead
from worker.config import Settings
from worker.states import State
from worker.verify.service import Verifier, idempotency_key

TO = "16365553226"


def _pin(redis_client: redis.Redis, settings: Settings, request_id: str) -> bytes | None:
    value: bytes | None = redis_client.get(f"{settings.key_prefix}pin:{request_id}")
    return value


@pytest.mark.parametrize("target", [State.ERROR, State.UNCONFIRMED])
def test_a_verify_send_drops_its_pin_where_a_plain_send_keeps_it(
    sender: RecordingSendPath, redis_client: redis.Redis, vsettings: Settings, target: State
) -> None:
    """error/unconfirmed: the plain send's PIN stays for a replay; the verify send's is deleted."""
    store = sender.producer.store
    plain = sender.producer.send_pin(TO, "482913")
    verify = sender.producer.send_pin(TO, "482914", idempotency_key=f"verify:{'a' * 32}:1")
    for request_id in (plain, verify):
        assert store.claim(request_id).verdict == "ok"
        store.finish(request_id, target, fields={"error_text": "test"})
    assert _pin(redis_client, vsettings, plain) == b"482913"
    assert _pin(redis_client, vsettings, verify) is None


def test_a_verify_send_whose_worker_died_drops_its_pin(sender: RecordingSendPath, redis_client: redis.Redis,
                                                       vsettings: Settings) -> None:
    """A stale claim (the worker died during the call) settles it unconfirmed, without its code."""
    store = sender.producer.store
    verify = sender.producer.send_pin(TO, "482914", idempotency_key=f"verify:{'a' * 32}:1")
    assert store.claim(verify).verdict == "ok"
    assert store.claim(verify, now=time.time() + 120).verdict == "unconfirmed"
    assert store.get_raw(verify)["state"] == "unconfirmed"
    assert _pin(redis_client, vsettings, verify) is None


def test_a_verification_send_is_not_replayed(verifier: Verifier, sender: RecordingSendPath,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`pinrelay dead replay` of a verify send: exit 1, says to resend the verification, sends nothing."""
    vid = verifier.start(TO)
    [request_id] = [s["request_id"] for s in verifier.get(vid)["sends"]]
    store = sender.producer.store
    store.claim(request_id)
    store.finish(request_id, State.UNCONFIRMED, fields={"error_text": "no answer"})
    assert store.replay(request_id)[0] == "verification"
    args = argparse.Namespace(action="replay", kind="sends", id=request_id)
    assert run_dead(args, sender.producer) == 1
    out = capsys.readouterr().out
    assert "a verification send cannot be replayed; resend the verification" in out and vid in out
    assert "replayed_as" not in store.get_raw(request_id)


def test_the_scripts_know_the_prefix_the_verifier_uses() -> None:
    """finish.lua and claim.lua spell out the prefix of a verification's idempotency keys."""
    assert idempotency_key("a" * 32, 2) == f"{c.VERIFY_IDEMPOTENCY_PREFIX}{'a' * 32}:2"
    prefix = c.VERIFY_IDEMPOTENCY_PREFIX
    for name in ("finish", "claim"):
        assert f"string.sub(idem, 1, {len(prefix)}) == '{prefix}'" in lua.source(name)
