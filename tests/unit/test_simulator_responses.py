"""The simulator's submit response builder (docs/provider-api.md §2) and its message ids."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from pinrelay_ops.simulator.vonage import responses

HEX16 = re.compile(r"[0-9A-F]{16}")


def test_accepted_response_has_every_documented_key_as_a_string() -> None:
    """An accepted submit carries to, message-id, status 0, balance, price, network, client-ref."""
    message = responses.accepted_message(
        "16365553226", "0C000000217B7F02", "15.53590000", "0.03330000", "310004", "ref-1"
    )
    body = json.loads(responses.render_json(message))
    assert body["message-count"] == "1"
    entry = body["messages"][0]
    assert entry == {
        "to": "16365553226",
        "message-id": "0C000000217B7F02",
        "status": "0",
        "remaining-balance": "15.53590000",
        "message-price": "0.03330000",
        "network": "310004",
        "client-ref": "ref-1",
    }
    assert all(isinstance(value, str) for value in entry.values())


def test_client_ref_is_left_out_when_not_sent() -> None:
    """No client-ref key unless the caller sent one."""
    message = responses.accepted_message("16365553226", "AB", "1", "1", "310004", None)
    assert "client-ref" not in message


def test_error_entry_has_status_and_text_but_no_message_id() -> None:
    """A refusal names the status and the reason, and issues no message-id."""
    message = responses.error_message("2", responses.error_text("2", "to"))
    assert message == {"status": "2", "error-text": "Missing to param"}


def test_error_entry_echoes_to_and_client_ref_when_sent() -> None:
    """The caller's to and client-ref come back on errors too, for correlation."""
    message = responses.error_message("7", "Number Barred", "16365553226", "ref-9")
    assert message["to"] == "16365553226" and message["client-ref"] == "ref-9"


def test_throttle_text_carries_the_wait_in_ms() -> None:
    """Status 1 says how long to wait, in the format clients parse."""
    assert responses.throttle_text(978) == "Throughput Rate Exceeded - please wait [ 978 ] and retry"
    assert "[ 1 ]" in responses.throttle_text(0)


def test_error_texts_use_the_documented_names() -> None:
    """Codes without a param get their docs/provider-api.md §3 name; unknown codes still get a text."""
    assert responses.error_text("7") == "Number Barred"
    assert responses.error_text("102") == "RESPONSE_MSISDN_OPTED_OUT_FOR_CAMPAIGN"
    assert responses.error_text("3", "pin") == "Invalid pin param"
    assert responses.error_text("77") == "Error 77"


def test_message_ids_are_unique_16_uppercase_hex() -> None:
    """Ten thousand ids in a row are distinct and 16 uppercase hex characters."""
    ids = responses.MessageIds()
    issued = [ids.next() for _ in range(10_000)]
    assert len(set(issued)) == len(issued)
    assert all(HEX16.fullmatch(value) for value in issued)


def test_two_id_sources_do_not_collide() -> None:
    """Two simulators (e.g. a restart) issue different ids."""
    first, second = responses.MessageIds(), responses.MessageIds()
    assert {first.next() for _ in range(100)}.isdisjoint({second.next() for _ in range(100)})


def test_xml_form_uses_the_documented_element_names() -> None:
    """The /xml answer is <mt-submission-response><messages count='1'><message> with camelCase."""
    message = responses.accepted_message("16365553226", "ABC", "1.0", "0.1", "310004", "r&1")
    root = ET.fromstring(responses.render_xml(message))  # noqa: S314 - our own output
    assert root.tag == "mt-submission-response"
    messages = root.find("messages")
    assert messages is not None and messages.get("count") == "1"
    assert root.findtext("messages/message/messageId") == "ABC"
    assert root.findtext("messages/message/clientRef") == "r&1"
    assert root.findtext("messages/message/remainingBalance") == "1.0"
