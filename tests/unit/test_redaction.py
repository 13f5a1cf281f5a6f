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
