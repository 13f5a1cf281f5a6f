"""No PIN, API secret or signature secret survives the logging pipeline."""

from __future__ import annotations

import json

import pytest
import structlog

from worker.logs import Redactor, configure_logging, get_logger


def test_secret_keys_are_redacted() -> None:
    """pin, api_secret and sig are replaced whatever their value."""
    event = Redactor()(None, "info", {"event": "x", "pin": "123456", "api_secret": "s3cr3t!!",
                                      "sig": "ABCDEF"})
    assert event["pin"] == event["api_secret"] == event["sig"] == "[redacted]"


def test_numbers_are_masked() -> None:
    """Phone numbers keep all but their last four digits."""
    event = Redactor()(None, "info", {"event": "x", "to": "16365553226"})
    assert event["to"] == "1636555****"


def test_configured_secrets_are_removed_from_any_text() -> None:
    """A secret hidden inside a message or a nested dict is still removed."""
    redactor = Redactor(["verysecretkey", "sigsecret99"])
    event = redactor(None, "info", {"event": "failed with verysecretkey",
                                    "nested": {"detail": "sigsecret99 here"},
                                    "error": ValueError("pin=4321 and verysecretkey")})
    dumped = json.dumps(event)
    assert "verysecretkey" not in dumped
    assert "sigsecret99" not in dumped
    assert "4321" not in dumped


def test_rendered_json_lines_contain_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """The configured pipeline renders JSON with secrets already removed."""
    configure_logging(fmt="json", secrets=["apisecretvalue"])
    try:
        get_logger("t").info("attempt", pin="987654", to="16365553226",
                             detail="sent with apisecretvalue")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    line = json.loads(err.strip().splitlines()[-1])
    assert line["event"] == "attempt"
    assert "987654" not in err and "apisecretvalue" not in err and "16365553226" not in err


def test_ids_with_long_digit_runs_are_left_intact() -> None:
    """A request id or message-id whose hex holds 11-15 digits in a row is logged as it is."""
    request_id = "ab16365553226123cd0e1f2a3b4c5d6e"
    message_id = "0A00000016365553226"
    event = Redactor()(None, "info", {
        "event": f"claimed {request_id}", "request_id": request_id, "message_id": message_id,
        "message-id": message_id, "messageId": message_id, "ids": [request_id],
        "error": f"provider answered for {message_id} (ref {request_id})",
        "uuid": "123e4567-e89b-12d3-a456-426614174000",
    })
    assert event["request_id"] == event["ids"][0] == request_id
    assert event["message_id"] == event["message-id"] == event["messageId"] == message_id
    assert event["event"] == f"claimed {request_id}"
    assert event["error"] == f"provider answered for {message_id} (ref {request_id})"
    assert event["uuid"] == "123e4567-e89b-12d3-a456-426614174000"


def test_numbers_standing_alone_in_text_are_masked() -> None:
    """A phone number in free text is masked when it is a token of its own, with or without +."""
    event = Redactor()(None, "info", {
        "event": "x", "error": "Invalid number 16365553226, retry",
        "detail": 'body {"to":"+16365553226"}', "note": "to=16365553226.",
    })
    assert event["error"] == "Invalid number 1636555****, retry"
    assert event["detail"] == 'body {"to":"+1636555****"}'
    assert event["note"] == "to=1636555****."


def test_number_fields_are_masked_whatever_their_type() -> None:
    """``to``/``msisdn``/``number`` are masked as strings and as integers (never as booleans)."""
    event = Redactor()(None, "info", {"event": "x", "to": 16365553226, "msisdn": "16365553226",
                                      "number": True})
    assert (event["to"], event["msisdn"], event["number"]) == ("1636555****", "1636555****", True)


def test_stdlib_records_become_redacted_json(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``stdlib=True`` a library's logging call is one JSON line, secrets and numbers removed."""
    import logging
    import sys
    import threading

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    configure_logging(fmt="json", secrets=["apisecretvalue"], stdlib=True)
    try:
        logging.getLogger("kombu.test").warning("lost %s with apisecretvalue for 16365553226", "conn")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook = hooks
    line = json.loads(err.strip().splitlines()[-1])
    assert line["logger"] == "kombu.test" and line["level"] == "warning"
    assert line["event"] == "lost conn with [redacted] for 1636555****"


def test_a_bound_logger_is_structlogs_own_once_configured(capsys: pytest.CaptureFixture[str]) -> None:
    """The worker binds a logger per send: once structlog is configured that is structlog's own
    bound logger (its cache applies), and its lines are ours, redacted."""
    configure_logging(fmt="json")
    try:
        bound = get_logger("pinrelay.worker").bind(request_id="r1")
        assert type(bound).__module__.startswith("structlog")  # not a wrapper of ours
        bound.info("sent", pin="4242")
        line = json.loads(capsys.readouterr().err.strip())
        assert (line["event"], line["request_id"], line["pin"]) == ("sent", "r1", "[redacted]")
    finally:
        structlog.reset_defaults()
