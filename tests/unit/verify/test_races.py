"""Races and failures at the edges of a send: a check between reserve, send_pin and link; a
conversion report that fails half-way; the send path or Redis failing around a send.

Each test puts the race exactly where it wants it through the send path's hooks
(:class:`tests.unit.verify.sendpath.RecordingSendPath`), against real Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.unit.verify.sendpath import RecordingSendPath
from worker import constants as c
from worker.config import Settings
from worker.errors import AbuseLimitError, StoreUnavailableError
from worker.verify.errors import ResendRefusedError, UnknownVerificationError
from worker.verify.service import Verifier

TO = "16365553226"


def _sends(verifier: Verifier, vid: str) -> dict[int, str]:
    return {s["n"]: s["request_id"] for s in verifier.get(vid)["sends"]}


def _reported(sender: RecordingSendPath) -> list[tuple[str, bool]]:
    return sorted((rid, delivered) for rid, delivered, _ in sender.conversions)


def _pin_exists(redis_client: redis.Redis, settings: Settings, request_id: str) -> bool:
    return bool(redis_client.exists(f"{settings.key_prefix}{c.KEY_PIN}{request_id}"))


def test_a_resend_racing_an_approval_reports_its_send_and_drops_its_pin(
    verifier: Verifier, sender: RecordingSendPath, redis_client: redis.Redis, vsettings: Settings
) -> None:
    """Slot 2 reserved, then the first code approves, then send 2 reaches the send path.

    The approval reported send 1 before send 2 was linked; link still puts the verification
    back on the owed list, so send 2 is reported delivered=false too, once; its PIN is
    deleted, so a worker that has not claimed it yet never sends it.
    """
    vid = verifier.start(TO)
    first = sender.codes[0]

    def approve_first(key: str) -> None:
        if key.endswith(":2"):
            assert verifier.check(vid, first)["status"] == "approved"

    sender.before = approve_first
    with pytest.raises(ResendRefusedError, match="ended \\(approved\\)"):
        verifier.resend(vid)
    sends = _sends(verifier, vid)
    assert set(sends) == {1, 2}
    assert not _pin_exists(redis_client, vsettings, sends[2])
    assert _reported(sender) == sorted([(sends[1], True), (sends[2], False)])
    assert verifier.report_owed() == 0 and verifier.expire() == []
    assert len(sender.conversions) == 2


def test_a_report_that_fails_midway_reports_no_send_twice(
    verifier: Verifier, sender: RecordingSendPath, redis_client: redis.Redis
) -> None:
    """Send 2's report fails after send 1's was enqueued: the next reporter reports only send 2."""
    vid = verifier.start(TO)
    verifier.resend(vid)
    sends = _sends(verifier, vid)
    failures = [StoreUnavailableError("the broker is down")]

    def fail_once(request_id: str) -> None:
        if request_id == sends[2] and failures:
            raise failures.pop()

    sender.on_report = fail_once
    for _ in range(5):
        verifier.check(vid, "x")  # the fifth locks it and reports: send 1 goes out, send 2 fails
    assert _reported(sender) == [(sends[1], False)]
    redis_client.zadd(verifier.store.owed_key, {vid: 0})  # the reporter's lease has run out
    assert verifier.report_owed() == 1
    assert _reported(sender) == sorted([(sends[1], False), (sends[2], False)])
    redis_client.zadd(verifier.store.owed_key, {vid: 0})  # even taken once more: nothing new
    assert verifier.report_owed() == 0
    assert redis_client.zscore(verifier.store.owed_key, vid) is None
    assert len(sender.conversions) == 2


def test_the_new_code_works_between_send_pin_and_link(verifier: Verifier, sender: RecordingSendPath) -> None:
    """The SMS can arrive before link: the new code approves (and is not a counted wrong code)."""
    vid = verifier.start(TO)
    seen: dict[str, Any] = {}

    def type_new_code(key: str, request_id: str) -> None:
        if key.endswith(":2"):
            seen.update(verifier.check(vid, sender.codes[1]))

    sender.after = type_new_code
    with pytest.raises(ResendRefusedError, match="ended \\(approved\\)"):
        verifier.resend(vid)
    assert seen["status"] == "approved" and seen["attempts_left"] == 5
    view = verifier.get(vid)
    assert [s["approved"] for s in view["sends"]] == [False, True] and view["attempts"] == 0
    sends = _sends(verifier, vid)
    assert _reported(sender) == sorted([(sends[1], False), (sends[2], True)])


def test_the_old_code_works_until_link(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Until the new send is linked the old code still approves; after it, only the new one."""
    vid = verifier.start(TO)
    other = verifier.start("16365553227")
    seen: dict[str, Any] = {}

    def type_old_code(key: str, request_id: str) -> None:
        if key.startswith(f"verify:{vid}:") and key.endswith(":2"):
            seen.update(verifier.check(vid, sender.codes[0]))

    sender.after = type_old_code
    with pytest.raises(ResendRefusedError):
        verifier.resend(vid)
    assert seen["status"] == "approved"
    sender.after = None
    verifier.resend(other)
    old, new = sender.codes[1], sender.codes[-1]
    if old != new:
        assert verifier.check(other, old)["status"] == "wrong_code"
    assert verifier.check(other, new)["status"] == "approved"


def test_a_refused_resend_racing_another_leaves_the_other_working(
    verifier: Verifier, sender: RecordingSendPath
) -> None:
    """Send 2 in flight while send 3 is reserved and refused (a limit): send 2's code is the current one."""
    vid = verifier.start(TO)

    def refused_resend(key: str) -> None:
        if key.endswith(":2"):
            sender.before = None
            sender.refuse = AbuseLimitError("to", "too many PINs", limit="number_10min")
            with pytest.raises(AbuseLimitError):
                verifier.resend(vid)
            sender.refuse = None

    sender.before = refused_resend
    assert verifier.resend(vid) == vid
    assert verifier.store.get_raw(vid)["sends"] == "2"
    old, new = sender.codes
    if old != new:
        assert verifier.check(vid, old)["status"] == "wrong_code"
    assert verifier.check(vid, new)["status"] == "approved"


def test_a_send_path_error_after_the_write_keeps_the_slot(verifier: Verifier, sender: RecordingSendPath,
                                                         vsettings: Settings) -> None:
    """A Redis error from send_pin (the request may be stored and sent) does not give the slot back."""
    vid = verifier.start(TO)
    sender.refuse = StoreUnavailableError("cannot store the send request: timeout")
    with pytest.raises(StoreUnavailableError):
        verifier.resend(vid)
    assert verifier.store.get_raw(vid)["sends"] == "2"
    sender.refuse = None
    verifier.resend(vid)
    assert verifier.store.get_raw(vid)["sends"] == "3"
    assert sender.producer.store.existing_for(f"verify:{vid}:3") is not None


def test_a_first_send_error_after_the_write_keeps_the_verification(
    verifier: Verifier, sender: RecordingSendPath, booked: list[tuple[str, float]]
) -> None:
    """start: a Redis error from send_pin leaves the verification to expire (and be reported)."""
    sender.refuse = StoreUnavailableError("cannot store the send request: timeout")
    with pytest.raises(StoreUnavailableError):
        verifier.start(TO)
    [(vid, _)] = booked
    assert verifier.store.get_raw(vid)["state"] == "pending"
    assert verifier.store.due_at(vid) is not None


def test_a_link_that_fails_once_is_retried(verifier: Verifier, sender: RecordingSendPath,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One failed link: retried, so the send is linked and the old code stops working."""
    vid = verifier.start(TO)
    real_link = verifier.store.link
    failures = [StoreUnavailableError("cannot reach Redis for the verification: timeout")]

    def flaky_link(*args: Any, **kwargs: Any) -> str:
        if failures:
            raise failures.pop()
        return real_link(*args, **kwargs)

    monkeypatch.setattr(verifier.store, "link", flaky_link)
    assert verifier.resend(vid) == vid
    assert set(_sends(verifier, vid)) == {1, 2}
    old, new = sender.codes
    if old != new:
        assert verifier.check(vid, old)["status"] == "wrong_code"
    assert verifier.check(vid, new)["status"] == "approved"


def test_a_link_that_keeps_failing_leaves_a_working_code(
    verifier: Verifier, sender: RecordingSendPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Link never succeeds: the slot is used, and the code that went out still approves."""
    vid = verifier.start(TO)

    def broken_link(*args: Any, **kwargs: Any) -> str:
        raise StoreUnavailableError("cannot reach Redis for the verification: timeout")

    monkeypatch.setattr(verifier.store, "link", broken_link)
    assert verifier.resend(vid) == vid
    assert verifier.store.get_raw(vid)["sends"] == "2"
    assert verifier.check(vid, sender.codes[1])["status"] == "approved"


@pytest.mark.parametrize("vid", [123, None, b"0" * 32, ["x"]])
def test_a_non_string_id_is_unknown(verifier: Verifier, vid: Any) -> None:
    """get, resend and check treat an id that is not a string as unknown (no TypeError)."""
    assert verifier.check(vid, "123456")["status"] == "unknown"
    with pytest.raises(UnknownVerificationError):
        verifier.get(vid)
    with pytest.raises(UnknownVerificationError):
        verifier.resend(vid)
