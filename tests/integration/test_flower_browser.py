"""Flower and the HTML report, looked at the way an operator does: in headless Chromium.

One live stack for the module (a worker, the receipt receiver, the correlator,
the in-process simulator firing receipts) plus ``python -m worker.cli flower`` with
basic auth on a free port. A batch of PINs goes through; then Chromium loads
Flower's pages with the credentials in the URL, and the report's HTML page. Sends
that end ``error`` or ``unconfirmed`` are checked to be FAILURE over Flower's API.

Screenshots go to the test's tmp directory; with PINRELAY_UPDATE_SCREENSHOTS=1
they replace docs/flower.png and docs/report.png. Chromium missing is a failure
(CI installs it: ``apt-get install -y chromium``), never a skip.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.sim import receipts_to
from tests.support.waiting import wait_for
from worker.local.embedded import free_port
from worker.local.supervisor import wait_http

USER = "ops"
PASSWORD = "flower-test-password-0451"
PIN_COUNT = 24
DOCS = Path(__file__).resolve().parents[2] / "docs"
MIX = {"delivered": 80, "failed": 8, "expired": 6, "rejected": 3, "unknown": 3}
RECEIPT_STATES = {"accepted", "buffered", "delivered", "expired", "failed", "rejected", "unknown"}
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--hide-scrollbars",
)


def chromium(tmp: Path, url: str, *args: str, window: str = "1400,900") -> str:
    """Run headless Chromium on ``url``; its stdout. Fails the test when Chromium is absent."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("Chromium is not installed; install it with: apt-get install -y chromium")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={window}",
         "--virtual-time-budget=5000", *args, url],
        capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode(errors="replace")


def screenshot_path(tmp: Path, name: str) -> Path:
    """docs/NAME when PINRELAY_UPDATE_SCREENSHOTS=1, else a file in the test's tmp directory."""
    if os.environ.get("PINRELAY_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS / name
    return tmp / name


@dataclass
class FlowerRun:
    live: LiveStack
    url: str  # http://127.0.0.1:PORT, no credentials
    ids: list[str]
    pins: list[str]
    tmp: Path
    extra_ids: list[str] = field(default_factory=list)  # sends made by later tests

    def authed(self, path: str) -> str:
        return self.url.replace("http://", f"http://{USER}:{PASSWORD}@") + path

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(self.url + path, params=params, auth=(USER, PASSWORD), timeout=10)
        response.raise_for_status()
        return response.json()


def _succeeded_in_flower(run: FlowerRun) -> bool:
    tasks = run.api("/api/tasks", taskname="pinrelay.send_pin", state="SUCCESS")
    return set(run.ids) <= set(tasks)


@pytest.fixture(scope="module")
def flower_run(redis_url: str, sim: Simulator,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowerRun]:
    tmp = tmp_path_factory.mktemp("flower")
    live = start_live(redis_url, sim, tmp / "logs", workers=1, receiver=True)
    try:
        receipts_to(sim, live.stack.webhook_url or "", dlr_delay_s=0.05, dlr_mix=MIX)
        port = free_port()
        flower = live.stack._start(
            "flower", [sys.executable, "-m", "worker.cli", "flower", "--port", str(port),
                       "--address", "127.0.0.1"],
            PINRELAY_FLOWER_USER=USER, PINRELAY_FLOWER_PASSWORD=PASSWORD,
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthcheck", "Flower", flower)
        # Flower only shows tasks whose events it received: wait until it hears the worker.
        online = re.compile(r'flower_worker_online\{worker="worker0-[^"]+"\} 1\.0')
        wait_for(lambda: online.search(requests.get(f"{url}/metrics", timeout=5).text), 30,
                 "Flower to receive the worker's heartbeat events")
        pins = [f"90{n:06d}" for n in random.sample(range(10**6), PIN_COUNT)]
        ids = [live.producer.send_pin(f"1636555{2000 + i:04d}", pin, f"flower-{i}")
               for i, pin in enumerate(pins)]
        run = FlowerRun(live, url, ids, pins, tmp)
        wait_for(lambda: _succeeded_in_flower(run), 30, "Flower to show every send_pin task as SUCCESS")
        wait_for(lambda: all((r := live.record(i)) and r["state"] in RECEIPT_STATES for i in ids), 30,
                 "every send to be correlated with its receipt")
        yield run
    finally:
        sim.reset()
        stop_live(live)


def test_flower_refuses_to_start_without_basic_auth_credentials(tmp_path: Path) -> None:
    """Without PINRELAY_FLOWER_USER/PASSWORD (and no --insecure-dev) Flower exits 2 and says why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINRELAY_", "FLOWER_"))}
    env["PINRELAY_RUNTIME_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "worker.cli", "flower", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "PINRELAY_FLOWER_USER and PINRELAY_FLOWER_PASSWORD" in done.stderr


def test_flower_answers_401_without_the_right_credentials(flower_run: FlowerRun) -> None:
    """Pages and API alike need the basic-auth password."""
    for path in ("/tasks", "/api/tasks", f"/task/{flower_run.ids[0]}"):
        assert requests.get(flower_run.url + path, timeout=10).status_code == 401
        assert requests.get(flower_run.url + path, auth=(USER, "wrong-password-123"),
                            timeout=10).status_code == 401


def test_flower_tasks_page_lists_succeeded_send_pin_tasks_and_no_pin(flower_run: FlowerRun) -> None:
    """In Chromium, Flower's task list shows pinrelay.send_pin tasks that succeeded, and no PIN."""
    succeeded = flower_run.api("/api/tasks", taskname="pinrelay.send_pin", state="SUCCESS")
    assert sorted(succeeded) == sorted(flower_run.ids)
    dom = chromium(flower_run.tmp, flower_run.authed("/tasks"), "--dump-dom")
    assert "pinrelay.send_pin" in dom
    assert "SUCCESS" in dom
    assert "Access denied" not in dom
    assert [pin for pin in flower_run.pins if pin in dom] == []
    shot = screenshot_path(flower_run.tmp, "flower.png")
    chromium(flower_run.tmp, flower_run.authed("/tasks"), f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_flower_task_page_shows_only_the_request_id(flower_run: FlowerRun) -> None:
    """A task's own page carries request_id as its only argument: the PIN never reaches Flower."""
    request_id, pin = flower_run.ids[0], flower_run.pins[0]
    info = flower_run.api(f"/api/task/info/{request_id}")
    assert info["name"] == "pinrelay.send_pin"
    assert info["state"] == "SUCCESS"
    assert info["kwargs"] == f"{{'request_id': '{request_id}'}}"
    assert info["args"] == "()"
    dom = chromium(flower_run.tmp, flower_run.authed(f"/task/{request_id}"), "--dump-dom")
    assert request_id in dom
    assert pin not in dom
    assert not re.search(r"['\"]pin['\"]", dom)


def _flower_task(run: FlowerRun, request_id: str, state: str) -> dict[str, Any] | None:
    tasks = run.api("/api/tasks", taskname="pinrelay.send_pin", state=state)
    return tasks.get(request_id)


def test_failed_sends_show_as_failure_with_their_reason(flower_run: FlowerRun) -> None:
    """A send the provider refuses (barred) or never answers is FAILURE in Flower, with the reason.

    The record is written first; the task is not a dead task (``dead:tasks``) and the worker
    logs no traceback. A good send beside them stays SUCCESS.
    """
    live, sim = flower_run.live, flower_run.live.sim
    barred_number = "16365559001"
    sim.configure(barred=[barred_number])
    try:
        barred = live.producer.send_pin(barred_number, "424242", "flower-barred")
        flower_run.extra_ids.append(barred)
        live.wait_state(barred, {"error"})
        good = live.producer.send_pin("16365559002", "434343", "flower-good")
        flower_run.extra_ids.append(good)
        live.wait_state(good, RECEIPT_STATES)
        sim.configure(script=["hang:3"])  # longer than the read timeout: the PIN may be out
        silent = live.producer.send_pin("16365559003", "454545", "flower-silent")
        flower_run.extra_ids.append(silent)
        live.wait_state(silent, {"unconfirmed", *RECEIPT_STATES})
    finally:
        sim.configure(barred=[], script=[])
    failed = wait_for(lambda: _flower_task(flower_run, barred, "FAILURE"), 30,
                      "Flower to show the barred send's task as FAILURE")
    assert "error: " in failed["exception"] and "Number Barred" in failed["exception"], failed
    assert "\n" not in failed["exception"]
    assert wait_for(lambda: _flower_task(flower_run, good, "SUCCESS"), 30, "the good send as SUCCESS")
    unconfirmed = wait_for(lambda: _flower_task(flower_run, silent, "FAILURE"), 30,
                           "Flower to show the unanswered send's task as FAILURE")
    assert unconfirmed["exception"].startswith("SendFailedError('unconfirmed: "), unconfirmed
    info = flower_run.api(f"/api/task/info/{barred}")
    assert info["state"] == "FAILURE" and info["kwargs"] == f"{{'request_id': '{barred}'}}"
    dead_tasks = live.producer.redis.zrange(f"{live.settings.key_prefix}dead:tasks", 0, -1)
    assert dead_tasks == []
    dead_sends = {m.decode() for m in
                  live.producer.redis.zrange(f"{live.settings.key_prefix}dead:sends", 0, -1)}
    assert barred in dead_sends
    assert "Traceback" not in live.worker_log()
    dom = chromium(flower_run.tmp, flower_run.authed("/tasks"), "--dump-dom")
    assert "FAILURE" in dom
    # The hung request did send the PIN: its receipt (matched by client-ref) settles the record.
    live.wait_state(silent, RECEIPT_STATES, timeout=30)


def test_report_page_shows_tables_and_key_figures_in_chromium(flower_run: FlowerRun) -> None:
    """`report --html` over the run: counts every send; Chromium renders its tables and plots.

    The page has real tables (outcomes coloured by meaning, latency, networks, err-codes with
    their full labels), the key figures (delivered share, conversion rate), the carrier-name
    footnote and at least three plots; no PIN appears anywhere.
    """
    page = flower_run.tmp / "report.html"
    env = flower_run.live.stack.env()
    argv = [sys.executable, "-m", "worker.cli", "report", "--since", "15m", "--html", str(page)]
    done = subprocess.run(argv,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    ids = flower_run.ids + flower_run.extra_ids
    assert f"{len(ids)} sends created since" in done.stdout
    records = [flower_run.live.record(i) or {} for i in ids]
    delivered = sum(1 for r in records if r["state"] == "delivered")
    with_receipt = sum(1 for r in records if r.get("submitted_at") and r.get("receipt_at"))
    assert re.search(rf"^  delivered\s+{delivered}\s", done.stdout, re.MULTILINE), done.stdout
    assert re.search(rf"^  submitted -> receipt\s+{with_receipt}\s", done.stdout, re.MULTILINE), done.stdout
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 3
    assert [pin for pin in flower_run.pins if pin in text] == []
    dom = chromium(flower_run.tmp, page.as_uri(), "--dump-dom")
    assert "<h1>pinrelay report</h1>" in dom and "<pre>" not in dom
    for table in ("states", "latency", "networks", "err-codes", "provider-status"):
        assert f'<table id="{table}">' in dom, table
    states = dom.split('<table id="states">', 1)[1].split("</table>", 1)[0]
    assert re.search(rf'<tr class="m-good"><td><span class="badge m-good">delivered</span></td>'
                     rf'<td class="num">{delivered}</td>', states), states
    assert '<span class="badge m-bad">failed</span>' in states
    assert '<span class="badge m-doubt">expired</span>' in states
    codes = dom.split('<table id="err-codes">', 1)[1].split("</table>", 1)[0]
    assert "Delivered" in codes and "undocumented" not in codes
    assert 'data-kpi="conversion rate"' in dom and 'data-kpi="delivered"' in dom
    assert "<code>310004</code>" in dom and "ITU-T E.212" in dom
    assert dom.count("<img ") >= 3
    shot = screenshot_path(flower_run.tmp, "report.png")
    chromium(flower_run.tmp, page.as_uri(), f"--screenshot={shot}", window="1400,2050")
    assert shot.stat().st_size > 10_000
