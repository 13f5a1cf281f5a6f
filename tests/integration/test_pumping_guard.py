"""The pumping guard (issue 19) through the real commands: `pinrelay api`, `pinrelay worker` (the
send queue and the callbacks queue), `pinrelay send`, `pinrelay guard`, a bare Celery app's
``send_task``, and the provider simulator, whose ledger says which SMS went out.

One stack serves the module: its workers send at ``PINRELAY_RATE_LIMIT=20``, and each test talks
to an API process of its own settings (enforce, monitor, quotas, the send share), all on the
stack's Redis prefix. The figures of the pumping run and of the flood go to the end-of-run
summary (``reliability figures``, tests/reliability/figures.py) for RELIABILITY.md.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests
from celery import Celery

from pinrelay_ops.simulator import Simulator
from tests.reliability.figures import Figures
from tests.support.api import VERIFY_SECRET, Client, cli, create_key, error_code
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for
from worker import constants as c
from worker.errors import NumberTypeRefusedError
from worker.guard import keys as k

GRACE_S, MIN_SENDS, MIN_CONVERSION, WINDOW_S, BLOCK_S = 2, 10, 0.3, 600, 600
RATE_LIMIT = 20.0  # the workers' send rate (PINRELAY_RATE_LIMIT)
ROUNDS_PER_S = 4  # the pumping run: one verification per pumped prefix and two honest ones a round
MIN_RUN_S = 6.0  # long enough for the honest prefixes to have MIN_SENDS judged sends each
PREMIUM, TOLL_FREE = "19005551234", "18775551234"
URLS: dict[str, str] = {}  # API process name -> its URL


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(
        redis_url, sim, tmp_path_factory.mktemp("pumping"), callbacks=True, verify_secret=VERIFY_SECRET,
        api_rate_per_key=1000.0, rate_limit_per_s=RATE_LIMIT, key_send_share=0.0, guard_mode="enforce",
        guard_grace_s=GRACE_S, guard_min_sends=MIN_SENDS, guard_min_conversion=MIN_CONVERSION,
        guard_window_s=WINDOW_S, guard_block_s=BLOCK_S)
    try:
        URLS["enforce"] = stack.stack.start_api()
        URLS["monitor"] = stack.stack.start_api(name="monitor", PINRELAY_GUARD="monitor")
        URLS["quota"] = stack.stack.start_api(name="quota", PINRELAY_KEY_HOURLY_QUOTA="3",
                                              PINRELAY_COUNTRY_HOURLY_CAP="CA=2")
        URLS["flood"] = stack.stack.start_api(name="flood", PINRELAY_KEY_SEND_SHARE="0.5")
        yield stack
    finally:
        URLS.clear()
        stop_live(stack)


def client(live: LiveStack, api: str, name: str = "tests") -> Client:
    return Client(URLS[api], create_key(live.settings, name)["key"])


def sms_to(sim: Simulator, start: str) -> list[dict[str, Any]]:
    """The simulator's requests whose number starts with ``start`` (a prefix or a whole number)."""
    return [r for r in sim.requests() if str(r["params"].get("to", "")).startswith(start)]


def records(live: LiveStack) -> int:
    client_ = live.producer.redis
    return sum(1 for _ in client_.scan_iter(match=f"{live.settings.key_prefix}{c.KEY_RECORD}*", count=1000))


def settled(live: LiveStack) -> bool:
    """No send of the stack is queued or on its way (the pending index is empty)."""
    return int(live.producer.redis.zcard(f"{live.settings.key_prefix}{c.KEY_PENDING}")) == 0


def guard_status(live: LiveStack) -> dict[str, Any]:
    done = cli(live.settings, "guard", "status")
    assert done.returncode == 0, done.stderr
    status: dict[str, Any] = json.loads(done.stdout)
    return status


def retry_after(answer: requests.Response) -> int:
    value = int(answer.headers["Retry-After"])
    assert value >= 1
    return value


# --- the pumping run --------------------------------------------------------------------------

@dataclass
class Attempt:
    prefix: str
    to: str
    at: float  # when the answer came
    status: int
    code: str = ""  # the error code, if refused
    retry_after: int = 0


@dataclass
class Run:
    """What one pumping run saw, per prefix."""

    attempts: list[Attempt] = field(default_factory=list)
    checked: int = 0
    check_failures: list[str] = field(default_factory=list)
    started: float = 0.0

    def of(self, prefix: str) -> list[Attempt]:
        return [a for a in self.attempts if a.prefix == prefix]

    def accepted(self, prefix: str) -> list[Attempt]:
        return [a for a in self.of(prefix) if a.status == 202]

    def refused(self, prefix: str) -> list[Attempt]:
        return [a for a in self.of(prefix) if a.status != 202]


def check_honestly(sim: Simulator, api: Client, vid: str, to: str, run: Run, lock: threading.Lock) -> None:
    """What an honest user does: read the code the phone got and type it in."""
    try:
        code = wait_for(lambda: next((str(r["params"]["pin"]) for r in sms_to(sim, to)
                                      if r.get("message_id")), None), 20, f"the code for {to}")
        answer = api.post(f"/v1/verifications/{vid}/check", json={"code": code})
        assert answer.status_code == 200 and answer.json()["status"] == "approved", answer.text
        with lock:
            run.checked += 1
    except Exception as exc:  # reported by the test, with every other failure
        with lock:
            run.check_failures.append(f"{to}: {exc}")


def pump(sim: Simulator, api: Client, pumped: tuple[str, ...], honest: tuple[str, ...],
         done: Callable[[Run], bool], *, first: int = 0, max_s: float = 30.0) -> Run:
    """Rounds of verifications at :data:`ROUNDS_PER_S`: one to a fresh number of each pumped prefix
    (never checked), one to each honest prefix (three in four of them checked with the code the
    simulator got) until ``done(run)`` (or ``max_s``); then the honest checks are awaited."""
    run, lock = Run(started=time.time()), threading.Lock()
    checks: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        n = 0
        while not done(run) and time.time() - run.started < max_s:
            pause = run.started + n / ROUNDS_PER_S - time.time()
            if pause > 0:
                time.sleep(pause)
            for prefix in pumped + honest:
                to = f"{prefix}{first + n:04d}"
                answer = api.post("/v1/verifications", json={"to": to})
                attempt = Attempt(prefix, to, time.time(), answer.status_code)
                if answer.status_code != 202:
                    attempt.code = error_code(answer)
                    attempt.retry_after = retry_after(answer)
                elif prefix in honest and n % 4 != 0:
                    checks.append(pool.submit(check_honestly, sim, api, answer.json()["id"], to, run, lock))
                run.attempts.append(attempt)
            n += 1
        for check in checks:
            check.result()
    return run


def leak_bound(run: Run, prefix: str) -> int:
    """:data:`MIN_SENDS` plus the sends admitted during the grace before the block (in flight:
    not yet old enough to count as unconverted), with 0.3 s of slack for the clocks."""
    accepted = [a.at for a in run.accepted(prefix)]
    last = max(accepted)
    return MIN_SENDS + sum(1 for at in accepted if at >= last - GRACE_S - 0.3)


PUMPED = ("1636201", "1636202", "1636203")
HONEST = ("1415201", "1415202")


def test_a_pumping_run_is_blocked_per_prefix_and_honest_users_are_not(live: LiveStack) -> None:
    sim = live.sim
    sim.reset()
    api = client(live, "enforce", "signup-form")  # one key for both: the guard tells them apart by prefix

    def blocked_for_a_while(run: Run) -> bool:
        return time.time() - run.started >= MIN_RUN_S and all(len(run.refused(p)) >= 3 for p in PUMPED)

    run = pump(sim, api, PUMPED, HONEST, blocked_for_a_while)
    assert run.check_failures == []
    wait_for(lambda: all(len(sms_to(sim, p)) == len(run.accepted(p)) for p in PUMPED + HONEST), 20,
             "every admitted send to reach the simulator")

    honest_sent = sum(len(run.of(p)) for p in HONEST)
    honest_refused = [a for p in HONEST for a in run.refused(p)]
    assert honest_refused == [], honest_refused
    assert run.checked == sum(1 for p in HONEST for i, _ in enumerate(run.of(p)) if i % 4 != 0)
    leaked: dict[str, int] = {}
    to_block: dict[str, float] = {}
    for prefix in PUMPED:
        refused = run.refused(prefix)
        assert refused, f"{prefix} was never blocked"
        assert {(a.status, a.code) for a in refused} == {(403, "guard_blocked")}
        assert all(BLOCK_S - 60 <= a.retry_after <= BLOCK_S for a in refused), refused
        first_refusal = refused[0].at
        # once refused, always refused: nothing of the prefix goes out after the block
        assert [a for a in run.accepted(prefix) if a.at > first_refusal] == []
        leaked[prefix] = len(sms_to(sim, prefix))
        assert leaked[prefix] == len(run.accepted(prefix))
        assert MIN_SENDS <= leaked[prefix] <= leak_bound(run, prefix), (prefix, leaked[prefix])
        to_block[prefix] = first_refusal - run.of(prefix)[0].at

    # the honest prefixes were judged (enough sends past the grace), and passed
    now_ms = time.time() * 1000
    for prefix in HONEST:
        judged = live.producer.redis.zcount(f"{live.settings.key_prefix}{k.KEY_PREFIX_SENDS}{prefix}",
                                            "-inf", now_ms - GRACE_S * 1000)
        assert judged >= MIN_SENDS, (prefix, judged)

    status = guard_status(live)
    blocked = {b["prefix"]: b for b in status["blocked"]}
    assert set(blocked) == set(PUMPED), status["blocked"]
    assert all(b["conversions"] == 0 and b["sends"] >= MIN_SENDS for b in blocked.values())
    assert status["mode"] == "enforce"

    # the operator lifts one block: the next verification to that prefix goes out
    lifted = cli(live.settings, "guard", "unblock", PUMPED[0])
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(lifted.stdout)["was"] == "blocked"
    to = f"{PUMPED[0]}9999"
    again = api.post("/v1/verifications", json={"to": to})
    assert again.status_code == 202, again.text
    wait_for(lambda: sms_to(sim, to), 20, "the send after the unblock")
    still = api.post("/v1/verifications", json={"to": f"{PUMPED[1]}9999"})
    assert (still.status_code, error_code(still)) == (403, "guard_blocked")
    assert {b["prefix"] for b in guard_status(live)["blocked"]} == set(PUMPED[1:])
    api.close()

    figures = ", ".join(f"{p}: {leaked[p]} SMS in {to_block[p]:.1f} s" for p in PUMPED)
    Figures("test_pumping_guard.py::pumping_run").add(
        "SMS pumping: 3 prefixes verified never", f"{ROUNDS_PER_S}/s per prefix, enforce, min sends "
        f"{MIN_SENDS}, grace {GRACE_S} s; honest prefixes 75% checked",
        sent=honest_sent, lost=len(honest_refused), duplicated=0,
        measured=f"leaked before the block {figures}; honest refused {len(honest_refused)} of {honest_sent}")
    print(f"\npumping run: {figures}; honest refused {len(honest_refused)} of {honest_sent}")


MONITORED = ("1636204", "1636205", "1636206")
HONEST_M = ("1415203", "1415204")


def test_monitor_mode_refuses_nothing_and_lists_what_it_would_block(live: LiveStack) -> None:
    sim = live.sim
    sim.reset()
    api = client(live, "monitor", "signup-monitored")
    index = f"{live.settings.key_prefix}{k.KEY_WOULD_BLOCKED}"
    listed_at: dict[str, float] = {}

    def listed_for_a_while(run: Run) -> bool:
        members: Any = live.producer.redis.zrange(index, 0, -1)
        for prefix in {m.decode() for m in members} & set(MONITORED):
            listed_at.setdefault(prefix, time.time())
        return (time.time() - run.started >= MIN_RUN_S and set(listed_at) == set(MONITORED)
                and time.time() - max(listed_at.values()) > 1.0)

    run = pump(sim, api, MONITORED, HONEST_M, listed_for_a_while)
    assert run.check_failures == []
    assert [a for a in run.attempts if a.status != 202] == []  # nothing refused, pumped or honest
    wait_for(lambda: all(len(sms_to(sim, p)) == len(run.of(p)) for p in MONITORED + HONEST_M), 20,
             "every send to reach the simulator")
    status = guard_status(live)
    assert {b["prefix"] for b in status["would_block"]} == set(MONITORED), status["would_block"]
    assert not {b["prefix"] for b in status["blocked"]} & set(MONITORED + HONEST_M)
    api.close()


# --- number types ---------------------------------------------------------------------------------

def test_a_premium_rate_number_is_refused_at_every_entry_point(live: LiveStack) -> None:
    sim = live.sim
    sim.reset()
    api = client(live, "enforce", "numbers")
    before = records(live)
    for path, body in (("/v1/pins", {"to": "+" + PREMIUM, "pin": "4321"}),
                       ("/v1/verifications", {"to": PREMIUM}),
                       ("/v1/pins", {"to": TOLL_FREE, "pin": "4321"})):
        answer = api.post(path, json=body)
        assert (answer.status_code, error_code(answer)) == (422, "number_type_refused"), answer.text
        assert "PINRELAY_NUMBER_TYPES" in answer.json()["error"]["message"]
    assert "premium-rate" in api.post("/v1/pins", json={"to": PREMIUM, "pin": "4321"}).text

    done = cli(live.settings, "send", "+" + PREMIUM, "--pin", "4321")
    assert (done.returncode, done.stdout) == (2, "")
    assert "is a premium-rate number" in done.stderr and "PINRELAY_NUMBER_TYPES" in done.stderr
    assert "Traceback" not in done.stderr and PREMIUM not in done.stderr

    with pytest.raises(NumberTypeRefusedError) as info:
        live.producer.send_pin(PREMIUM, "4321")
    assert info.value.number_type == "premium_rate"
    assert records(live) == before  # none of them stored anything

    other = Celery("other-service", broker=live.settings.redis_url, set_as_current=False)
    other.conf.update(task_serializer="json")
    try:
        task = other.send_task("pinrelay.send_pin", kwargs={"to": PREMIUM, "pin": "4321"},
                               queue=live.settings.queue)
        record = live.wait_state(task.id, {"error", "submitted"})
    finally:
        other.close()
    assert record["state"] == "error" and "is a premium-rate number" in record["error_text"], record
    assert records(live) == before + 1  # the task's own error record, as for any refused task
    time.sleep(0.3)  # what a worker might still be sending would show by now
    assert sms_to(sim, PREMIUM[:4]) == [] and sms_to(sim, TOLL_FREE[:4]) == []
    api.close()


# --- quotas -----------------------------------------------------------------------------------------

US, CA = "1636301", "1416555"


def test_each_quota_refuses_at_its_exact_count(live: LiveStack) -> None:
    """The quota API: 3 sends per key per hour, 2 to Canada per hour."""
    sim = live.sim
    sim.reset()
    first, second = client(live, "quota", "quota-a"), client(live, "quota", "quota-b")
    answers = [first.post("/v1/pins", json={"to": f"{US}{i:04d}", "pin": "5151"}) for i in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    refused = answers[-1]
    assert error_code(refused) == "quota_exceeded"
    assert 1 <= retry_after(refused) <= 3600
    message = refused.json()["error"]["message"]
    assert "hourly quota is used up" in message and "3 sends per hour (PINRELAY_KEY_HOURLY_QUOTA)" in message
    assert f"{US}0003" not in message

    canada = [second.post("/v1/pins", json={"to": f"{CA}{i:04d}", "pin": "5252"}) for i in range(3)]
    assert [a.status_code for a in canada] == [202, 202, 429]
    assert error_code(canada[-1]) == "quota_exceeded"
    assert "2 sends to CA per hour (PINRELAY_COUNTRY_HOURLY_CAP)" in canada[-1].json()["error"]["message"]
    assert second.post("/v1/pins", json={"to": f"{US}0100", "pin": "5353"}).status_code == 202  # not CA

    wait_for(lambda: len(sim.requests()) == 6, 20, "the admitted sends")
    time.sleep(0.3)
    assert len(sim.requests()) == 6 and not sms_to(sim, f"{US}0003") and not sms_to(sim, f"{CA}0002")
    first.close()
    second.close()

    # the command line: exit 4 and the setting to raise
    one = live.settings.replace(key_hourly_quota=1, producer_id="cli-quota")
    assert cli(one, "send", f"{US}0200", "--pin", "5454").returncode == 0
    done = cli(one, "send", f"{US}0201", "--pin", "5454")
    assert (done.returncode, done.stdout) == (4, "")
    assert "refused by an abuse limit (key_hourly)" in done.stderr
    assert "PINRELAY_KEY_HOURLY_QUOTA" in done.stderr and "retry in" in done.stderr
    wait_for(lambda: sms_to(sim, f"{US}0200"), 20, "the CLI's admitted send")
    assert not sms_to(sim, f"{US}0201")


def test_the_spend_cap_counts_the_providers_prices(live: LiveStack) -> None:
    """Estimates of 0.01, the provider's price 1.00: the cap of 2.5 more than today's spend stops
    the fourth send, where the estimates alone would have let 250 through."""
    sim, redis_client = live.sim, live.producer.redis
    sim.reset()
    wait_for(lambda: settled(live), 20, "the module's earlier sends to settle")
    spend_key = f"{live.settings.key_prefix}{k.KEY_SPEND}{k.day_slot(time.time())}"
    raw: Any = redis_client.get(spend_key)
    spent = float(raw or 0)
    sim.configure(message_price="1.00000000")
    try:
        url = live.stack.start_api(name="spend", PINRELAY_DAILY_SPEND_CAP=f"{spent + 2.5:.4f}",
                                   PINRELAY_PRICE_ESTIMATES="US=0.01,*=0.1")
        api = Client(url, create_key(live.settings, "spend")["key"])
        for i in range(3):
            answer = api.post("/v1/pins", json={"to": f"{US}05{i:02d}", "pin": "6161"})
            assert answer.status_code == 202, answer.text
            rid = answer.json()["id"]
            live.wait_state(rid, {"submitted", "delivered"})
            wait_for(price_settled(redis_client, f"{live.settings.key_prefix}{c.KEY_RECORD}{rid}"), 10,
                     "the price to settle")
            assert api.get(f"/v1/pins/{rid}").json()["price"] == "1.00000000"
        now: Any = redis_client.get(spend_key)
        assert float(now) == pytest.approx(spent + 3.0)
        refused = api.post("/v1/pins", json={"to": f"{US}0503", "pin": "6161"})
        assert (refused.status_code, error_code(refused)) == (429, "quota_exceeded"), refused.text
        assert "PINRELAY_DAILY_SPEND_CAP" in refused.json()["error"]["message"]
        assert retry_after(refused) <= 86400
        api.close()
    finally:
        sim.reset()
    assert not sms_to(sim, f"{US}0503")


def price_settled(redis_client: redis.Redis, record_key: str) -> Callable[[], bool]:
    return lambda: redis_client.hget(record_key, "price_settled") == b"1"


# --- one key's flood and another key's PIN -----------------------------------------------------------

def test_one_keys_flood_never_delays_another_keys_pin_by_more_than_2_s(live: LiveStack) -> None:
    """The workers send at 20/s; each key is admitted at half of it (2 s of tolerance)."""
    sim = live.sim
    sim.reset()
    flooder_key = create_key(live.settings, "flooder")["key"]
    other = client(live, "flood", "other")
    stop = threading.Event()
    statuses: list[tuple[int, str, str]] = []
    lock = threading.Lock()
    counter = iter(range(10_000))

    def flood() -> None:
        session = Client(URLS["flood"], flooder_key)
        while not stop.is_set():
            with lock:
                n = next(counter)
            answer = session.post("/v1/pins", json={"to": f"1312555{n:04d}", "pin": "7070"})
            refused = answer.status_code != 202
            with lock:
                statuses.append((answer.status_code, error_code(answer) if refused else "",
                                 answer.text if refused else ""))
        session.close()

    threads = [threading.Thread(target=flood) for _ in range(8)]
    began = time.time()
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    asked = time.time()
    answer = other.post("/v1/pins", json={"to": "16465550123", "pin": "808080"})
    assert answer.status_code == 202, answer.text
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    flood_s = time.time() - began
    arrived = wait_for(lambda: next((r["arrived"] for r in sms_to(sim, "16465550123")), None), 20,
                       "the other key's PIN")
    delay = float(arrived) - asked
    admitted = sum(1 for s in statuses if s[0] == 202)
    refused = [s for s in statuses if s[0] != 202]
    assert delay <= 2.0, f"the other key's PIN took {delay:.2f} s behind {admitted} admitted flood sends"
    assert refused and {s[:2] for s in refused} == {(429, "quota_exceeded")}, refused[:3]
    assert "PINRELAY_KEY_SEND_SHARE" in refused[0][2]
    share = RATE_LIMIT * 0.5  # 2 s of it at once, then its rate: never more over the flood
    assert admitted <= share * 2 + 1 + math.ceil(share * flood_s), (admitted, flood_s)
    wait_for(lambda: len(sms_to(sim, "1312555")) == admitted, 30, "the admitted flood to drain")
    Figures("test_pumping_guard.py::flood").add(
        "one key floods the HTTP API", f"8 threads for {flood_s:.1f} s, PINRELAY_RATE_LIMIT "
        f"{RATE_LIMIT:g}/s, share 0.5", sent=admitted + 1, lost=0, duplicated=0,
        measured=f"another key's PIN reached the provider {delay:.2f} s after its request; flood "
                 f"admitted {admitted}, refused {len(refused)} (key_send_share)")
    print(f"\nflood: other key's PIN after {delay:.2f} s; admitted {admitted}, refused {len(refused)}")
    other.close()
