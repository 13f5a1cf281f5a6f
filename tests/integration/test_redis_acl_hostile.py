"""ops/redis-users.acl against a holder of the producer's (or the HTTP API's) Redis password.

Issue 23, finding 3: the producer role could read every queued PIN (`SET pin:<id> x GET
KEEPTTL` inside a script, ids from `ZRANGE pending`). A real ``redis-server`` loads the
shipped file; another service's send and verification are stored by the real code as
``producer``, plus what workers keep (message index, dead letters, kombu's unacknowledged copy
of a plain ``send_task``, PIN included). Then every way to read a PIN, to learn an id it did not
create, or to reach the workers' keys is tried as ``producer`` and as ``api``, even with the
victim's id in hand: each must be refused, and the PIN must be what it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.redis_acl import ACL, AclRedis, acl_redis_server, refused
from worker.config import Settings
from worker.enqueue.producer import PinSpec, Producer
from worker.errors import AbuseLimitError
from worker.taskqueue.app import publisher_app
from worker.verify.service import Verifier

PIN = "482913"
VERIFY_SECRET = "acl-verify-secret-0123456789abcdef0123"


@dataclass
class Victim:
    """Another service's send, and the send of its verification (its code is that PIN)."""

    request_id: str
    verification_send: str

    def pin_key(self, request_id: str | None = None) -> str:
        return f"pinrelay:pin:{request_id or self.request_id}"


@pytest.fixture(scope="module")
def acl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    with acl_redis_server(tmp_path_factory.mktemp("acl-hostile")) as found:
        yield found


def _settings(acl: AclRedis, role: str) -> Settings:
    secrets = {"verify_secret": VERIFY_SECRET, "callback_secret": VERIFY_SECRET}
    return Settings.from_env({}).replace(redis_url=acl.url(role), callback_allow_private=True, **secrets)


@pytest.fixture(scope="module")
def victim(acl: AclRedis) -> Victim:
    """A send (client-ref, idempotency key, callback) and a verification, stored as `producer`;
    then what a worker would have added (as `admin`)."""
    settings = _settings(acl, "producer")
    producer = Producer(settings, publisher_app(settings))
    try:
        rid = producer.send_pin("16365553226", PIN, "login-7f3a", idempotency_key="victim-1",
                                callback_url="http://127.0.0.1:9/hook")
        vid = Verifier.for_producer(producer).start("16365553227")
        sent = producer.redis.hget(f"pinrelay:verify:{vid}", "send:1")
    finally:
        producer.close()
    admin = acl.admin()
    admin.set("pinrelay:msg:MSG-1", rid)
    admin.zadd("pinrelay:dead:sends", {rid: 1.0})
    admin.xadd("pinrelay:receipts", {"messageId": "MSG-1", "status": "delivered"})
    admin.hset("pinrelay:unacked", "tag-1", json.dumps({"kwargs": {"to": "16365553228", "pin": PIN}}))
    admin.zadd("pinrelay:unacked_index", {"tag-1": 1.0})
    admin.close()
    return Victim(rid, (sent or b"").decode())


@pytest.fixture(params=("producer", "api"))
def attacker(request: pytest.FixtureRequest, acl: AclRedis, victim: Victim) -> Iterator[redis.Redis]:
    client = acl.client(request.param)
    yield client
    client.close()
    admin = acl.admin()
    assert admin.get(victim.pin_key()) == PIN.encode(), "the victim's PIN changed"
    admin.close()


def _all_refused(calls: dict[str, Callable[[], Any]]) -> None:
    allowed = [name for name, call in calls.items() if not refused(call)]
    assert allowed == [], f"not refused: {allowed}"


def test_no_command_reads_a_pin_even_with_its_id(attacker: redis.Redis, victim: Victim) -> None:
    key = victim.pin_key()
    attacker.lpush("pinrelay", "x")  # a list the attacker may write, for SORT ... GET
    _all_refused({
        "GET": lambda: attacker.get(key),
        "SET GET": lambda: attacker.set(key, "1", get=True),
        "SET GET KEEPTTL": lambda: attacker.execute_command("SET", key, "1", "GET", "KEEPTTL"),
        "GETSET": lambda: attacker.getset(key, "1"),
        "GETDEL": lambda: attacker.getdel(key),
        "GETEX": lambda: attacker.getex(key),
        "GETRANGE": lambda: attacker.getrange(key, 0, -1),
        "SUBSTR": lambda: attacker.execute_command("SUBSTR", key, 0, -1),
        "STRLEN": lambda: attacker.strlen(key),
        "LCS": lambda: attacker.execute_command("LCS", key, key),
        "COPY": lambda: attacker.copy(key, "pinrelay:pin:copied"),
        "DUMP": lambda: attacker.dump(key),
        "RESTORE": lambda: attacker.restore("pinrelay:pin:restored", 0, b"\x00", replace=True),
        "MIGRATE": lambda: attacker.execute_command("MIGRATE", "127.0.0.1", 1, key, 0, 100),
        "OBJECT ENCODING": lambda: attacker.object("encoding", key),
        "MEMORY USAGE": lambda: attacker.memory_usage(key),
        "SORT GET": lambda: attacker.sort("pinrelay", by="nosort", get=key),
        "APPEND": lambda: attacker.append(key, ""),
        "SETRANGE": lambda: attacker.setrange(key, 0, ""),
        "BITCOUNT": lambda: attacker.bitcount(key),
        "GETBIT": lambda: attacker.getbit(key, 0),
        "BITFIELD": lambda: attacker.bitfield(key).get("u8", 0).execute(),
        "RENAME": lambda: attacker.rename(key, "pinrelay:idem:stolen"),
        "MOVE": lambda: attacker.move(key, 1),
        "TYPE": lambda: attacker.type(key),
        "EVAL": lambda: attacker.eval("return redis.call('GET', KEYS[1])", 1, key),
        "FUNCTION LOAD": lambda: attacker.function_load("#!lua name=x\nredis.register_function('x', "
                                                        "function(k) return redis.call('GET', k[1]) end)"),
    })


@pytest.mark.parametrize("body", [
    "return redis.call('GET', KEYS[1])",
    "return redis.call('SET', KEYS[1], 'x', 'GET', 'KEEPTTL')",  # the issue's attack
    "return redis.call('GETSET', KEYS[1], 'x')",
    "return redis.call('GETRANGE', KEYS[1], 0, -1)",
    "return redis.call('STRLEN', KEYS[1])",
    "return redis.call('DUMP', KEYS[1])",
    "return redis.call('COPY', KEYS[1], 'pinrelay:idem:stolen')",
])
def test_no_script_reads_a_pin(attacker: redis.Redis, victim: Victim, body: str) -> None:
    """SCRIPT LOAD + EVALSHA are the producer's (its store step is a script), but a script runs
    with its caller's rules: each command in it is refused as it would be sent directly."""
    sha = attacker.script_load(body)
    assert refused(lambda: attacker.evalsha(sha, 1, victim.pin_key()))
    assert refused(lambda: attacker.evalsha(sha, 1, victim.pin_key(victim.verification_send)))


def test_no_request_or_verification_id_can_be_listed(attacker: redis.Redis, acl: AclRedis) -> None:
    """Ids come from nowhere the attacker can read: the pending set, the client-ref index, the
    callback watch, the verification sets, the queue, the message index, dead letters, a scan."""
    zsets = ("pinrelay:pending", "pinrelay:refs:login-7f3a", "pinrelay:cbwatch:pin",
             "pinrelay:verify-due", "pinrelay:verify-conv", "pinrelay:dead:sends", "pinrelay:unacked_index")
    calls: dict[str, Callable[[], Any]] = {}
    for key in zsets:
        calls |= {f"ZRANGE {key}": lambda k=key: attacker.zrange(k, 0, -1),
                  f"ZRANGEBYSCORE {key}": lambda k=key: attacker.zrangebyscore(k, "-inf", "+inf"),
                  f"ZSCAN {key}": lambda k=key: attacker.zscan(k),
                  f"ZRANDMEMBER {key}": lambda k=key: attacker.zrandmember(k, 5),
                  f"ZPOPMIN {key}": lambda k=key: attacker.zpopmin(k),
                  f"SORT {key}": lambda k=key: attacker.sort(k, by="nosort")}
    calls |= {"LRANGE queue": lambda: attacker.lrange("pinrelay", 0, -1),
              "LRANGE celery": lambda: attacker.lrange("celery", 0, -1),
              "LINDEX queue": lambda: attacker.lindex("pinrelay", 0),
              "RPOP queue": lambda: attacker.rpop("pinrelay"),
              "BRPOP queue": lambda: attacker.brpop(["pinrelay"], 1),
              "LMOVE queue": lambda: attacker.lmove("pinrelay", "pinrelay-mine"),
              "LPOS queue": lambda: attacker.execute_command("LPOS", "pinrelay", "x"),
              "GET msg": lambda: attacker.get("pinrelay:msg:MSG-1"),
              "XRANGE receipts": lambda: attacker.xrange("pinrelay:receipts"),
              "HGETALL unacked": lambda: attacker.hgetall("pinrelay:unacked"),
              "SCAN": lambda: attacker.scan(0),
              "KEYS": lambda: attacker.keys("*"),
              "RANDOMKEY": attacker.randomkey,
              "MONITOR": lambda: attacker.execute_command("MONITOR"),
              "PSUBSCRIBE keyspace": lambda: attacker.execute_command("PSUBSCRIBE", "__key*__:*"),
              "CLIENT LIST": attacker.client_list}
    for key in zsets:  # the same from inside a script
        sha = attacker.script_load(f"return redis.call('ZRANGE', '{key}', 0, -1)")
        calls[f"script ZRANGE {key}"] = lambda s=sha: attacker.evalsha(s, 0)
    _all_refused(calls)
    assert attacker.zcard("pinrelay:refs:login-7f3a") == 1  # counted (create.lua's reuse counter) ...
    admin = acl.admin()
    assert admin.zcard("pinrelay:pending") >= 2 and admin.llen("pinrelay") >= 2  # ... and all there
    admin.close()


def test_the_guard_keys_list_no_id_and_read_no_pin(attacker: redis.Redis, acl: AclRedis,
                                                  victim: Victim) -> None:
    """The guard's rights (its send path's, and the api's admin routes) open no way around the
    rest: the prefix windows hold request ids and are only counted; no SCAN or KEYS, even of
    guard:*; no PIN read, directly or from a script."""
    admin = acl.admin()
    windows = ("pinrelay:guard:pfx:1636555", "pinrelay:guard:conv:1636555")
    for key in windows:
        admin.zadd(key, {victim.request_id: 1.0})
    counted = admin.zcard(windows[0])  # the victim's verification send is judged there too
    calls: dict[str, Callable[[], Any]] = {
        "SCAN": lambda: attacker.scan(0),
        "SCAN MATCH guard": lambda: attacker.scan(0, match="pinrelay:guard:*"),
        "KEYS": lambda: attacker.keys("*"),
        "KEYS guard": lambda: attacker.keys("pinrelay:guard:*"),
        "GET pin": lambda: attacker.get(victim.pin_key()),
        "SET GET pin": lambda: attacker.set(victim.pin_key(), "1", get=True),
        "DEL the queue (the guard's DEL is for its own keys)": lambda: attacker.delete("pinrelay"),
        "DEL pending": lambda: attacker.delete("pinrelay:pending"),
        "ZRANGE pending": lambda: attacker.zrange("pinrelay:pending", 0, -1),
    }
    for key in ("pinrelay:guard:pfx:1636555", "pinrelay:guard:conv:1636555"):
        calls |= {f"ZRANGE {key}": partial(attacker.zrange, key, 0, -1),
                  f"ZRANGEBYSCORE {key}": partial(attacker.zrangebyscore, key, "-inf", "+inf"),
                  f"ZSCAN {key}": partial(attacker.zscan, key),
                  f"ZRANDMEMBER {key}": partial(attacker.zrandmember, key, 5),
                  f"ZPOPMIN {key}": partial(attacker.zpopmin, key),
                  f"SORT {key}": partial(attacker.sort, key, by="nosort")}
    for body in ("return redis.call('SCAN', 0, 'MATCH', 'pinrelay:guard:*')",
                 "return redis.call('KEYS', '*')", "return redis.call('GET', KEYS[1])"):
        calls[f"script {body}"] = partial(attacker.evalsha, attacker.script_load(body), 1, victim.pin_key())
    try:
        _all_refused(calls)
        assert attacker.zcard(windows[0]) == counted  # counted, as create.lua counts it
    finally:  # the other tests send to this prefix: leave no window a judged send would trip on
        admin.delete(*windows)
        admin.close()


def test_the_guard_send_path_runs_as_every_sending_role(acl: AclRedis) -> None:
    """What create.lua's guard step does, as `producer` and `api` (they run the store step) and
    `worker` (a plain send_task's send): quota, spend and share counters, the prefix windows,
    blocks and their indexes, the safe list, the day's origins, the stats. Redis refuses nothing."""
    acl.reset_log()
    for role in ("producer", "api", "worker"):
        client = acl.client(role)
        p = "pinrelay:guard:"
        try:
            for key in (f"{p}q:key:h:key_a:2026120804", f"{p}spend:20261208", f"{p}share:key_a"):
                client.set(key, "1", px=60_000)
                client.get(key)
                client.pttl(key)
                client.pexpire(key, 60_000)
                client.expire(key, 60)
            client.incrby(f"{p}q:key:h:key_a:2026120804", 2)
            client.incrbyfloat(f"{p}spend:20261208", 0.25)
            for key in (f"{p}pfx:1415555", f"{p}conv:1415555"):
                client.zadd(key, {"r1": 1.0})
                client.zremrangebyscore(key, "-inf", 0)
                assert client.zcount(key, "-inf", "+inf") == client.zcard(key) == 1
            # a prefix no other test sends to (a block of it would refuse their sends)
            for key, index in ((f"{p}block:1415999", f"{p}blocked"),
                               (f"{p}wouldblock:1415999", f"{p}wouldblock")):
                client.exists(key)
                client.hset(key, mapping={"since": 1, "until": 2})
                client.hget(key, "until")
                client.pexpire(key, 60_000)
                client.pttl(key)
                client.zadd(index, {"1415999": 2.0})
                client.zremrangebyrank(index, 0, -10_001)
                client.zcard(index)
            client.sismember(f"{p}safe", "1415999")
            client.smismember(f"{p}safe", ["1415", "1415999"])
            client.sadd(f"{p}origins:20261208", "key_a")
            client.expire(f"{p}origins:20261208", 2 * 86400)
            client.hincrby("pinrelay:stats", "guard:key_hourly:enforce", 1)
        finally:
            client.close()
    assert acl.refusals() == set()


def test_a_record_is_read_by_its_id_only(attacker: redis.Redis, victim: Victim) -> None:
    """What `get_status` needs: the record by its id (never with the PIN in it). Nothing of the
    workers' or the receiver's (receipts, the message index, nonces, the rate bucket, the
    queue and pending set as a whole) and no admin command."""
    raw = attacker.hgetall(f"pinrelay:req:{victim.request_id}")
    record = {k.decode(): v.decode() for k, v in raw.items()}
    assert record["to"] == "16365553226" and PIN not in record.values()
    _all_refused({
        "HSCAN record": lambda: attacker.hscan(f"pinrelay:req:{victim.request_id}"),
        "XADD receipts (forge one)": lambda: attacker.xadd("pinrelay:receipts", {"status": "delivered"}),
        "SET msg (claim a message-id)": lambda: attacker.set("pinrelay:msg:MSG-2", victim.request_id),
        "SET nonce": lambda: attacker.set("pinrelay:nonce:n1", "1"),
        "PUBLISH": lambda: attacker.publish("celeryev", "x"),
        "HSET rate bucket": lambda: attacker.hset("pinrelay:rate:bucket", "pause_until", "9e15"),
        "SET over the queue": lambda: attacker.set("pinrelay", "x"),
        "LPUSH another app's list": lambda: attacker.lpush("celery-task-meta-1", "x"),
        "DEL the queue": lambda: attacker.delete("pinrelay"),
        "DEL pending": lambda: attacker.delete("pinrelay:pending"),
        "ZREMRANGEBYRANK pending": lambda: attacker.zremrangebyrank("pinrelay:pending", 0, -1),
        "SET a record's key": lambda: attacker.set(f"pinrelay:req:{victim.request_id}", "x"),
        "FLUSHALL": attacker.flushall,
        "FLUSHDB": attacker.flushdb,
        "CONFIG GET": lambda: attacker.config_get("*"),
        "ACL LIST": attacker.acl_list,
        "SHUTDOWN": lambda: attacker.execute_command("SHUTDOWN", "NOSAVE"),
    })


def test_the_api_role_cannot_mint_list_or_unrevoke_keys(acl: AclRedis) -> None:
    api, admin = acl.client("api"), acl.admin()
    admin.hset("pinrelay:apikey:key_0123456789abcdef", mapping={"id": "key_0123456789abcdef",
                                                               "revoked_at": "1.0"})
    try:
        _all_refused({
            "SET a key's hash index": lambda: api.set("pinrelay:apikey:sha256:" + "0" * 64, "key_mine"),
            "ZRANGE apikeys": lambda: api.zrange("pinrelay:apikeys", 0, -1),
            "HGETALL a key": lambda: api.hgetall("pinrelay:apikey:key_0123456789abcdef"),
            "HDEL revoked_at": lambda: api.hdel("pinrelay:apikey:key_0123456789abcdef", "revoked_at"),
        })
        assert api.get("pinrelay:apikey:sha256:" + "1" * 64) is None  # what authenticating needs
        assert api.hget("pinrelay:apikey:key_0123456789abcdef", "revoked_at") == b"1.0"
    finally:
        api.close()
        admin.close()


def test_bulk_enqueue_runs_as_the_producer(acl: AclRedis, victim: Victim) -> None:
    """send_pins over several chunks with the limits on (a check call per chunk, then the
    chunks streamed by SHA), a repeat, a full window and a denied number, as `producer`:
    Redis refuses nothing (the refusals are pinrelay's, with their retry-after)."""
    settings = _settings(acl, "producer").replace(
        per_number_10min=5, per_number_day=50, per_prefix_minute=100_000,
        # the guard counts every chunk (its commands run as `producer`) but lets the load through
        key_send_share=0.0, key_hourly_quota=100_000, key_daily_quota=100_000,
        country_hourly_cap=("*=100000",), country_burst_10min=("*=100000",))
    acl.reset_log()
    producer = Producer(settings, publisher_app(settings))
    admin = acl.admin()
    try:
        before = admin.llen("pinrelay")
        admin.sadd("pinrelay:denylist", "16365559999")  # read (and cached) by the first send
        specs = [PinSpec(f"1636555{i:04d}", "4829", idempotency_key=f"acl-bulk-{i}") for i in range(450)]
        ids = producer.send_pins(specs)
        assert len(set(ids)) == 450 and admin.llen("pinrelay") == before + 450
        assert producer.send_pins(specs[:3]) == ids[:3]  # one chunk: limits and records in one step
        assert producer.send_pin(specs[5].to, "4829", idempotency_key="acl-bulk-5") == ids[5]
        # refusals: the number's window is full (its retry-after read from the window), denied
        for _ in range(4):
            producer.send_pin(specs[0].to, "4829")
        with pytest.raises(AbuseLimitError) as full:
            producer.send_pin(specs[0].to, "4829")
        assert full.value.limit == "number_10min" and full.value.retry_after_s
        with pytest.raises(AbuseLimitError, match="denylist"):
            producer.send_pin("16365559999", "4829", idempotency_key="acl-denied")
    finally:
        producer.close()
        admin.close()
    assert acl.refusals() == set()


def test_nobody_gets_in_without_a_user(acl: AclRedis) -> None:
    once = Retry(NoBackoff(), 0)  # an authentication error is not worth redis-py's retries
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl.port, socket_timeout=5, retry=once).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl.port, username="worker", password="guess", retry=once).ping()


def test_the_receiver_appends_receipts_and_nothing_else(acl: AclRedis) -> None:
    admin, receiver = acl.admin(), acl.client("receiver")
    admin.hset("pinrelay:req:r1", mapping={"state": "submitted", "to": "16365553226"})
    admin.set("pinrelay:pin:r1", "482913")
    assert receiver.xadd("pinrelay:receipts", {"messageId": "X1", "status": "delivered"})
    _all_refused({
        "HGETALL record": lambda: receiver.hgetall("pinrelay:req:r1"),
        "GET pin": lambda: receiver.get("pinrelay:pin:r1"),
        "HSET record": lambda: receiver.hset("pinrelay:req:r1", "state", "failed"),
        "XRANGE receipts": lambda: receiver.xrange("pinrelay:receipts"),
        "LPUSH queue": lambda: receiver.lpush("pinrelay", "task"),
        "FLUSHALL": receiver.flushall, "FLUSHDB": receiver.flushdb, "KEYS": lambda: receiver.keys("*"),
        "CONFIG GET": lambda: receiver.config_get("*"), "CONFIG SET": lambda: receiver.config_set("save", ""),
    })
    assert admin.hget("pinrelay:req:r1", "state") == b"submitted"
    receiver.close()
    admin.close()



def test_the_api_role_is_the_producers_plus_its_keys() -> None:
    """`api` = `producer`'s rules + the key lookup, revocation check and rate state: a rule
    added to one (a new key family of the store step, say) cannot be forgotten in the other."""
    lines = {line.split()[1]: line.split()[4:] for line in ACL.read_text().splitlines()
             if line.startswith("user ")}
    producer, api = lines["producer"], lines["api"]
    assert api[: len(producer)] == producer
    assert " ".join(api[len(producer):]) == (
        "(%R~pinrelay:apikey:sha256:* +get) (~pinrelay:apikey:key_* +hget +hexists +hset) "
        "(~pinrelay:apirate:* +get +set) "
        # the guard's admin routes (worker/guard/status.py, admin.py) and nothing more
        "(%R~pinrelay:guard:blocked %R~pinrelay:guard:wouldblock +zrange) "
        "(%R~pinrelay:guard:block:* %R~pinrelay:guard:wouldblock:* %R~pinrelay:guard:peak:* +hgetall) "
        "(%R~pinrelay:guard:q:* %R~pinrelay:guard:spend:* +get) (%R~pinrelay:guard:origins:* +smembers) "
        "(~pinrelay:guard:safe +smembers +sadd +srem) (%W~pinrelay:guard:block:* "
        "%W~pinrelay:guard:wouldblock:* %W~pinrelay:guard:pfx:* %W~pinrelay:guard:conv:* +del) "
        "(%W~pinrelay:guard:blocked %W~pinrelay:guard:wouldblock +zrem)")
