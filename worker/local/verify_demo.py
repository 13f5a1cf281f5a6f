"""`pinrelay demo --verify`: the whole verify loop against the simulator, with simulated users.

Starts the same processes as ``pinrelay demo`` (private Redis unless one is configured,
simulator, receiver, correlator, a worker), then starts N verifications, one per
simulated user. Each user reads the code the simulator received for their number
(``GET /_sim/requests``: the simulator is the user's phone) and behaves as real users
do: most type it in; some make a typo first, ask for a resend, never come back (the code
expires), or guess until the verification locks. At the end every verification must
have ended as its user's behaviour implies and every send's conversion must have
reached the simulator (``delivered=true`` for the approved code, ``false`` otherwise).
Exits 1 otherwise.
"""

from __future__ import annotations

import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import requests

from worker.config import Settings
from worker.local.demo import demo_numbers, progress
from worker.local.supervisor import Stack
from worker.logs import configure_logging
from worker.stats import percentile

DEMO_TTL_S: Final = 8  # short, so that the users who never come back expire within the demo
_CODE_IN_TEXT: Final = re.compile(r"(?<!\d)(\d{6,10})(?!\d)")

# behaviour -> the outcome it must end in; users take them in turn, so every run has each.
BEHAVIOURS: Final = (
    ("types it in", "approved"),
    ("types it in", "approved"),
    ("types it in", "approved"),
    ("types it in", "approved"),
    ("makes a typo, then types it", "approved"),
    ("asks for a resend, types the new code", "approved"),
    ("types it in", "approved"),
    ("never types it", "expired"),
    ("guesses five times", "locked"),
    ("types it in", "approved"),
)


def received_code(sim_url: str, to: str, after: int = 0, timeout_s: float = 20.0) -> str:
    """The newest code the simulator received for ``to`` once it holds more than ``after`` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = codes_sent(sim_url, to)
        if len(found) > after:
            return found[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"the simulator received no code for {to} in {timeout_s:.0f}s")
        time.sleep(0.1)


def codes_sent(sim_url: str, to: str) -> list[str]:
    """Every code the simulator received for ``to``, oldest first (the 2FA ``pin`` or an SMS text's)."""
    out = []
    for record in requests.get(f"{sim_url}/_sim/requests", timeout=5).json():
        params = record.get("params") or {}
        if not record.get("message_id"):
            continue  # not (yet) accepted: the phone has not got it
        if params.get("to") not in (to, f"+{to}") and params.get("To") != f"+{to}":
            continue
        code = params.get("pin")
        if not code:
            found = _CODE_IN_TEXT.search(params.get("text") or params.get("Body") or "")
            code = found.group(1) if found else None
        if code:
            out.append(code)
    return out


def _wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def simulated_user(verifier: Any, sim_url: str, to: str, behaviour: str) -> tuple[str, str]:
    """One user's session; returns ``(verification id, final check status or "never")``."""
    verification_id = verifier.start(to, client_ref=f"demo-verify-{to[-4:]}", ttl=DEMO_TTL_S)
    code = received_code(sim_url, to)
    status = "never"
    if behaviour == "makes a typo, then types it":
        verifier.check(verification_id, _wrong(code))
    elif behaviour == "asks for a resend, types the new code":
        verifier.resend(verification_id)
        code = received_code(sim_url, to, after=1)
    elif behaviour == "guesses five times":
        for _ in range(5):
            status = verifier.check(verification_id, _wrong(code))["status"]
        return verification_id, status
    elif behaviour == "never types it":
        return verification_id, status
    return verification_id, verifier.check(verification_id, code)["status"]


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def run_verify_demo(settings: Settings, *, count: int = 20, workers: int = 2) -> int:
    """Run the demo; 0 when every verification ended as expected and every conversion arrived."""
    from worker.enqueue.producer import Producer
    from worker.verify.service import Verifier
    from worker.worker_app import create_app

    log_dir = Path(tempfile.mkdtemp(prefix="pinrelay-demo-verify-"))
    # The demo never burns real limits, and brings its own HMAC key if none is configured.
    key = settings.verify_secret or secrets.token_urlsafe(32)
    settings = settings.replace(per_number_10min=0, per_number_day=0, per_prefix_minute=0,
                       rate_limit_per_s=0, verify_secret=key)
    configure_logging(settings, level="WARNING")  # the table is the demo's output, not our events
    stack = Stack(settings, log_dir=log_dir)
    print(f"pinrelay demo --verify: {count} users, codes valid {DEMO_TTL_S}s; component logs in {log_dir}",
          flush=True)
    try:
        stack.ensure_redis()
        webhook = stack.start_webhook()
        sim_url = stack.start_sim("--dlr-url", f"{webhook}/delivery-receipt-webhook", "--dlr-delay", "0.2")
        stack.start_correlator()
        stack.start_worker(concurrency=workers)
        stack.start_worker("callbacks", concurrency=1, callbacks=True)  # the expiry and the conversions
        app = create_app(stack.settings)
        stack.wait_workers(app, count=2)
        producer = Producer(stack.settings, app)
        verifier = Verifier.for_producer(producer)
        users = [(to, BEHAVIOURS[i % len(BEHAVIOURS)]) for i, to in enumerate(demo_numbers(count))]
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(simulated_user, verifier, sim_url, to, b) for to, (b, _) in users]
            sessions = []
            for i, future in enumerate(futures, start=1):
                sessions.append(future.result())
                progress(i, count, "users")
        views: dict[str, dict[str, Any]] = {}

        def all_ended() -> bool:
            views.update((vid, verifier.get(vid)) for vid, _ in sessions)
            return all(v["state"] != "pending" for v in views.values())

        _wait(all_ended, DEMO_TTL_S + 30)
        sent = [s for v in views.values() for s in v["sends"]]
        with_id = {s["message_id"] for s in sent if s["message_id"]}

        def conversions() -> list[dict[str, Any]]:
            return [c["params"] for c in requests.get(f"{sim_url}/_sim/conversions", timeout=5).json()]

        _wait(lambda: with_id <= {c.get("message-id") for c in conversions()}, 30)
        return _print_summary(users, sessions, views, conversions(), with_id)
    finally:
        stack.stop()


def _print_summary(users: list[tuple[str, tuple[str, str]]], sessions: list[tuple[str, str]],
                   views: dict[str, dict[str, Any]], reported: list[dict[str, Any]],
                   with_id: set[str]) -> int:
    wrong = 0
    table: Counter[tuple[str, str, str]] = Counter()
    for (_, (behaviour, expected)), (vid, _) in zip(users, sessions, strict=True):
        state = views[vid]["state"]
        table[(behaviour, expected, state)] += 1
        wrong += state != expected
    print("\nuser                                      count  expected  ended")
    for (behaviour, expected, state), n in sorted(table.items()):
        print(f"  {behaviour:<40} {n:>4}  {expected:<9} {state}")
    states = Counter(v["state"] for v in views.values())
    ended = sum(states[s] for s in ("approved", "expired", "locked"))
    times = [_seconds(v["approved_at"]) - _seconds(v["created_at"])
             for v in views.values() if v["approved_at"]]
    rate = f"{100 * states['approved'] / ended:.1f}%" if ended else "-"
    print(f"\nconversion rate {rate} ({states['approved']} approved of {ended} ended)")
    print("start->approval  " + "  ".join(f"p{p} {_fmt(percentile(times, p))}" for p in (50, 90, 99)))
    ours = [c for c in reported if c.get("message-id") in with_id]
    delivered = Counter(c.get("delivered") for c in ours)
    missing = with_id - {c.get("message-id") for c in ours}
    print(f"conversions at the simulator: {delivered.get('true', 0)} delivered=true, "
          f"{delivered.get('false', 0)} delivered=false, {len(missing)} missing")
    if wrong or missing:
        print(f"\n{wrong} verifications ended unexpectedly, {len(missing)} conversions missing",
              file=sys.stderr)
        return 1
    print(f"\nall {len(sessions)} verifications ended as their users behaved; every send reported")
    return 0


def _seconds(iso_time: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_time).timestamp()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
