"""The receipt status mix and the receipt plan (fields, order, duplicates, signatures)."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from pinrelay_ops.simulator import SimConfig, SimConfigError
from pinrelay_ops.simulator.receipts.dlr import AcceptedSend, base_fields, plan, signed, stamp
from pinrelay_ops.simulator.receipts.mix import FAILURE_ERR_CODES, check_mix, parse_mix, pick_outcome
from worker.signing import verify

SEND = AcceptedSend("0A00000012345678", "16365553226", "login-7", "demo-key", "0.03330000", "310004")


def test_parse_mix_reads_the_cli_form() -> None:
    """'delivered=90,failed=5' becomes weights by status."""
    assert parse_mix("delivered=90, failed=5,expired=3") == {
        "delivered": 90.0,
        "failed": 5.0,
        "expired": 3.0,
    }


@pytest.mark.parametrize("text", ["delivered", "delivered=x", "bogus=1", "delivered=0", "failed=-1"])
def test_bad_mix_is_refused(text: str) -> None:
    """Unknown statuses, non-numbers, negatives and an all-zero mix raise SimConfigError."""
    with pytest.raises(SimConfigError):
        parse_mix(text)


def test_default_mix_is_mostly_delivered() -> None:
    """With the default weights about 94% of sends end delivered with err-code 0."""
    rng = random.Random(7)
    mix = SimConfig().dlr_mix
    outcomes = Counter(pick_outcome(mix, rng) for _ in range(5000))
    delivered = outcomes[("delivered", "0")]
    assert 0.91 < delivered / 5000 < 0.97


def test_failures_carry_non_zero_documented_err_codes() -> None:
    """failed/rejected/expired get a non-zero err-code from the table; delivered gets 0."""
    rng = random.Random(1)
    for status in ("failed", "rejected", "expired"):
        for _ in range(200):
            got_status, err = pick_outcome({status: 1.0}, rng)
            assert got_status == status and err != "0" and err in FAILURE_ERR_CODES
    assert pick_outcome({"delivered": 1.0}, rng) == ("delivered", "0")


def test_zero_weights_are_never_drawn() -> None:
    """A status with weight 0 never comes out."""
    rng = random.Random(3)
    mix = check_mix({"delivered": 1, "failed": 0})
    assert {pick_outcome(mix, rng)[0] for _ in range(500)} == {"delivered"}


def test_receipt_fields_are_non_empty_strings() -> None:
    """Every documented field is present as a non-empty string; client-ref only when set."""
    fields = base_fields(SEND, "delivered", "0", "98765")
    stamp(fields, datetime(2020, 1, 1, 14, 0, 5, tzinfo=UTC))
    assert fields == {
        "msisdn": "16365553226",
        "to": "98765",
        "network-code": "310004",
        "messageId": "0A00000012345678",
        "price": "0.03330000",
        "status": "delivered",
        "err-code": "0",
        "api-key": "demo-key",
        "client-ref": "login-7",
        "scts": "2001011400",
        "message-timestamp": "2020-01-01 14:00:05",
    }
    without_ref = base_fields(AcceptedSend("A", "1", None, "k", "p", "n"), "failed", "2", "98765")
    assert "client-ref" not in without_ref


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
def test_signed_receipt_verifies_and_has_the_documented_case(method: str) -> None:
    """timestamp, nonce and sig are added; sig verifies; HMAC is uppercase, md5hash lowercase."""
    fields = base_fields(SEND, "delivered", "0", "98765")
    payload = signed(fields, "s3cret", method, 1_700_000_000.0)
    assert payload["timestamp"] == "1700000000"
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["nonce"])
    assert verify(payload, "s3cret", method)
    assert payload["sig"] == (payload["sig"].lower() if method == "md5hash" else payload["sig"].upper())
    assert "sig" not in fields


def plan_kinds(config: SimConfig, seed: int = 0) -> list[tuple[str, str]]:
    return [(r.kind, r.fields["status"]) for r in plan(SEND, config, random.Random(seed))]


def test_plan_is_one_final_receipt_by_default() -> None:
    """Without knobs, one send gets exactly one final receipt."""
    assert plan_kinds(SimConfig(dlr_mix={"delivered": 1})) == [("final", "delivered")]


def test_intermediate_goes_first_unless_out_of_order() -> None:
    """An accepted intermediate precedes the final; out_of_order swaps them."""
    config = SimConfig(dlr_mix={"failed": 1}, dlr_intermediate=True)
    assert plan_kinds(config) == [("intermediate", "accepted"), ("final", "failed")]
    swapped = SimConfig(dlr_mix={"failed": 1}, dlr_intermediate=True, out_of_order=True)
    assert plan_kinds(swapped) == [("final", "failed"), ("intermediate", "accepted")]


def test_accepted_only_outcome_has_no_intermediate() -> None:
    """When the outcome is 'accepted' (no final ever), no extra accepted DLR is planned."""
    config = SimConfig(dlr_mix={"accepted": 1}, dlr_intermediate=True)
    assert plan_kinds(config) == [("final", "accepted")]


def test_duplicate_shares_the_final_fields_and_follows_it() -> None:
    """duplicate_rate 1 appends a copy of the final with the very same fields."""
    chain = plan(SEND, SimConfig(duplicate_rate=1.0, dlr_mix={"delivered": 1}), random.Random(0))
    assert [r.kind for r in chain] == ["final", "duplicate"]
    assert chain[1].fields is chain[0].fields
    assert chain[0].follower is chain[1] and chain[1].follower is None


def test_mixed_transport_picks_each_transport() -> None:
    """'mixed' spreads receipts over get, form and json."""
    config = SimConfig(dlr_transport="mixed")
    rng = random.Random(5)
    seen = {plan(SEND, config, rng)[0].transport for _ in range(60)}
    assert seen == {"get", "form", "json"}
