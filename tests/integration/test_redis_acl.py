"""ops/redis-users.acl: every process works under its own role (issue 10 finding 9, issue 23 finding 3).

A real ``redis-server`` loads the shipped file, rendered as docker-compose.yml renders it. The
whole stack runs as compose runs it: worker and correlator as ``worker``, the receipt receiver
as ``receiver``, ``pinrelay api`` as ``api``; then everything a producer really does runs as
``producer``: the Python API (sends with an idempotency key, a reused client-ref and a
callback, status, wait, a conversion, a send that could not be enqueued undone, the whole
verify loop), the ``pinrelay`` commands, and a plain Celery ``send_task``; and the HTTP API's
routes over HTTP. Each test ends with ``ACL LOG``: Redis must have refused nothing on the way.
What the roles may NOT do: test_redis_acl_hostile.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from celery import Celery

from pinrelay_ops.simulator import SimConfig, Simulator
from tests.support.api import CALLBACK_SECRET, VERIFY_SECRET, CallbackReceiver, Client, cli
from tests.support.commands import command_env, run
from tests.support.live import stop_stack
from tests.support.redis_acl import AclRedis, acl_redis_server
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.local.supervisor import Stack
from worker.records.store import new_request_id
from worker.taskqueue.app import publisher_app
from worker.verify.service import Verifier
from worker.worker_app import create_app

# Refusals a role is expected to get: the worker's start-up durability check reads CONFIG
# and carries on without it (managed Redis services refuse CONFIG too).
EXPECTED_REFUSALS = {("worker", "command", "config|get")}
SETTLED = {"delivered"}


@dataclass
class Roles:
    acl: AclRedis
    settings: Settings  # the producer role's
    sim: Simulator
    stack: Stack
    callbacks: CallbackReceiver

    def producer(self) -> Producer:
        return Producer(self.settings, publisher_app(self.settings))

    def code_for(self, message_id_of: Callable[[], str | None]) -> str:
        """The PIN the simulator got for the send whose message-id ``message_id_of()`` gives."""
        def found() -> str | None:
            mid = message_id_of()
            sent = (str(r["params"]["pin"]) for r in self.sim.requests() if mid and r["message_id"] == mid)
            return next(sent, None)

        code: str = wait_for(found, 20, "the code at the provider")
        return code

    def assert_nothing_refused(self) -> None:
        assert self.acl.refusals() - EXPECTED_REFUSALS == set()


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Roles]:
    tmp = tmp_path_factory.mktemp("acl-live")
    with acl_redis_server(tmp) as acl, CallbackReceiver() as callbacks, \
            Simulator(SimConfig(dlr_delay_s=0.05, dlr_mix={"delivered": 100.0})) as sim:
        settings = Settings.from_env({}).replace(
            redis_url=acl.url("producer"), runtime_dir=str(tmp), api_url=sim.url, conversion_url=sim.url,
            backoff_initial_s=0.05, backoff_max_s=0.3, connect_timeout_s=1.0, read_timeout_s=1.5,
            retry_deadline_s=20.0, visibility_timeout_s=60, rate_limit_per_s=20.0, per_number_10min=20,
            per_number_day=50, per_prefix_minute=1000, worker_concurrency=1, callback_secret=CALLBACK_SECRET,
            callback_allow_private=True, verify_secret=VERIFY_SECRET, api_rate_per_key=1000.0)
        stack = Stack(settings, log_dir=tmp / "logs")
        try:
            stack.ensure_redis()
            stack.env_overrides = {"PINRELAY_REDIS_URL": acl.url("receiver")}
            stack.start_webhook()
            sim.configure(dlr_url=f"{stack.webhook_url}/delivery-receipt-webhook")
            stack.env_overrides = {"PINRELAY_REDIS_URL": acl.url("worker")}
            stack.start_correlator()
            stack.start_worker(name="worker0")
            # callbacks, conversion reports and verify expiry run on their own queue and pool
            stack.start_worker(name="callbacks", concurrency=1, callbacks=True)
            stack.wait_workers(create_app(settings.replace(redis_url=acl.url("worker"))), count=2)
            stack.start_api(PINRELAY_REDIS_URL=acl.url("api"))
            yield Roles(acl, settings, sim, stack, callbacks)
        except Exception as exc:  # say what Redis refused: that is nearly always why
            raise AssertionError(f"{exc!r}; Redis refused {acl.refusals()}") from exc
        finally:
            stop_stack(stack)


@pytest.mark.timeout(120)
def test_the_python_producer_runs_as_the_producer(roles: Roles) -> None:
    """A PIN with an idempotency key, a callback and a client-ref used again goes out, its receipt
    settles it, its callback arrives, its conversion is reported; a send whose task could not be
    published is undone: as `producer`, with nothing refused."""
    roles.acl.reset_log()
    producer = roles.producer()
    admin = roles.acl.admin()
    try:
        rid = producer.send_pin("16365553226", "482913", "acl-check", idempotency_key="acl-1",
                                callback_url=roles.callbacks.url)
        assert producer.send_pin("16365553226", "482913", "acl-check", idempotency_key="acl-1") == rid
        again = producer.send_pin("16365553227", "482914", "acl-check")  # the client-ref once more
        assert admin.hget("pinrelay:stats", "client_ref_reused") == b"1"  # counted, never listed
        record = producer.wait(rid, 30, until=SETTLED)
        assert record["state"] == "delivered" and record["message_id"]
        assert producer.wait(again, 30, until=SETTLED)["state"] == "delivered"
        producer.report_conversion(rid, delivered=True)
        wait_for(lambda: producer.get_status(rid).get("conversion_status") == "reported", 20,
                 "the conversion report")
        wait_for(lambda: roles.callbacks.for_record(rid), 20, "the outcome callback")
        # What a producer whose broker is not this Redis does when publishing fails: undo.
        undone = new_request_id()
        argv = producer.store.new_record(undone, to="16365553228", pin="111111", client_ref=None, params=None,
                                         expires_at=time.time() + 60, idempotency_key="acl-undone")
        assert producer.store.create(undone, "acl-undone", argv) == undone
        producer.store.forget(undone, "acl-undone")
        keys = (f"pinrelay:req:{undone}", f"pinrelay:pin:{undone}", "pinrelay:idem:acl-undone")
        assert admin.exists(*keys) == 0
    finally:
        producer.close()
        admin.close()
    roles.assert_nothing_refused()


@pytest.mark.timeout(120)
def test_the_verify_loop_runs_as_the_producer(roles: Roles) -> None:
    """Start, a wrong code, a resend, the right code, read; conversions reported for both sends
    (the worker's expiry task, as `worker`, sweeps what a producer may not list)."""
    roles.acl.reset_log()
    producer = roles.producer()
    verifier = Verifier.for_producer(producer)
    try:
        vid = verifier.start("16365553229", client_ref="acl-verify")
        assert verifier.check(vid, "0" * 6)["status"] in {"wrong_code", "approved"}
        verifier.resend(vid)

        def latest() -> str | None:
            sends = verifier.get(vid)["sends"]
            return sends[-1]["message_id"] if len(sends) == 2 else None

        code = roles.code_for(latest)
        assert verifier.check(vid, code)["status"] == "approved"
        view = verifier.get(vid)
        assert view["state"] == "approved" and len(view["sends"]) == 2
        # each send's report ran (send 1 may have been dropped unsent by the resend: "skipped")
        wait_for(lambda: all(producer.get_status(s["request_id"]).get("conversion_status")
                             for s in verifier.get(vid)["sends"]), 30, "both sends' conversions")
        assert producer.get_status(view["sends"][1]["request_id"])["conversion_status"] == "reported"
    finally:
        producer.close()
    roles.assert_nothing_refused()


@pytest.mark.timeout(180)
def test_the_commands_run_as_the_producer(roles: Roles) -> None:
    """`pinrelay send`, `status`, `wait`, `convert` and `verify start|status|check|resend`."""
    roles.acl.reset_log()
    env = command_env(roles.settings)
    sent = run(env, "send", "16365553230", "--pin", "482915", "--client-ref", "acl-cli",
               "--idempotency-key", "acl-cli-1", "--callback-url", roles.callbacks.url)
    assert sent.returncode == 0, sent.stderr
    rid = json.loads(sent.stdout)["id"]
    for args in (("status", rid), ("wait", rid, "--timeout", "30"), ("convert", rid, "--delivered", "true")):
        done = run(env, *args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
    started = run(env, "verify", "start", "16365553231")
    assert started.returncode == 0, started.stderr
    vid = json.loads(started.stdout)["id"]
    assert run(env, "verify", "status", vid).returncode == 0
    assert run(env, "verify", "check", vid, "0" * 6).returncode in (0, 1)
    resent = run(env, "verify", "resend", vid)
    assert resent.returncode == 0, resent.stderr
    roles.assert_nothing_refused()


@pytest.mark.timeout(120)
def test_a_plain_celery_send_task_runs_as_the_producer(roles: Roles) -> None:
    """A service that does not import pinrelay: stock Celery with the producer's URL. Forgetting
    `queue=` lands in Celery's default list (write-only for `producer` too), which the
    correlator sweeps: an `error` record says why."""
    roles.acl.reset_log()
    app = Celery("acl-plain", broker=roles.acl.url("producer"), set_as_current=False)
    try:
        task_id = app.send_task("pinrelay.send_pin", kwargs={"to": "16365553232", "pin": "482916"},
                                queue="pinrelay", kwargsrepr="{'to': '1636555****', 'pin': '[redacted]'}").id
        misrouted = app.send_task("pinrelay.send_pin", kwargs={"to": "16365553235", "pin": "482918"}).id
    finally:
        app.close()
    producer = roles.producer()
    try:
        wait_for(lambda: producer.store.get_raw(task_id).get("state") == "delivered", 30, "the plain send")
        wait_for(lambda: producer.store.get_raw(misrouted).get("state") == "error", 30, "the misrouted one")
    finally:
        producer.close()
    assert roles.sim.accepted_count("16365553232", "482916", task_id) == 1  # its client-ref: the id
    roles.assert_nothing_refused()


@pytest.mark.timeout(120)
def test_the_http_api_runs_as_its_own_role(roles: Roles) -> None:
    """`pinrelay api` as `api` (keys made by an operator, as `worker`): a PIN and a verification
    with callbacks, read back; a wrong key is 401."""
    operator = roles.settings.replace(redis_url=roles.acl.url("worker"))
    made = cli(operator, "keys", "create", "acl-tests")
    assert made.returncode == 0, made.stderr
    roles.acl.reset_log()
    api = Client(roles.stack.api_url or "", json.loads(made.stdout)["key"])
    try:
        assert Client(roles.stack.api_url or "", "pk_wrong").get("/v1/pins/x").status_code == 401
        answer = api.post("/v1/pins", json={"to": "16365553233", "pin": "482917", "client_ref": "acl-http",
                                            "callback_url": roles.callbacks.url},
                          headers={"Idempotency-Key": "acl-http-1"})
        assert answer.status_code == 202, answer.text
        rid = answer.json()["id"]
        wait_for(lambda: api.get(f"/v1/pins/{rid}").json().get("state") == "delivered", 30, "the HTTP send")
        started = api.post("/v1/verifications",
                           json={"to": "16365553234", "callback_url": roles.callbacks.url})
        assert started.status_code == 202, started.text
        vid = started.json()["id"]

        def latest() -> str | None:
            sends = api.get(f"/v1/verifications/{vid}").json()["sends"]
            return sends[-1]["message_id"] if sends else None

        first = roles.code_for(latest)
        assert api.post(f"/v1/verifications/{vid}/resend").status_code == 202
        wait_for(lambda: len(api.get(f"/v1/verifications/{vid}").json()["sends"]) == 2, 10, "the resend")
        second = roles.code_for(latest)
        check = f"/v1/verifications/{vid}/check"
        if first != second:
            assert api.post(check, json={"code": first}).json()["status"] == "wrong_code"
        assert api.post(check, json={"code": second}).json()["status"] == "approved"
        wait_for(lambda: roles.callbacks.for_record(vid), 20, "the verification's callback")
    finally:
        api.close()
    roles.assert_nothing_refused()

