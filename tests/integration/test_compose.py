"""The deployment files (compose, image, Redis config, alert rules, systemd units) are valid.

No Docker engine runs here, so the compose file is checked with ``docker-compose
config`` (Debian's ``docker-compose``; in CI its absence is a failure) and its
shape with PyYAML. Where the real tool is on the machine (redis-server, promtool,
systemd-analyze) the file is also handed to it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.redis_acl import render_acl
from tests.support.waiting import wait_for
from worker.config import ENV_NAMES
from worker.local.embedded import find_redis_server, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"redis", "worker", "callbacks", "webhook", "correlator", "api", "flower", "sim", "prometheus"}
PINRELAY_SERVICES = SERVICES - {"redis", "prometheus"}
SCRAPE_JOBS = {"pinrelay-worker", "pinrelay-webhook", "pinrelay-correlator"}
COMMANDS = {"worker", "webhook", "correlate", "api", "flower", "sim"}
METRICS = {
    "pinrelay_send_attempts_total", "pinrelay_submit_latency_seconds", "pinrelay_sends_total",
    "pinrelay_receipts_total", "pinrelay_receipt_lag_seconds", "pinrelay_unmatched_receipts",
    "pinrelay_queue_depth", "pinrelay_oldest_queued_age_seconds", "pinrelay_result_queue_pending",
    "pinrelay_rate_limit_wait_seconds", "pinrelay_webhook_requests_total", "pinrelay_route_state",
    # the pumping guard (worker/guard/metrics.py)
    "pinrelay_guard_decisions_total", "pinrelay_guard_judged_sends_total", "pinrelay_guard_conversions_total",
    "pinrelay_guard_blocked_prefixes", "pinrelay_guard_would_block_prefixes",
    "pinrelay_guard_newest_block_timestamp_seconds", "pinrelay_spend_today", "pinrelay_spend_cap",
    "pinrelay_quota_use_ratio",
}
# The alerts the pumping guard needs (issue 19): a new block, spend above 80% of the cap, a
# country's conversion rate under half its 7-day rate; ops/prometheus/alerts_test.yml proves
# each fires on the series that should fire it, and only then (promtool test rules).
GUARD_ALERTS = {"PinrelayGuardNewBlock", "PinrelaySpendHigh", "PinrelayCountryConversionDrop"}
UNITS = {"pinrelay-worker@.service": "worker", "pinrelay-webhook.service": "webhook",
         "pinrelay-correlator.service": "correlate", "pinrelay-flower.service": "flower",
         "pinrelay-callbacks.service": "worker"}
# Each unit's own environment file (ops/systemd/env/<name>.env, installed in /etc/pinrelay/).
UNIT_ENV = {"pinrelay-worker@.service": "worker", "pinrelay-webhook.service": "webhook",
            "pinrelay-correlator.service": "correlator", "pinrelay-flower.service": "flower",
            "pinrelay-callbacks.service": "callbacks"}


def yaml_text(text: str) -> Any:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to check the deployment files: add it to the dev dependencies")
    return yaml.safe_load(text)


def load_yaml(path: Path) -> Any:
    return yaml_text(path.read_text())


# The role passwords compose requires (ops/redis-users.acl); any values do for `config`.
REDIS_PASSWORDS = {f"PINRELAY_REDIS_{role}_PASSWORD": f"{role.lower()}-pw-0123"
                   for role in ("WORKER", "RECEIVER", "PRODUCER", "API")}
# Variables a service reads that are not pinrelay Settings (the simulator's own).
NOT_SETTINGS = {"sim": {"PINRELAY_SIM_CONTROL_TOKEN"}}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(extra)
    return env


# compose refuses to run without the provider account (PINRELAY_API_KEY:?...).
CREDENTIALS = {"PINRELAY_API_KEY": "compose-key", "PINRELAY_API_SECRET": "compose-secret"}


def test_docker_compose_accepts_the_compose_file() -> None:
    """`docker-compose config -q` passes; the resolved file keeps the simulator behind a profile."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed; CI needs: apt-get install -y docker-compose")
        test_compose_services_share_one_image_and_workers_can_scale()
        return
    base = [binary, "--project-directory", str(ROOT), "-f", str(COMPOSE)]

    def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=clean_env(**env), capture_output=True, text=True,
                              timeout=60, check=False)

    done = compose("config", "-q", **CREDENTIALS, **REDIS_PASSWORDS)
    assert done.returncode == 0, done.stderr
    resolved = yaml_text(compose("config", **CREDENTIALS, **REDIS_PASSWORDS).stdout)["services"]
    assert set(resolved) == SERVICES
    assert resolved["sim"]["profiles"] == ["sim"] and resolved["prometheus"]["profiles"] == ["monitoring"]
    assert resolved["worker"]["environment"]["PINRELAY_API_KEY"] == "compose-key"
    assert resolved["worker"]["build"]["dockerfile"] == "ops/Dockerfile"
    assert "/readyz" in " ".join(resolved["webhook"]["healthcheck"]["test"])
    for name in ("worker", "correlator"):
        assert "9100/metrics" in " ".join(resolved[name]["healthcheck"]["test"]), name
    # the simulator's account and receipt secret reach it in its environment, never its command line
    assert resolved["sim"]["environment"]["PINRELAY_API_KEY"] == "compose-key"
    assert not {"--api-key", "--api-secret", "--signature-secret"} & set(resolved["sim"]["command"])
    assert "compose-secret" not in " ".join(resolved["sim"]["command"])
    urls = {name: resolved[name]["environment"].get("PINRELAY_REDIS_URL") for name in PINRELAY_SERVICES}
    assert urls == {"worker": "redis://worker:worker-pw-0123@redis:6379/0",
                    "callbacks": "redis://worker:worker-pw-0123@redis:6379/0",
                    "correlator": "redis://worker:worker-pw-0123@redis:6379/0",
                    "flower": "redis://worker:worker-pw-0123@redis:6379/0",
                    "api": "redis://api:api-pw-0123@redis:6379/0",
                    "webhook": "redis://receiver:receiver-pw-0123@redis:6379/0",
                    "sim": None}
    missing = compose("config", "-q", **REDIS_PASSWORDS)
    assert missing.returncode != 0 and "set PINRELAY_API_KEY" in missing.stderr
    missing = compose("config", "-q", **CREDENTIALS)  # no Redis passwords: refused, naming one
    assert missing.returncode != 0
    assert "PINRELAY_REDIS_" in missing.stderr and "_PASSWORD" in missing.stderr


def test_compose_services_share_one_image_and_workers_can_scale() -> None:
    """Every pinrelay service builds ops/Dockerfile; the worker has no fixed port or name."""
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert set(services) == SERVICES
    assert services["sim"]["profiles"] == ["sim"]
    for name in PINRELAY_SERVICES:
        assert services[name]["build"] == {"context": ".", "dockerfile": "ops/Dockerfile"}, name
        assert services[name]["command"][0] in COMMANDS, name
        unknown = {k for k in services[name]["environment"] if k.removeprefix("PINRELAY_") not in
                   set(ENV_NAMES.values())} - NOT_SETTINGS.get(name, set())
        assert unknown == set(), f"{name} sets variables Settings does not read: {unknown}"
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]
    assert "./ops/redis.conf:/usr/local/etc/redis/redis.conf:ro" in services["redis"]["volumes"]
    assert "./ops/redis-users.acl:/usr/local/etc/redis/users.acl.in:ro" in services["redis"]["volumes"]
    assert (ROOT / "ops" / "Dockerfile").is_file()
    for name in ("PINRELAY_API_KEY", "PINRELAY_API_SECRET"):  # required: no empty string passed on
        assert compose["x-pinrelay-env"][name].startswith(f"${{{name}:?"), name


def test_image_has_a_healthcheck_on_the_metrics_port() -> None:
    """ops/Dockerfile declares a HEALTHCHECK on /metrics and turns the metrics port on."""
    text = (ROOT / "ops" / "Dockerfile").read_text()
    assert re.search(r"^HEALTHCHECK .+\\\n\s+CMD .*/metrics", text, re.MULTILINE), text
    assert "PINRELAY_METRICS_PORT=9100" in text


def test_scrape_config_jobs_are_the_ones_the_alerts_name(tmp_path: Path) -> None:
    """prometheus.yml scrapes exactly the jobs alerts.yml names and loads those rules (promtool agrees)."""
    prometheus_dir = ROOT / "ops" / "prometheus"
    config = load_yaml(prometheus_dir / "prometheus.yml")
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == SCRAPE_JOBS
    alerts_text = (prometheus_dir / "alerts.yml").read_text()
    assert set(re.findall(r"pinrelay-(?:worker|webhook|correlator)\b", alerts_text)) == SCRAPE_JOBS
    target_down = next(rule for group in yaml_text(alerts_text)["groups"] for rule in group["rules"]
                       if rule["alert"] == "PinrelayTargetDown")
    pattern = re.search(r'job=~"([^"]+)"', target_down["expr"])
    assert pattern and all(re.fullmatch(pattern.group(1), job) for job in jobs)
    assert config["rule_files"] == ["alerts.yml"]
    ports = {job["job_name"]: job["dns_sd_configs"][0]["port"] for job in config["scrape_configs"]}
    # the receiver's /metrics is moved off its published port (PINRELAY_WEBHOOK_METRICS=9100)
    assert ports == {"pinrelay-worker": 9100, "pinrelay-correlator": 9100, "pinrelay-webhook": 9100}
    promtool = find_promtool()
    if promtool:
        done = subprocess.run([promtool, "check", "config", str(prometheus_dir / "prometheus.yml")],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_copies_only_paths_that_exist() -> None:
    """Every COPY source of ops/Dockerfile is in the repository (a rename breaks the build)."""
    sources = []
    for line in (ROOT / "ops" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert sources
    assert [s for s in sources if not (ROOT / s).exists()] == []


def test_redis_conf_turns_on_aof_and_refuses_eviction(tmp_path: Path) -> None:
    """redis-server starts with ops/redis.conf (and the role users it names) and reports AOF,
    everysec, noeviction, protected mode and the default user off."""
    conf = (ROOT / "ops" / "redis.conf").read_text().replace("dir /data", f"dir {tmp_path}")
    assert "aclfile /data/users.acl" in conf
    conf = conf.replace("aclfile /data/users.acl", f"aclfile {tmp_path / 'users.acl'}")
    (tmp_path / "redis.conf").write_text(conf)
    acl = render_acl((ROOT / "ops" / "redis-users.acl").read_text(), REDIS_PASSWORDS)
    (tmp_path / "users.acl").write_text(acl + "user admin on >admin-pw-0123 ~* &* +@all\n")
    port = free_port()
    server = subprocess.Popen([find_redis_server(), str(tmp_path / "redis.conf"), "--port", str(port),
                               "--bind", "127.0.0.1", "--logfile", str(tmp_path / "redis.log")])
    client = redis.Redis(port=port, socket_connect_timeout=0.5, username="admin", password="admin-pw-0123")

    def answers() -> bool:
        assert server.poll() is None, (tmp_path / "redis.log").read_text()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, 10, "redis-server with ops/redis.conf")
        config: Any = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"
        assert config["protected-mode"] == "yes"
        assert "off" in client.acl_getuser("default")["flags"]
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


def test_alert_rules_use_only_the_published_metric_names(tmp_path: Path) -> None:
    """Each alert names a runbook section and queries only pinrelay's metrics (promtool agrees)."""
    rules_file = ROOT / "ops" / "prometheus" / "alerts.yml"
    rules = [rule for group in load_yaml(rules_file)["groups"] for rule in group["rules"]]
    runbook = (ROOT / "ops" / "RUNBOOK.md").read_text().lower()
    for rule in rules:
        names = set(re.findall(r"pinrelay_[a-z_]+", rule["expr"]))
        bases = {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
        assert bases <= METRICS, f"{rule['alert']}: unknown metrics {bases - METRICS}"
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert f"### {anchor}" in runbook, f"{rule['alert']}: no runbook section '### {anchor}'"
    assert {rule["alert"] for rule in rules} >= GUARD_ALERTS
    promtool = find_promtool()
    if promtool:
        done = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def find_promtool() -> str | None:
    """promtool on PATH, or the one `dev.py test` unpacks beside the venv's python."""
    beside = Path(sys.executable).parent / "promtool"
    return shutil.which("promtool") or (str(beside) if beside.exists() else None)


def test_the_guard_alerts_fire_when_they_should() -> None:
    """`promtool test rules` on ops/prometheus/alerts_test.yml (where promtool is installed), and
    every alert named there exists, with a test that it fires."""
    tests_file = ROOT / "ops" / "prometheus" / "alerts_test.yml"
    cases = [case for test in load_yaml(tests_file)["tests"] for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    rules = {rule["alert"] for group in load_yaml(ROOT / "ops" / "prometheus" / "alerts.yml")["groups"]
             for rule in group["rules"]}
    assert GUARD_ALERTS <= fired <= rules
    promtool = find_promtool()
    assert promtool, ("promtool is not installed: `python3 dev.py test` unpacks it into .venv/bin "
                      "(Debian: apt-get download prometheus; dpkg-deb -x it and take usr/bin/promtool)")
    done = subprocess.run([promtool, "test", "rules", str(tests_file)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_systemd_units_start_the_pinrelay_commands(tmp_path: Path) -> None:
    """Each unit runs its pinrelay subcommand from an EnvironmentFile (systemd-analyze agrees)."""
    unit_dir = ROOT / "ops" / "systemd"
    assert {p.name for p in unit_dir.glob("*.service")} == set(UNITS)
    verify = shutil.which("systemd-analyze")
    for name, command in UNITS.items():
        text = (unit_dir / name).read_text()
        exec_start = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE)
        assert exec_start and exec_start.group(1).split()[1] == command, name
        env_files = re.findall(r"^EnvironmentFile=(.+)$", text, re.MULTILINE)
        assert env_files[0] == f"/etc/pinrelay/{UNIT_ENV[name]}.env", name  # its own, no shared file
        assert (unit_dir / "env" / f"{UNIT_ENV[name]}.env").is_file(), name
        assert "KillMode=mixed" in text
        if name == "pinrelay-worker@.service":  # one metrics port per instance, from an optional file
            assert env_files[1:] == ["-/etc/pinrelay/worker-%i.env"]
        else:
            assert env_files[1:] == [], name
        if verify:
            checked = tmp_path / name.replace("@.", "@1.")
            checked.write_text(text.replace("/opt/pinrelay/venv/bin/pinrelay", "/bin/true"))
            done = subprocess.run([verify, "verify", str(checked)], capture_output=True, text=True,
                                  timeout=60, check=False)
            assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def _env_file(name: str) -> dict[str, str]:
    lines = (ROOT / "ops" / "systemd" / "env" / f"{name}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_each_unit_gets_only_the_secrets_it_needs() -> None:
    """Issue 23 finding 7: no shared env file. The receiver's has its own Redis role and no provider,
    callback or verify secret; the callback and verify secrets are the callbacks worker's only; every
    name is a setting."""
    files = {name: _env_file(name) for name in set(UNIT_ENV.values())}
    for name, values in files.items():
        unknown = {k for k in values if k.removeprefix("PINRELAY_") not in set(ENV_NAMES.values())}
        assert unknown == set(), f"{name}.env: {unknown}"
    webhook = files["webhook"]
    assert webhook["PINRELAY_REDIS_URL"].startswith("redis://receiver:")
    assert not {"PINRELAY_API_KEY", "PINRELAY_API_SECRET", "PINRELAY_CALLBACK_SECRET",
                "PINRELAY_VERIFY_SECRET", "PINRELAY_FLOWER_PASSWORD"} & set(webhook)
    holders = {name for name, values in files.items()
               if {"PINRELAY_CALLBACK_SECRET", "PINRELAY_VERIFY_SECRET"} & set(values)}
    assert holders == {"callbacks"}
    def holding(variable: str) -> set[str]:
        return {name for name, values in files.items() if variable in values}

    assert holding("PINRELAY_SIGNATURE_SECRET") == {"webhook"}
    assert holding("PINRELAY_API_SECRET") == {"worker", "callbacks"}


def test_compose_metrics_listen_beyond_loopback_only_where_prometheus_scrapes() -> None:
    """PINRELAY_METRICS_HOST defaults to 127.0.0.1; compose opens it on the scraped services."""
    services = load_yaml(COMPOSE)["services"]
    scraped = {name for name in PINRELAY_SERVICES
               if services[name]["environment"].get("PINRELAY_METRICS_HOST") == "0.0.0.0"}
    assert scraped == {"worker", "correlator"}


def test_compose_receiver_follows_the_signature_rule() -> None:
    """The published receiver follows `pinrelay webhook`'s rule (issue 10 finding 1): it gets
    PINRELAY_SIGNATURE_SECRET and never `--insecure-unsigned`, the simulator signs its receipts
    with the same secret, and /metrics is moved off the published port."""
    services = load_yaml(COMPOSE)["services"]
    webhook, sim = services["webhook"], services["sim"]
    assert "--insecure-unsigned" not in webhook["command"]
    assert webhook["environment"]["PINRELAY_SIGNATURE_SECRET"] == "${PINRELAY_SIGNATURE_SECRET:-}"
    assert webhook["environment"]["PINRELAY_WEBHOOK_METRICS"] == "9100"
    assert all(":9100" not in port for port in webhook["ports"])
    # the simulator signs with the same secret, read from its environment (not its command line,
    # which `ps` shows): pinrelay sim's --signature-secret defaults to PINRELAY_SIGNATURE_SECRET
    assert not any("SECRET" in part or "--api-key" in part for part in sim["command"])
    assert sim["environment"]["PINRELAY_SIGNATURE_SECRET"] == "${PINRELAY_SIGNATURE_SECRET:-}"
    assert sim["environment"]["PINRELAY_API_SECRET"].startswith("${PINRELAY_API_SECRET:?")


def test_compose_renders_the_acl_file_as_the_tests_do(tmp_path: Path) -> None:
    """The redis service's start-up script (sed + sha256sum, run here with sh) writes the same
    ACL file as the tests' renderer, so the users the tests check are the users compose gets."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed; CI needs: apt-get install -y docker-compose")
        pytest.skip("docker-compose is not installed")
    done = subprocess.run([binary, "--project-directory", str(ROOT), "-f", str(COMPOSE), "config"],
                          env=clean_env(**CREDENTIALS, **REDIS_PASSWORDS), capture_output=True, text=True,
                          timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    command = yaml_text(done.stdout)["services"]["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    script, tail = command[2].replace("$$", "$").split("; exec ", 1)  # compose turns $$ into $
    assert tail == "docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf"
    script = script.replace("/usr/local/etc/redis/users.acl.in", str(ROOT / "ops" / "redis-users.acl"))
    script = script.replace("/data/users.acl", str(tmp_path / "users.acl"))
    ran = subprocess.run(["sh", "-c", script], env=clean_env(**REDIS_PASSWORDS), capture_output=True,
                         text=True, timeout=30, check=False)
    assert ran.returncode == 0, ran.stderr
    rendered = (tmp_path / "users.acl").read_text()
    assert rendered == render_acl((ROOT / "ops" / "redis-users.acl").read_text(), REDIS_PASSWORDS)
    assert not any(pw in rendered for pw in REDIS_PASSWORDS.values())
    assert oct((tmp_path / "users.acl").stat().st_mode & 0o777) == "0o600"
