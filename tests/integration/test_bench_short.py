"""`pinrelay bench --short` end to end, as CI runs it: every scenario completes, nothing is lost.

No timing is asserted: the short plan is too small for its figures to mean
anything, and shared machines drift. What must hold on any machine is that
each scenario and each baseline ran, and that every send, receipt and enqueue
the bench counted arrived where it should.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SCENARIOS = {"sends", "receipts", "correlation", "enqueue"}
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180  # the short run takes well under 90 s on 2 idle cores


def run_short(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env["PINRELAY_RUNTIME_DIR"] = str(tmp_path / "runtime")
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "bench", "--short", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    data = json.loads(out.read_text()) if out.exists() else {}
    if done.returncode == 0 and data.get("log_dir", "").startswith(tempfile.gettempdir()):
        shutil.rmtree(data["log_dir"], ignore_errors=True)  # component logs: kept only on failure
    return done, data


def test_bench_short_runs_every_scenario_and_loses_nothing(tmp_path: Path) -> None:
    """The short bench exits 0, reports every scenario with its baselines, and loses nothing."""
    done, data = run_short(tmp_path)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert set(data["scenarios"]) == SCENARIOS
    for name, scenario in data["scenarios"].items():
        assert scenario["failure"] is None, name
        assert scenario["lost"] == 0, name
        assert scenario["errors"] == 0, name
        variants = [row["variant"] for row in scenario["rows"]]
        assert any(v.startswith("pinrelay") for v in variants), name
        assert any(v.startswith("naive") for v in variants), name
        assert all(row["ops"] > 0 and row["lost"] == 0 for row in scenario["rows"]), name
    assert data["ok"] is True
    sends = data["scenarios"]["sends"]
    assert {"sends", "sends@200/s", "sends@30/s", "sends-scale"} <= {row["scenario"] for row in sends["rows"]}
    assert set(sends["figures"]["redis_core_ceiling_sends_per_s"]) == {"pinrelay", "naive"}
    for goal in sends["goals"]:  # every target of the sends scenario judged, and printed so
        if goal["op"]:
            assert goal["met"] in (True, False), goal
            verdict = "met" if goal["met"] else "MISSED"
            assert any(goal["what"] in line and line.endswith(verdict) for line in done.stdout.splitlines())
