"""A plain ``send_task`` with a bad argument is recorded, never lost (issue 10, finding 8).

Another service's bare Celery app sends ``pinrelay.send_pin`` by name to a real worker.
Before the fix ``expires_in: "60"`` raised a TypeError after the abuse limit had counted the
number: no record, ``status`` said unknown, and the user's next real PIN was refused. Now every
argument is checked first: a bad one ends as an ``error`` record with the reason, and the
per-number limit (1 per 10 minutes here) is still there for the real send that follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def limited(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """A worker whose per-number limit is one PIN per 10 minutes."""
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("limited"), per_number_10min=1)
    try:
        yield stack
    finally:
        stop_live(stack)


@pytest.fixture(scope="module")
def other(limited: LiveStack) -> Iterator[Celery]:
    """A service that does not import pinrelay: a bare Celery app on the same broker."""
    app = Celery("other-service", broker=limited.settings.redis_url, set_as_current=False)
    app.conf.update(task_serializer="json")
    yield app
    app.close()


BAD: list[tuple[str, dict[str, Any], list[Any], str]] = [
    ("expires_in_string", {"expires_in": "60"}, [], "expires_in: must be a number of seconds, got str"),
    ("expires_in_bool", {"expires_in": True}, [], "expires_in: must be a number of seconds, got bool"),
    ("expires_in_negative", {"expires_in": -5}, [], "expires_in: must be 0 < seconds"),
    ("unknown_argument", {"clientref": "typo"}, [], "unknown 'clientref'"),
    ("params_not_a_mapping", {"params": ["brand", "x"]}, [], "params: must be a mapping"),
    ("positional_arguments", {}, ["POSITIONAL"], "request_id cannot be combined with to, pin"),
]


@pytest.mark.parametrize(("case", "extra", "args", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_argument_is_an_error_record_and_spends_no_limit(
    limited: LiveStack, other: Celery, fresh_sim: Simulator,
    case: str, extra: dict[str, Any], args: list[Any], reason: str,
) -> None:
    to = f"1636555{4100 + [b[0] for b in BAD].index(case):04d}"
    if args:  # the plain shape sent positionally: (request_id, to, pin) in the task's order
        result = other.send_task("pinrelay.send_pin", args=[to, to, "5566"], queue=limited.settings.queue)
    else:
        result = other.send_task("pinrelay.send_pin", kwargs={"to": to, "pin": "5566", **extra},
                                 queue=limited.settings.queue)
    record = limited.wait_state(result.id, {"error"})
    assert record["error_text"].startswith("invalid request: "), record
    assert reason in record["error_text"], record
    assert record["to"].endswith("****")  # shown masked, never the whole number
    assert fresh_sim.requests() == []

    good = other.send_task("pinrelay.send_pin", kwargs={"to": to, "pin": "7788"},
                           queue=limited.settings.queue)
    assert limited.wait_state(good.id, {"submitted", "error"})["state"] == "submitted"  # limit not spent
    assert [r["params"]["pin"] for r in fresh_sim.requests()] == ["7788"]


def test_a_valid_expires_in_is_honoured(limited: LiveStack, other: Celery, fresh_sim: Simulator) -> None:
    kwargs = {"to": "16365554199", "pin": "5566", "expires_in": 45}
    result = other.send_task("pinrelay.send_pin", kwargs=kwargs, queue=limited.settings.queue)
    record = limited.wait_state(result.id, {"submitted"})
    client = redis.Redis.from_url(limited.settings.redis_url or "")
    try:
        raw = client.hgetall(f"{limited.settings.key_prefix}req:{result.id}")
    finally:
        client.close()
    assert 44 <= float(raw[b"expires_at"]) - float(raw[b"created_at"]) <= 46
    assert record["state"] == "submitted"


def test_a_bad_request_never_overwrites_an_existing_record(
    limited: LiveStack, other: Celery, fresh_sim: Simulator
) -> None:
    """A task reusing a real send's id with junk arguments leaves that send alone."""
    rid = limited.producer.send_pin("16365554198", "123456")
    limited.wait_state(rid, {"submitted"})
    other.send_task("pinrelay.send_pin", kwargs={"request_id": rid, "to": "1"}, task_id=rid,
                    queue=limited.settings.queue)
    def refused() -> bool:
        text = "".join(p.read_text() for p in Path(limited.log_dir).glob("*.log"))
        return any(rid in line and "combined with to (" in line for line in text.splitlines())

    wait_for(refused, 20, "the worker to refuse the task")
    assert limited.record(rid)["state"] == "submitted"  # type: ignore[index]
