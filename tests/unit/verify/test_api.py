"""The verify settings and public names: what `import worker` and PINRELAY_VERIFY_* promise."""

from __future__ import annotations

import pytest

import worker
from worker.config import Settings
from worker.errors import ConfigError


def test_the_verify_errors_sit_in_the_error_tree() -> None:
    """An unknown verification is an unknown request; a refused resend is a pinrelay error
    (the public names themselves are pinned in tests/unit/test_public_names.py)."""
    assert issubclass(worker.UnknownVerificationError, worker.UnknownRequestError)
    assert issubclass(worker.ResendRefusedError, worker.PinrelayError)


def test_defaults() -> None:
    """6 digits, 300 s, 5 attempts, 3 sends; no secret."""
    s = Settings.from_env({})
    assert (s.verify_length, s.verify_ttl_s, s.verify_max_attempts, s.verify_max_sends) == (6, 300, 5, 3)
    assert s.verify_secret is None


@pytest.mark.parametrize(("name", "value"), [
    ("PINRELAY_VERIFY_SECRET", "x" * 31),
    ("PINRELAY_VERIFY_LENGTH", "5"),
    ("PINRELAY_VERIFY_LENGTH", "11"),
    ("PINRELAY_VERIFY_TTL", "601"),
    ("PINRELAY_VERIFY_TTL", "0"),
    ("PINRELAY_VERIFY_MAX_ATTEMPTS", "0"),
    ("PINRELAY_VERIFY_MAX_SENDS", "-1"),
])
def test_values_outside_the_rules_are_refused_by_name(name: str, value: str) -> None:
    """A short secret, a length outside 6-10, a TTL over 600 s: refused at start, naming the variable."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_secret_is_a_secret() -> None:
    """Hidden in repr and handed to the log redactor."""
    key = "v" * 40
    s = Settings.from_env({"PINRELAY_VERIFY_SECRET": key, "PINRELAY_VERIFY_LENGTH": "8"})
    assert key not in repr(s) and key in s.secret_values() and s.verify_length == 8
    assert s.to_env()["PINRELAY_VERIFY_SECRET"] == key


def test_a_record_ttl_shorter_than_the_code_ttl_is_refused() -> None:
    """A verification kept less long than its code is valid would vanish while pending: refused,
    naming both variables, wherever verifications can be made (the secret is set)."""
    secret = {"PINRELAY_VERIFY_SECRET": "v" * 40}
    for ttls in ({"PINRELAY_RECORD_TTL": "299"},
                 {"PINRELAY_RECORD_TTL": "599", "PINRELAY_VERIFY_TTL": "600"}):
        with pytest.raises(ConfigError, match=r"PINRELAY_RECORD_TTL.*PINRELAY_VERIFY_TTL"):
            Settings.from_env({**secret, **ttls})
    assert Settings.from_env({**secret, "PINRELAY_RECORD_TTL": "300"}).record_ttl_s == 300
    assert Settings.from_env({"PINRELAY_RECORD_TTL": "60"}).record_ttl_s == 60  # no verify here
