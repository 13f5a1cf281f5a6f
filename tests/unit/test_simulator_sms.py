"""The simulator's SMS API route without sockets: checks, segment counting, parts and their receipts."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from typing import Any

import pytest

from pinrelay_ops.simulator import SimConfig
from pinrelay_ops.simulator import segments as seg
from pinrelay_ops.simulator.http.exchange import Inbound
from pinrelay_ops.simulator.ledger import Ledger
from pinrelay_ops.simulator.receipts.receipt import Receipt
from pinrelay_ops.simulator.vonage.account import Account
from pinrelay_ops.simulator.vonage.sms import SmsApi, part_count
from pinrelay_ops.simulator.vonage.sms_checks import check_sms, unknown_sms_params, wants_receipts
from worker.signing import sign

CONFIG = SimConfig(barred=frozenset({"447700900007"}), opted_out=frozenset({"447700900009"}))
GOOD = {
    "api_key": "demo-key",
    "api_secret": "demo-secret-0123",
    "from": "12015550123",
    "to": "447700900000",
    "text": "Your code is 481516",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def status_of(
    params: dict[str, str], config: SimConfig = CONFIG, basic: tuple[str, str] | None = None
) -> str:
    refusal = check_sms(params, config, basic)
    return "0" if refusal is None else refusal.status


# --- checks -------------------------------------------------------------------------------------


def test_good_sms_passes_every_check() -> None:
    """Key, secret, from, to and text pass; so does a Basic header instead of the body credentials."""
    assert status_of(GOOD) == "0"
    without = {k: v for k, v in GOOD.items() if k not in ("api_key", "api_secret")}
    assert status_of(without, basic=("demo-key", "demo-secret-0123")) == "0"
    assert status_of(without, basic=("demo-key", "wrong-secret-1")) == "4"


def test_signed_sms_is_accepted_and_sig_with_secret_is_32() -> None:
    """sig + timestamp over every other param replaces api_secret (A.6); sending both is 32."""
    config = SimConfig(signature_secret="Ex4mpleSigSecret0123456789abcdef", signature_method="sha256")
    params = {k: v for k, v in GOOD.items() if k != "api_secret"}
    params |= {"timestamp": str(int(time.time())), "client-ref": "otp-1"}
    params["sig"] = sign(params, config.signature_secret, "sha256")
    assert status_of(params, config) == "0"
    assert status_of(dict(params, text="changed"), config) == "14"
    assert status_of(dict(params, api_secret="demo-secret-0123"), config) == "32"


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"to": ""}, "2"),
        ({"to": "+447700900000"}, "3"),
        ({"from": ""}, "2"),
        ({"from": "+12015550123"}, "3"),
        ({"from": "0012015550123"}, "3"),
        ({"from": "1" * 16}, "3"),
        ({"from": "Acme_Corp"}, "3"),
        ({"from": "AcmeCorp1234"}, "3"),  # 12 characters
        ({"from": "Acme Corp"}, "0"),  # spaces are ignored (spec)
        ({"from": "Acme", "to": "16365553226"}, "15"),  # no alphanumeric senders to the US
        ({"text": ""}, "2"),
        ({"text": "x" * 3201}, "12"),
        ({"type": "flash"}, "3"),
        ({"type": "binary"}, "2"),
        ({"type": "binary", "body": "0011", "udh": "050003"}, "0"),
        ({"client-ref": "r" * 41}, "3"),
        ({"status-report-req": "maybe"}, "3"),
        ({"ttl": "1000"}, "16"),
        ({"ttl": "600000"}, "0"),
        ({"message-class": "4"}, "20"),
        ({"callback": "example.com/dlr"}, "23"),
        ({"callback": "https://example.com/dlr"}, "0"),
        ({"to": "447700900007"}, "7"),
        ({"to": "447700900009"}, "0"),  # opted out: accepted, the DLR says err-code 9
    ],
)
def test_each_rule_has_its_status(override: dict[str, str], status: str) -> None:
    """Every documented refusal, and the look-alikes that are fine."""
    assert status_of({**GOOD, **override}) == status


def test_unknown_params_and_receipt_request() -> None:
    """Unlisted params are recorded; status-report-req defaults to true and 0/false turn it off."""
    assert unknown_sms_params({**GOOD, "pin": "1", "brand": "x"}) == ["brand", "pin"]
    assert wants_receipts(GOOD) and wants_receipts({"status-report-req": "TRUE"})
    assert not wants_receipts({"status-report-req": "0"})
    assert not wants_receipts({"status-report-req": "false"})


# --- segments (docs/provider-routes.md §D.3) -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your code is 481516", ("GSM-7", 19, 1)),
        ("x" * 160, ("GSM-7", 160, 1)),
        ("x" * 161, ("GSM-7", 161, 2)),
        ("[" * 80, ("GSM-7", 160, 1)),
        ("x" * 306, ("GSM-7", 306, 2)),
        ("x" * 307, ("GSM-7", 307, 3)),
        ("é" * 160, ("GSM-7", 160, 1)),
        ("Código: 4815 ✓", ("UCS-2", 14, 1)),
        ("ю" * 70, ("UCS-2", 70, 1)),
        ("ю" * 71, ("UCS-2", 71, 2)),
        ("ю" * 134, ("UCS-2", 134, 2)),
        ("ю" * 135, ("UCS-2", 135, 3)),
    ],
)
def test_segment_counter_matches_the_documented_table(text: str, expected: tuple[str, int, int]) -> None:
    """Auto-detected encoding, units and parts as in docs/provider-routes.md §D.3."""
    got = seg.count(text)
    assert (got.encoding, got.units, got.count) == expected


def test_sms_type_decides_the_encoding() -> None:
    """type=unicode counts every character in UCS-2; text counts GSM-7; binary is one part; emoji are 2."""
    assert part_count({"text": "x" * 71, "type": "unicode"}) == 2
    assert part_count({"text": "x" * 160}) == 1
    assert part_count({"type": "binary", "body": "00" * 200}) == 1
    assert seg.count("👍" * 35, seg.UCS2).units == 70


# --- the route, driven without sockets --------------------------------------------------------------


class FakeDispatcher:
    """Collects what the route schedules instead of pushing it."""

    def __init__(self) -> None:
        self.chains: list[list[Receipt]] = []
        self.delays: list[float | None] = []

    def schedule(
        self, chain: list[Receipt], config: SimConfig, rng: random.Random, delay_s: float | None = None
    ) -> None:
        self.chains.append(chain)
        self.delays.append(delay_s)


def run(config: SimConfig, params: dict[str, str], headers: dict[str, str] | None = None) -> tuple[
    dict[str, Any], dict[str, Any], FakeDispatcher, Ledger
]:
    ledger, dispatcher = Ledger(), FakeDispatcher()
    api = SmsApi(ledger, dispatcher, Account(), random.Random(1))  # type: ignore[arg-type]
    body = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    inbound = Inbound("POST", "/sms/json", "", "application/x-www-form-urlencoded", body, time.time(),
                      headers or {})
    record: dict[str, Any] = {"route": "sms", "status": None, "message_id": None, "accepted": False}
    answer = api.handle(inbound, api.parse(inbound), config, record)
    assert answer.status == 200
    return json.loads(answer.body), record, dispatcher, ledger


def test_long_text_is_answered_per_part_with_its_own_id_price_and_receipt() -> None:
    """200 GSM-7 chars: message-count "2", two UUIDs, two charges, client-ref in each, one DLR each."""
    config = CONFIG.with_knobs(dlr_url="http://127.0.0.1:9/dlr", dlr_mix={"delivered": 1})
    body, record, dispatcher, ledger = run(config, {**GOOD, "text": "x" * 200, "client-ref": "otp-7"})
    assert body["message-count"] == "2" and len(body["messages"]) == 2
    first, second = body["messages"]
    assert UUID.fullmatch(first["message-id"]) and first["message-id"] != second["message-id"]
    assert {first["client-ref"], second["client-ref"]} == {"otp-7"}
    drop = float(first["remaining-balance"]) - float(second["remaining-balance"])
    assert abs(drop - float(config.message_price)) < 1e-9
    assert record["message_ids"] == [first["message-id"], second["message-id"]]
    dlrs = [chain[0].fields for chain in dispatcher.chains]
    assert [d["messageId"] for d in dlrs] == record["message_ids"]
    assert {d["to"] for d in dlrs} == {"12015550123"} and {d["client-ref"] for d in dlrs} == {"otp-7"}
    assert ledger.accepted_count("447700900000", "x" * 200, "otp-7", route="sms") == 1


def test_partial_failure_refuses_the_last_part_only() -> None:
    """sms_partial_failure: the last part is {"status": "1", "error-text": "Throttled"} and gets no DLR."""
    config = CONFIG.with_knobs(sms_partial_failure=True, dlr_url="http://127.0.0.1:9/dlr")
    body, record, dispatcher, _ = run(config, {**GOOD, "text": "x" * 400})
    assert body["message-count"] == "3"
    assert [m["status"] for m in body["messages"]] == ["0", "0", "1"]
    assert body["messages"][2] == {"status": "1", "error-text": "Throttled"}
    assert len(dispatcher.chains) == 2 and record["accepted"] is True


def test_refusal_carries_only_status_and_error_text() -> None:
    """An error entry has status and error-text, nothing else (A.2); nothing is charged or receipted."""
    body, record, dispatcher, _ = run(CONFIG, {**GOOD, "to": "447700900007", "client-ref": "r"})
    assert body == {"message-count": "1", "messages": [{"status": "7", "error-text": "Number Barred"}]}
    assert record["status"] == "7" and not record["accepted"] and dispatcher.chains == []


def test_receipts_go_to_callback_and_honour_status_report_req() -> None:
    """callback overrides dlr_url; status-report-req=0 means no DLR; opted out ends failed/9."""
    config = CONFIG.with_knobs(dlr_url="http://127.0.0.1:9/dlr", dlr_mix={"delivered": 1})
    _, _, dispatcher, _ = run(config, {**GOOD, "callback": "http://127.0.0.1:9/other"})
    assert dispatcher.chains[0][0].url == "http://127.0.0.1:9/other"
    assert run(config, {**GOOD, "status-report-req": "0"})[2].chains == []
    opted = run(config, {**GOOD, "to": "447700900009"})[2].chains[0][0].fields
    assert (opted["status"], opted["err-code"]) == ("failed", "9")


def test_hex_message_ids_on_request_and_basic_auth_is_recorded() -> None:
    """sms_message_ids="hex" gives 16-hex ids; a Basic header is noted on the record."""
    creds = {k: v for k, v in GOOD.items() if k not in ("api_key", "api_secret")}
    header = {"authorization": "Basic ZGVtby1rZXk6ZGVtby1zZWNyZXQtMDEyMw=="}  # demo-key:demo-secret-0123
    body, record, _, _ = run(CONFIG.with_knobs(sms_message_ids="hex"), creds, header)
    assert re.fullmatch(r"[0-9A-F]{16}", body["messages"][0]["message-id"])
    assert record["auth"] == "basic"


def test_account_balance_is_shared_and_thread_safe() -> None:
    """Concurrent debits never overspend: 10 parts of credit, 40 tries, exactly 10 succeed."""
    account = Account()
    config = SimConfig(balance="0.33300000")
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(account.debit(config))) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in results) == 10
