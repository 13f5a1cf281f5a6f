"""Settings refuse a bad value with one line naming the variable, whatever kind of value it is."""

from __future__ import annotations

import pytest

from worker.config import Settings
from worker.errors import ConfigError


def _refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert "\n" not in message and "pydantic" not in message and "Input should" not in message
    return message


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        # whole numbers: not a number, zero where it must be positive, negative where 0 is off
        ("PINRELAY_MAX_ATTEMPTS", "many", "must be a positive whole number"),
        ("PINRELAY_MAX_ATTEMPTS", "2.5", "must be a positive whole number"),
        ("PINRELAY_RECORD_TTL", "0", "must be a positive whole number"),
        ("PINRELAY_PER_NUMBER_DAY", "-1", "must be zero or a positive whole number"),
        # numbers with a fraction: timeouts, rates, shares
        ("PINRELAY_READ_TIMEOUT", "-1", "must be a positive number"),
        ("PINRELAY_READ_TIMEOUT", "soon", "must be a positive number"),
        ("PINRELAY_READ_TIMEOUT", "nan", "must be a positive number"),
        ("PINRELAY_RATE_LIMIT", "-0.5", "must be zero or positive"),
        ("PINRELAY_ROUTE_MIN_SUCCESS", "1.5", "must be between 0 and 1"),
        # the verify limits the rules fix
        ("PINRELAY_VERIFY_LENGTH", "11", "must be a whole number from 6 to 10"),
        ("PINRELAY_VERIFY_TTL", "601", "must be a whole number from 1 to 600"),
        # switches and choices
        ("PINRELAY_TASK_EVENTS", "maybe", "must be true or false"),
        ("PINRELAY_LOG_FORMAT", "xml", "is not json or console"),
        ("PINRELAY_WORKER_POOL", "forks", "is not a Celery pool"),
        ("PINRELAY_SIGNATURE_METHOD", "sha3", "is not one of md5hash, md5, sha1, sha256, sha512"),
        ("PINRELAY_WEBHOOK_METRICS", "70000", "must be on, off or a port number"),
        # URLs
        ("PINRELAY_API_URL", "ftp://x", "is not a URL with scheme http/https"),
        ("PINRELAY_BROKER_URL", "kafka://x", "is not a URL with scheme "
         "redis/rediss/unix/redis+sentinel/rediss+sentinel/amqp/amqps/pyamqp"),
        # lists
        ("PINRELAY_PHONE_REGIONS", "USA", "must be ISO country codes such as US,CA"),
        ("PINRELAY_ROUTES", "sms,sms", "must list routes once each, from sc2fa, sms, twilio, messages"),
        ("PINRELAY_REDIS_SENTINELS", "h:x", "must be host:port pairs such as 10.0.0.5:26379,10.0.0.6:26379"),
        ("PINRELAY_REDIS_SENTINELS", ", ,", "must name at least one host:port"),
        # files
        ("PINRELAY_REDIS_CA_FILE", "/no/such/ca.pem", "is not a readable file"),
    ],
)
def test_each_kind_of_bad_value_is_one_line_naming_the_variable(name: str, value: str, phrase: str) -> None:
    """The variable, the value as given and what it must be: no pydantic wording, no traceback."""
    assert _refusal({name: value}) == f"{name}={value!r} {phrase}"


def test_a_refused_url_shows_no_password() -> None:
    """The message goes to logs: a password in a refused URL is masked."""
    assert _refusal({"PINRELAY_REDIS_URL": "http://:hunter22@x"}) == (
        "PINRELAY_REDIS_URL='http://:***@x' is not a URL with scheme "
        "redis/rediss/unix/redis+sentinel/rediss+sentinel")


@pytest.mark.parametrize("name", ["PINRELAY_VERIFY_SECRET", "PINRELAY_CALLBACK_SECRET"])
def test_a_short_secret_is_refused_without_showing_it(name: str) -> None:
    """A secret too short is named with its length, never its value."""
    assert _refusal({name: "hush-hush-hush"}) == f"{name} must be at least 32 characters (got 14)"


def test_the_first_bad_variable_in_table_order_is_the_one_named() -> None:
    """Two bad values: the message names the one earlier in the table (the README's order)."""
    message = _refusal({"PINRELAY_ROUTE_COOLDOWN": "0", "PINRELAY_MAX_ATTEMPTS": "0"})
    assert message.startswith("PINRELAY_MAX_ATTEMPTS=")


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_blank_means_unset(value: str) -> None:
    """A blank or whitespace-only variable is the default, as if it were not there (compose files)."""
    env = {f"PINRELAY_{name}": value for name in ("MAX_ATTEMPTS", "ROUTES", "REDIS_URL", "TASK_EVENTS",
                                                  "VERIFY_SECRET", "LOG_FORMAT", "REDIS_SENTINELS")}
    assert Settings.from_env(env) == Settings.from_env({})


def test_values_are_stripped_and_choices_compared_case_insensitively() -> None:
    """Spaces around a value are ignored; choices and routes are read in any case."""
    settings = Settings.from_env({"PINRELAY_MAX_ATTEMPTS": " 7 ", "PINRELAY_LOG_FORMAT": "Console",
                                  "PINRELAY_ROUTES": " SMS , sc2fa", "PINRELAY_SMS_FROM": "1201",
                                  "PINRELAY_PHONE_REGIONS": "us, gb", "PINRELAY_LOG_LEVEL": "debug"})
    assert settings.max_attempts == 7 and settings.log_format == "console"
    assert settings.routes == ("sms", "sc2fa") and settings.phone_regions == ("US", "GB")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("yes", True), ("ON", True), ("true", True),
    ("0", False), ("no", False), ("off", False), ("False", False),
])
def test_switches_take_the_usual_spellings(value: str, expected: bool) -> None:
    """1/0, true/false, yes/no, on/off, in any case."""
    assert Settings.from_env({"PINRELAY_TASK_EVENTS": value}).task_events is expected


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("PINRELAY_VERIFY_LENGTH", "6", "10"), ("PINRELAY_VERIFY_TTL", "1", "600"),
     ("PINRELAY_ROUTE_PROBE_SHARE", "0", "1"), ("PINRELAY_METRICS_PORT", "0", "65535")],
)
def test_bounds_are_inclusive(name: str, low: str, high: str) -> None:
    """Both ends of a documented range are accepted."""
    for value in (low, high):
        Settings.from_env({name: value})


def test_a_copy_is_checked_like_the_original() -> None:
    """``replace`` validates the new values (by the variable's name) and runs the always-rules."""
    settings = Settings.from_env({})
    with pytest.raises(ConfigError, match=r"^PINRELAY_MAX_ATTEMPTS=0 must be a positive whole number$"):
        settings.replace(max_attempts=0)
    with pytest.raises(ConfigError, match=r"PINRELAY_RECORD_TTL \(60s\) must be at least PINRELAY_VERIFY_"):
        settings.replace(verify_secret="v" * 40, record_ttl_s=60)
    with pytest.raises(TypeError, match="no such setting: max_attempt"):
        settings.replace(max_attempt=3)
    assert settings.replace(max_attempts=3).max_attempts == 3 and settings.max_attempts != 3


def test_settings_are_frozen() -> None:
    """Assigning to a field is refused: settings change only through a checked copy."""
    settings = Settings.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.max_attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(("value", "phrase"), [
    ("whsec_short", "must be Supabase's hook secrets as its dashboard shows them"),
    ("v1a,whpk_" + "A" * 40 + ":whsk_" + "B" * 40, "must be Supabase's hook secrets as its dashboard shows"),
    ("v1,whsec_" + "A" * 40 + "|v1,whsec_" + "$" * 40, "must be Supabase's hook secrets"),
    ("|".join(["v1,whsec_" + "A" * 40] * 9), "must be 1-8 Supabase hook secrets separated by |"),
])
def test_a_supabase_secret_is_checked_as_supabase_checks_it_and_never_shown(value: str, phrase: str) -> None:
    message = _refusal({"PINRELAY_SUPABASE_HOOK_SECRET": value})
    assert message.startswith(f"PINRELAY_SUPABASE_HOOK_SECRET {phrase}") and "A" * 40 not in message


def test_supabase_s_spelling_becomes_what_the_library_takes() -> None:
    """`v1,` goes (the library would silently build a wrong key from it), `whsec_` stays; spaces
    around `|` are ignored; the bare `whsec_...` form is taken too."""
    from worker.config.types import supabase_secrets

    a, b = "A" * 43 + "=", "b+/9" * 10
    settings = Settings.from_env({"PINRELAY_SUPABASE_HOOK_SECRET": f"v1,whsec_{a} | whsec_{b}"})
    assert supabase_secrets(settings.supabase_hook_secret or "") == (f"whsec_{a}", f"whsec_{b}")
    assert f"whsec_{a}" not in repr(settings)


@pytest.mark.parametrize(("value", "phrase"), [
    ("([0-9]{6}", "is not a regular expression: missing ), unterminated subpattern at position 0"),
    ("([0-9])([0-9]{5})", "may have at most one group (the code)"),
    ("[0-9]*", "must not match an empty text"),
])
def test_a_code_pattern_must_find_a_code(value: str, phrase: str) -> None:
    assert _refusal({"PINRELAY_HOOK_CODE_PATTERN": value}) == f"PINRELAY_HOOK_CODE_PATTERN={value!r} {phrase}"


def test_a_short_hook_signing_key_is_refused_without_showing_it() -> None:
    assert _refusal({"PINRELAY_HOOK_SIGNING_KEY": "hush-hush"}) == (
        "PINRELAY_HOOK_SIGNING_KEY must be at least 16 characters (got 9)")
