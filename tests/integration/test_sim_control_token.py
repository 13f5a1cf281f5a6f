"""The simulator's ``/_sim/*`` control endpoints are not open to a network (issue 10, finding 9).

``/_sim/requests`` shows every PIN and ``/_sim/config`` rewires the fake provider. On loopback
(the default) they stay open, as every test and the demo use them. With a token
(``PINRELAY_SIM_CONTROL_TOKEN`` or ``--control-token``) each needs ``Authorization: Bearer``;
on any other interface ``pinrelay sim`` refuses to start without one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from pinrelay_ops.simulator import SimConfig, Simulator
from tests.support.waiting import wait_for
from worker.local.embedded import free_port

CLI = [sys.executable, "-m", "worker.cli"]
TOKEN = "sim-token-" + "0123456789abcdef"
CONTROL = ["/_sim/requests", "/_sim/stats", "/_sim/receipts", "/_sim/conversions", "/_sim/config"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(extra)
    return env


def test_a_non_loopback_simulator_without_a_token_refuses_to_start() -> None:
    """Exit 2 and one line naming the variable, before it listens anywhere. (The port is held
    on loopback meanwhile, so even a simulator that ignored the rule could not bind it.)"""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([*CLI, "sim", "--host", "0.0.0.0", "--port", str(port)], env=_env(),
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "PINRELAY_SIM_CONTROL_TOKEN" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def sim_process() -> Iterator[str]:
    """`pinrelay sim` on loopback with a control token from the environment."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "sim", "--host", "127.0.0.1", "--port", str(port)],
                            env=_env(PINRELAY_SIM_CONTROL_TOKEN=TOKEN), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/_sim/health"), 20, "the simulator to listen")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_with_a_token_every_control_endpoint_needs_it(sim_process: str) -> None:
    with requests.Session() as http:
        for path in CONTROL:
            assert http.get(sim_process + path, timeout=5).status_code == 401, path
            wrong = http.get(sim_process + path, headers={"Authorization": "Bearer nope"}, timeout=5)
            assert wrong.status_code == 401, path
            basic = http.get(sim_process + path, headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
            assert basic.status_code == 401, path
            good = http.get(sim_process + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            assert good.status_code == 200, path
        assert http.post(sim_process + "/_sim/reset", json={}, timeout=5).status_code == 401
        knobs = {"latency_ms": 5000}
        assert http.post(sim_process + "/_sim/config", json=knobs, timeout=5).status_code == 401
        # the provider's own URL works as before (its credentials are api_key/api_secret)
        sent = http.post(sim_process + "/sc/us/2fa/json", timeout=5, data={
            "api_key": "demo-key", "api_secret": "demo-secret-0123", "to": "16365553226", "pin": "1234"})
        assert sent.status_code == 200 and sent.json()["messages"][0]["status"] == "0"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        shown = http.get(sim_process + "/_sim/config", headers=auth, timeout=5)
        assert TOKEN not in shown.text and shown.json()["latency_ms"] == 0


def test_the_token_cannot_be_changed_over_http() -> None:
    with Simulator(SimConfig(control_token=TOKEN)) as sim, requests.Session() as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        changed = http.post(f"{sim.url}/_sim/config", json={"control_token": ""}, headers=auth, timeout=5)
        assert changed.status_code == 400
        assert http.get(f"{sim.url}/_sim/requests", timeout=5).status_code == 401
        http.post(f"{sim.url}/_sim/reset", json={}, headers=auth, timeout=5)
        assert http.get(f"{sim.url}/_sim/requests", timeout=5).status_code == 401  # reset keeps it


def test_on_loopback_without_a_token_the_control_endpoints_stay_open() -> None:
    with Simulator(SimConfig()) as sim:
        assert requests.get(f"{sim.url}/_sim/requests", timeout=5).status_code == 200


def test_the_simulators_secrets_come_from_the_environment_not_its_command_line() -> None:
    """Compose's `sim` runs with no secret on its command line (`ps` shows it to every user of the
    host, issue 23 finding 7): the account and the receipt secret come from PINRELAY_API_KEY,
    PINRELAY_API_SECRET and PINRELAY_SIGNATURE_SECRET. A 2FA call with that account is accepted,
    one with the demo account refused, and the process's argv holds none of them."""
    port = free_port()
    secrets = {"PINRELAY_API_KEY": "env-key", "PINRELAY_API_SECRET": "env-secret-0123456789",
               "PINRELAY_SIGNATURE_SECRET": "env-signing-secret-0123456789abcdef"}
    proc = subprocess.Popen([*CLI, "sim", "--host", "127.0.0.1", "--port", str(port)], env=_env(**secrets),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/_sim/health"), 20, "the simulator to listen")
        form = {"to": "16365553226", "pin": "123456"}
        ours = requests.post(f"{url}/sc/us/2fa/json", timeout=5,
                             data={**form, "api_key": "env-key", "api_secret": "env-secret-0123456789"})
        demo = requests.post(f"{url}/sc/us/2fa/json", timeout=5,
                             data={**form, "api_key": SimConfig.api_key, "api_secret": SimConfig.api_secret})
        assert ours.json()["messages"][0]["status"] == "0"
        assert demo.json()["messages"][0]["status"] == "4"
        assert requests.get(f"{url}/_sim/config", timeout=5).json()["signature_secret"] == "***"
        with open(f"/proc/{proc.pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode()
        assert not any(value in argv for value in secrets.values())
    finally:
        proc.terminate()
        proc.wait(timeout=20)
