"""Operating the pumping guard through the real commands: `pinrelay guard`, the admin routes of
`pinrelay api`, the metrics of `pinrelay correlate`, `pinrelay report` and `pinrelay doctor`.

The guard's state is written the way its store step leaves it (tests/support/guard.py, the key
schema of worker/guard/keys.py); what is checked is what an operator sees: exit codes, JSON,
HTTP answers, a scraped metric, the report's lines, doctor's warning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import guard as g
from tests.support.api import Client, cli, create_key, error_code
from tests.support.commands import Command, command_env, scrape, stop_all
from tests.support.redis_acl import AclRedis, acl_redis_server
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker import constants as c
from worker.config import Settings
from worker.guard import keys as k
from worker.guard.metrics import GuardStatsCollector
from worker.local.embedded import free_port
from worker.local.supervisor import Stack

STRICT = {"key_hourly_quota": 100, "key_daily_quota": 1000, "daily_spend_cap": 10.0,
          "country_hourly_cap": ("US=50", "*=10"), "country_burst_10min": ("*=20",)}


@pytest.fixture
def guarded(redis_url: str) -> Iterator[tuple[Settings, redis.Redis]]:
    settings = isolated_settings(redis_url, guard_mode="monitor", **STRICT)
    client = redis.Redis.from_url(redis_url)
    yield settings, client
    cleanup(client, settings)
    client.close()


def test_status_unblock_and_allow_from_the_command_line(guarded: tuple[Settings, redis.Redis]) -> None:
    settings, client = guarded
    prefix = settings.key_prefix
    g.write_block(client, prefix, "1636555", since=time.time() - 60, sends=24, conversions=2)
    g.write_window(client, prefix, "1636555", sends=24, conversions=2)
    g.write_block(client, prefix, "1604555", monitor=True, sends=21, conversions=0)
    g.count_sends(client, prefix, origin="key_a", country="US", n=40)
    g.spend(client, prefix, 2.5)

    done = cli(settings, "guard", "status")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["mode"] == "monitor"
    assert [(b["prefix"], b["sends"], b["conversions"]) for b in status["blocked"]] == [("1636555", 24, 2)]
    assert [b["prefix"] for b in status["would_block"]] == ["1604555"]
    assert status["blocked"][0]["since"] < status["blocked"][0]["until"]
    assert status["quotas"]["key_hourly"]["use"] == [
        {"origin": "key_a", "count": 40, "limit": 100, "ratio": 0.4}]
    assert status["quotas"]["country_hourly"]["max_ratio"] == 0.8
    assert status["quotas"]["spend_cap"]["ratio"] == 0.25

    done = cli(settings, "guard", "unblock", "1636555")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"since": None, "until": None} == {
        "prefix": "1636555", "unblocked": True, "was": "blocked", "since": None, "until": None,
        "sends": 24, "conversions": 2}
    assert not client.exists(prefix + k.KEY_PREFIX_SENDS + "1636555")  # judged afresh from now on
    assert json.loads(cli(settings, "guard", "status").stdout)["blocked"] == []
    again = cli(settings, "guard", "unblock", "1636555")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr.strip() == "pinrelay: prefix 1636555 is not blocked"
    bad = cli(settings, "guard", "unblock", "16-36")
    assert bad.returncode == 2 and "PREFIX: must be 4 to 15 digits" in bad.stderr
    assert "Traceback" not in again.stderr + bad.stderr

    added = cli(settings, "guard", "allow", "+16365553226")
    assert added.returncode == 0 and json.loads(added.stdout) == {"entry": "16365553226", "safe": True,
                                                                  "added": True}
    assert client.sismember(prefix + k.KEY_SAFE, "16365553226")
    assert json.loads(cli(settings, "guard", "status").stdout)["safe"]["runtime"] == ["16365553226"]
    assert cli(settings, "guard", "allow", "16365553226", "--remove").returncode == 0
    gone = cli(settings, "guard", "allow", "16365553226", "--remove")
    assert gone.returncode == 1 and "not on the run-time safe list" in gone.stderr
    assert cli(settings, "guard", "allow", "abc").returncode == 2


def test_admin_routes_over_http(guarded: tuple[Settings, redis.Redis], tmp_path: Path) -> None:
    """An admin key reads the status, unblocks and allows; an ordinary key gets 403 on each."""
    settings, client = guarded
    prefix = settings.key_prefix
    g.write_block(client, prefix, "1636555", sends=30, conversions=3)
    done = cli(settings, "keys", "create", "ops-console", "--admin")
    assert done.returncode == 0, done.stderr
    admin_key = json.loads(done.stdout)["key"]
    ordinary_key = create_key(settings, "billing")["key"]
    listed = {key["name"]: key["admin"] for key in json.loads(cli(settings, "keys", "list").stdout)}
    assert listed == {"ops-console": True, "billing": False}
    stack = Stack(settings, log_dir=tmp_path)
    try:
        url = stack.start_api()
        admin, ordinary = Client(url, admin_key), Client(url, ordinary_key)
        for call in (lambda c: c.get("/v1/guard"),
                     lambda c: c.post("/v1/guard/unblock", json={"prefix": "1636555"}),
                     lambda c: c.post("/v1/guard/allow", json={"entry": "1636555"})):
            refused = call(ordinary)
            assert refused.status_code == 403 and error_code(refused) == "forbidden"
        assert Client(url, None).get("/v1/guard").status_code == 401
        assert client.exists(prefix + k.KEY_BLOCK + "1636555")  # the 403s changed nothing

        status = admin.get("/v1/guard")
        assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
        assert [b["prefix"] for b in status.json()["blocked"]] == ["1636555"]
        assert status.json()["mode"] == "monitor"
        lifted = admin.post("/v1/guard/unblock", json={"prefix": "1636555"})
        assert lifted.status_code == 200 and lifted.json()["was"] == "blocked"
        missing = admin.post("/v1/guard/unblock", json={"prefix": "1636555"})
        assert missing.status_code == 404 and error_code(missing) == "not_found"
        bad = admin.post("/v1/guard/unblock", json={"prefix": "1636x"})
        assert bad.status_code == 422 and error_code(bad) == "invalid_prefix"
        assert admin.post("/v1/guard/unblock", json={"prefix": 1636555}).status_code == 422
        allowed = admin.post("/v1/guard/allow", json={"entry": "16365553226"})
        assert allowed.status_code == 200 and allowed.json()["added"] is True
        assert client.sismember(prefix + k.KEY_SAFE, "16365553226")
        removed = admin.post("/v1/guard/allow", json={"entry": "16365553226", "remove": True})
        assert removed.status_code == 200 and removed.json() == {"entry": "16365553226", "safe": False,
                                                                 "removed": True}
        assert admin.post("/v1/guard/allow", json={"entry": "16365553226", "remove": True}).status_code == 404
        assert admin.post("/v1/guard/allow", json={"entry": "1636555", "remove": "yes"}).status_code == 422
        admin.close()
        ordinary.close()
    finally:
        stack.stop()


def test_the_correlator_exports_the_guard_metrics(guarded: tuple[Settings, redis.Redis],
                                                  tmp_path: Path) -> None:
    """Scraped from a real `pinrelay correlate`: decisions, blocks, spend, quota use, per country."""
    settings, client = guarded
    prefix, port = settings.key_prefix, free_port()
    correlator = Command.start(tmp_path, "correlator", command_env(
        settings, PINRELAY_METRICS_PORT=str(port), PINRELAY_METRICS_HOST="127.0.0.1"), "correlate")
    try:
        assert correlator.wait_event("ready")["metrics"] == f"127.0.0.1:{port}"
        assert scrape(port, "pinrelay_guard_blocked_prefixes") == 0
        g.count(client, prefix, "guard:prefix_would_block:monitor", 3)
        g.count(client, prefix, "guard:key_hourly:enforce", 2)
        g.count(client, prefix, "guard:sent:US", 40)
        g.count(client, prefix, "guard:converted:US", 28)
        g.write_block(client, prefix, "1636555")
        g.write_block(client, prefix, "1415555")
        g.write_block(client, prefix, "1604555", monitor=True)
        g.spend(client, prefix, 9.0)
        client.zadd(prefix + c.KEY_API_KEYS, {"key_a": time.time()})
        g.count_sends(client, prefix, origin="key_a", country="US", n=45)
        wait_for(lambda: scrape(port, "pinrelay_guard_blocked_prefixes") == 2, what="the blocks to show")
        assert scrape(port, "pinrelay_guard_would_block_prefixes") == 1
        assert scrape(port, "pinrelay_guard_decisions_total", rule="prefix_would_block", mode="monitor") == 3
        assert scrape(port, "pinrelay_guard_decisions_total", rule="key_hourly", mode="enforce") == 2
        assert scrape(port, "pinrelay_guard_judged_sends_total", country="US") == 40
        assert scrape(port, "pinrelay_guard_conversions_total", country="US") == 28
        assert scrape(port, "pinrelay_spend_today") == 9.0 and scrape(port, "pinrelay_spend_cap") == 10.0
        assert scrape(port, "pinrelay_quota_use_ratio", quota="spend_cap") == 0.9
        assert scrape(port, "pinrelay_quota_use_ratio", quota="country_hourly") == 0.9
        assert scrape(port, "pinrelay_quota_use_ratio", quota="key_hourly") == 0.45
        newest = scrape(port, "pinrelay_guard_newest_block_timestamp_seconds", mode="enforce")
        assert time.time() - 60 < newest <= time.time()
    finally:
        codes = tuple(stop_all(correlator))
    assert codes == (0,)
    assert "Traceback" not in correlator.stderr()


def test_the_report_shows_conversion_by_country_and_prefix_and_refusals(
        guarded: tuple[Settings, redis.Redis], tmp_path: Path) -> None:
    settings, client = guarded
    prefix, now = settings.key_prefix, time.time()
    pipe = client.pipeline(transaction=False)
    numbers = [(f"1900555{i:04d}", False) for i in range(30)]  # pumped: never converts
    numbers += [(f"1636555{i:04d}", i % 4 != 0) for i in range(20)]  # honest: 3 in 4 convert
    for i, (number, converted) in enumerate(numbers):
        pipe.hset(f"{prefix}{c.KEY_RECORD}g{i:03d}", mapping={
            "state": "delivered", "created_at": f"{now - 60:.3f}", "to": number, "guard_judged": "1",
            **({"guard_converted": f"{now - 30:.3f}"} if converted else {})})
    pipe.execute()
    g.count(client, prefix, "guard:prefix_blocked:enforce", 17)
    g.count(client, prefix, "refused_number_10min", 2)
    page = tmp_path / "report.html"
    done = cli(settings, "report", "--since", "1h", "--top", "1", "--html", str(page))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  US                          50      50         15       30.0%" in lines
    assert "top 1 of 2 prefixes        sends  judged  converted  conversion  country" in lines
    assert "  1900555                     30      30          0        0.0%  US" in lines
    assert "  prefix_blocked           enforce      17" in lines
    assert "  number_10min               limit       2" in lines
    html = page.read_text()
    assert "<h2>Pumping guard</h2>" in html and "<td>1900555</td><td>US</td><td>30</td>" in html
    assert "<td>prefix_blocked</td><td>enforce</td><td>17</td>" in html
    data = json.loads(cli(settings, "report", "--since", "1h", "--json").stdout)["guard"]
    assert [(p["prefix"], p["conversion_rate"]) for p in data["prefixes"]] == [("1900555", 0.0),
                                                                            ("1636555", 0.75)]


def test_doctor_warns_near_a_quota_without_failing(guarded: tuple[Settings, redis.Redis]) -> None:
    """A quota used to 92% in the last 24 h: a warning naming the setting; the exit code unchanged."""
    settings, client = guarded
    args = ("doctor", "--webhook-port", str(free_port()), "--sim-port", str(free_port()))
    before = cli(settings, *args)
    checks = {check["name"]: check for check in json.loads(before.stdout)["checks"]}
    assert checks["guard_headroom"]["ok"] is True and "warning" not in checks["guard_headroom"]
    g.peak(client, settings.key_prefix, "key_hourly", 0.92, at=time.time() - 5 * 3600)
    g.peak(client, settings.key_prefix, "country_burst", 0.6)
    after = cli(settings, *args)
    assert after.returncode == before.returncode  # a warning, not a failure
    report = json.loads(after.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert report["warnings"] == ["guard_headroom"] and checks["guard_headroom"]["warning"] is True
    assert checks["guard_headroom"]["detail"].startswith(
        "in the last 24 h key_hourly reached 92% of its limit: raise PINRELAY_KEY_HOURLY_QUOTA (now 100)")
    assert "country_burst" not in checks["guard_headroom"]["detail"]
    assert "pinrelay doctor: warning: guard_headroom: " in after.stderr
    assert "Traceback" not in after.stderr


def test_the_operator_commands_need_only_the_worker_role(tmp_path: Path) -> None:
    """`pinrelay guard`, `report`, the correlator's guard metrics and the API's admin routes,
    connected as the `worker` user of ops/redis-users.acl (operators, the correlator and, in
    docker-compose.yml, the API use it): Redis refuses nothing."""
    with acl_redis_server(tmp_path) as shipped:
        _operate_as_the_shipped_roles(shipped, tmp_path)


def _operate_as_the_shipped_roles(shipped: AclRedis, tmp_path: Path) -> None:
    admin, worker = shipped.client("admin"), shipped.client("worker")
    settings = isolated_settings(shipped.url("worker"), key_prefix="pinrelay:", queue="pinrelay")
    stack = Stack(settings, log_dir=tmp_path)
    stacks = [stack]
    try:
        shipped.reset_log()
        g.write_block(admin, "pinrelay:", "1636555")
        g.write_block(admin, "pinrelay:", "1604555", monitor=True)
        g.count_sends(admin, "pinrelay:", origin="key_a", country="US", n=3)
        g.count(admin, "pinrelay:", "guard:key_daily:enforce", 1)
        g.peak(admin, "pinrelay:", "key_daily", 0.85)
        for args in (("guard", "status"), ("guard", "unblock", "1636555"), ("guard", "allow", "1636555"),
                     ("guard", "allow", "1636555", "--remove"), ("report", "--since", "1h")):
            done = cli(settings, *args)
            assert done.returncode == 0, (args, done.stderr)
        assert len(list(GuardStatsCollector(worker, settings).collect())) == 9  # as a scrape reads them
        # the API process connects as the `api` role, as docker-compose.yml runs it
        api_stack = Stack(settings.replace(redis_url=shipped.url("api")), log_dir=tmp_path / "api")
        stacks.append(api_stack)
        api = Client(api_stack.start_api(), create_key(settings, "ops", "--admin")["key"])
        status = api.get("/v1/guard")
        assert status.status_code == 200, status.text
        assert [b["prefix"] for b in status.json()["would_block"]] == ["1604555"]
        assert api.post("/v1/guard/unblock", json={"prefix": "1604555"}).status_code == 200
        assert api.post("/v1/guard/allow", json={"entry": "1604555"}).status_code == 200
        api.close()
        assert shipped.refusals() == set()
    finally:
        for each in stacks:
            each.stop()
        admin.close()
        worker.close()

