"""API keys against a real Redis: shown once, stored as a hash, revoked at once, rate limited."""

from __future__ import annotations

import hashlib
import time

import pytest
import redis

from worker.api.keys import ApiKeys, UnknownKeyError
from worker.config import Settings


def test_a_new_key_is_long_random_and_stored_only_as_its_hash(
        settings: Settings, redis_client: redis.Redis) -> None:
    keys = ApiKeys(redis_client, settings.key_prefix)
    created = keys.create("billing")
    assert created["key"].startswith("pk_") and len(created["key"]) >= 3 + 43  # 32 bytes, urlsafe
    assert created["id"].startswith("key_")
    stored = b"".join(k + b"=" + (redis_client.dump(k) or b"") for k in redis_client.scan_iter(
        match=f"{settings.key_prefix}*"))
    assert created["key"].encode() not in stored
    assert hashlib.sha256(created["key"].encode()).hexdigest().encode() in stored
    assert keys.authenticate(created["key"]).status == "ok"


def test_list_shows_names_and_times_never_the_key(settings: Settings, redis_client: redis.Redis) -> None:
    keys = ApiKeys(redis_client, settings.key_prefix)
    first, second = keys.create("a"), keys.create("b")
    keys.authenticate(second["key"])
    listed = keys.list()
    assert [k["id"] for k in listed] == [first["id"], second["id"]]
    assert set(listed[0]) == {"id", "name", "admin", "created_at", "last_used_at", "revoked_at",
                              "own_callback_secret"}
    assert listed[0]["admin"] is False
    assert listed[0]["last_used_at"] is None and listed[1]["last_used_at"] is not None
    assert first["key"] not in repr(listed)


def test_a_key_may_have_a_callback_secret_of_its_own(settings: Settings, redis_client: redis.Redis) -> None:
    """Made (shown once in create's answer) or given; never listed; too short a secret refused."""
    keys = ApiKeys(redis_client, settings.key_prefix)
    made, given, plain = keys.create("made", ""), keys.create("given", "s" * 40), keys.create("plain")
    assert len(made["callback_secret"]) >= 32 and given["callback_secret"] == "s" * 40
    assert "callback_secret" not in plain
    assert [k["own_callback_secret"] for k in keys.list()] == [True, True, False]
    assert made["callback_secret"] not in repr(keys.list())
    assert keys.has_callback_secret(given["id"]) and not keys.has_callback_secret(plain["id"])
    with pytest.raises(ValueError, match="callback secret"):
        keys.create("short", "too-short")


def test_a_revoked_key_fails_on_the_next_request(settings: Settings, redis_client: redis.Redis) -> None:
    """Any process's next check sees a revocation: nothing is cached."""
    keys = ApiKeys(redis_client, settings.key_prefix)
    other_process = ApiKeys(redis_client, settings.key_prefix)
    created = keys.create("leaked")
    assert other_process.authenticate(created["key"]).status == "ok"
    assert keys.revoke(created["id"])["revoked_at"] is not None
    assert other_process.authenticate(created["key"]).status == "revoked"
    with pytest.raises(UnknownKeyError):
        keys.revoke("key_nope")


def test_unknown_keys_are_unknown(settings: Settings, redis_client: redis.Redis) -> None:
    assert ApiKeys(redis_client, settings.key_prefix).authenticate("pk_guess").status == "unknown"


def test_the_rate_limit_allows_a_burst_then_asks_to_wait(
        settings: Settings, redis_client: redis.Redis) -> None:
    """2 requests/s: two at once pass, the third waits about half a second (Retry-After 1)."""
    keys = ApiKeys(redis_client, settings.key_prefix, rate_per_s=2)
    key = keys.create("busy")["key"]
    verdicts = [keys.authenticate(key) for _ in range(3)]
    assert [v.status for v in verdicts] == ["ok", "ok", "limited"]
    assert verdicts[2].retry_after_s == 1
    deadline = time.monotonic() + 5
    while keys.authenticate(key).status == "limited":  # conforms again after ~1/2 s
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_limit_is_per_key_and_shared_by_processes(settings: Settings, redis_client: redis.Redis) -> None:
    one, two = (ApiKeys(redis_client, settings.key_prefix, rate_per_s=1) for _ in range(2))
    a, b = one.create("a")["key"], one.create("b")["key"]
    assert [one.authenticate(a).status, two.authenticate(a).status] == ["ok", "limited"]
    assert two.authenticate(b).status == "ok"


def test_a_name_must_be_printable(settings: Settings, redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="printable"):
        ApiKeys(redis_client, settings.key_prefix).create("  ")
