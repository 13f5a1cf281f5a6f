"""`pinrelay demo`: the whole loop on one machine, against the provider simulator.

Starts (as real processes) a private Redis unless one is configured, the
simulator, the receipt receiver, the correlator and a Celery worker; sends N
PINs; waits until every send is accounted for; prints final states and
latencies; stops everything. Exits 1 if any send is unaccounted for.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.local.demo_routes import on_simulator, simulator_args, with_application
from worker.local.embedded import free_port
from worker.local.supervisor import Stack
from worker.states import State
from worker.stats import percentile

# A send is accounted for once it left these states (a receipt, an error, or unconfirmed).
IN_FLIGHT = frozenset({State.QUEUED, State.SENDING, State.SUBMITTED})


def demo_numbers(count: int) -> list[str]:
    """Valid, distinct US numbers in the 555 fictional range."""
    return [f"1636555{(1000 + i) % 10000:04d}" for i in range(count)]


def progress(done: int, total: int, label: str, stream: Any = sys.stderr) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    stream.write(f"\r{label:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        stream.write("\n")
    stream.flush()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def summarize(records: list[dict[str, str]]) -> tuple[Counter[str], list[float], list[float]]:
    states: Counter[str] = Counter(r.get("state", "missing") for r in records)
    to_submit = [float(r["submitted_at"]) - float(r["created_at"])
                 for r in records if r.get("submitted_at")]
    to_final = [float(r["receipt_at"]) - float(r["submitted_at"])
                for r in records if r.get("receipt_at") and r.get("submitted_at")]
    return states, to_submit, to_final


def run_demo(settings: Settings, *, count: int = 200, workers: int = 2,
             timeout_s: float = 120.0, route: str | None = None) -> int:
    from worker.enqueue.producer import Producer
    from worker.worker_app import create_app

    log_dir = Path(tempfile.mkdtemp(prefix="pinrelay-demo-"))
    # The demo never burns real limits: abuse limits off, 100 distinct numbers.
    settings = settings.replace(per_number_10min=0, per_number_day=0, per_prefix_minute=0,
                       rate_limit_per_s=0)
    stack = Stack(settings, log_dir=log_dir)
    print(f"pinrelay demo: {count} PINs{f' over {route}' if route else ''}; component logs in {log_dir}",
          flush=True)
    try:
        stack.ensure_redis()
        webhook_port, sim_port = free_port(), free_port()
        if route:  # before the receiver starts: it checks the Twilio route's callbacks
            stack.settings = on_simulator(stack.settings, route, sim_port, webhook_port)
        webhook = stack.start_webhook(webhook_port)
        key_file = log_dir / "messages-application.key"  # the `messages` route's demo application
        stack.start_sim("--dlr-url", f"{webhook}/delivery-receipt-webhook", "--dlr-delay", "0.2",
                        *simulator_args(stack.settings, key_file), port=sim_port)
        stack.settings = with_application(stack.settings, key_file)
        stack.start_correlator()
        stack.start_worker(concurrency=workers)
        app = create_app(stack.settings)
        stack.wait_workers(app)
        producer = Producer(stack.settings, app)
        ids = []
        for i, number in enumerate(demo_numbers(count), start=1):
            ids.append(producer.send_pin(number, f"{(i * 7919) % 1000000:06d}", f"demo-{i}"))
            if i % 10 == 0 or i == count:
                progress(i, count, "sent")
        deadline = time.monotonic() + timeout_s
        while True:
            records = producer.store.get_many(ids)
            pending = sum(1 for r in records if r.get("state", "queued") in IN_FLIGHT)
            progress(count - pending, count, "settled")
            if pending == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        states, to_submit, to_final = summarize(records)
        print("\nfinal state          count")
        for state, n in sorted(states.items(), key=lambda kv: -kv[1]):
            print(f"  {state:<18} {n:>5}")
        print(f"  {'total':<18} {sum(states.values()):>5}")
        print("\nlatency                 p50       p99")
        print(f"  enqueue->submitted  {_ms(percentile(to_submit, 50)):>8}  "
              f"{_ms(percentile(to_submit, 99)):>8}")
        print(f"  submitted->receipt  {_ms(percentile(to_final, 50)):>8}  "
              f"{_ms(percentile(to_final, 99)):>8}")
        unaccounted = sum(states[s] for s in IN_FLIGHT) + states.get("missing", 0)
        if unaccounted:
            print(f"\n{unaccounted} sends unaccounted for after {timeout_s:.0f}s", file=sys.stderr)
            return 1
        print(f"\nall {count} sends accounted for")
        producer.close()
        return 0
    finally:
        stack.stop()
