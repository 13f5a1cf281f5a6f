"""Honest exit codes and input, as an operator meets them: the real `pinrelay` command, real Redis.

0 ok; 1 not found / failed; 2 usage or invalid input; 3 `wait` timed out; 4 an abuse
limit (the message says when to retry). No worker runs here: a send stays `queued`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.settings import cleanup, isolated_settings
from worker.cli.parser import build_parser
from worker.config import Settings
from worker.constants import VERSION

CLI = [sys.executable, "-m", "worker.cli"]
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
EXTENDED_ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x06F0 + d) for d in range(10)))


def _run(settings: Settings | None, *args: str, env_extra: dict[str, str] | None = None,
         python_prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    if settings is not None:
        env.update(settings.to_env())
    env.update(env_extra or {})
    argv = [sys.executable, *python_prefix] if python_prefix else CLI
    return subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def cli_settings(redis_url: str) -> Iterator[Settings]:
    settings = isolated_settings(redis_url)
    yield settings
    client = redis.Redis.from_url(redis_url)
    cleanup(client, settings)
    client.close()


def _records(settings: Settings) -> list[bytes]:
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        return list(client.scan_iter(match=f"{settings.key_prefix}req:*", count=1000))
    finally:
        client.close()


def _queued_tasks(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        return int(client.llen(settings.queue))
    finally:
        client.close()


def test_wait_that_times_out_exits_3_and_still_prints_the_record(cli_settings: Settings) -> None:
    """With no worker the send stays queued: `wait --timeout` prints it, says so, exits 3."""
    sent = _run(cli_settings, "send", "16365553226", "--pin", "123456")
    assert sent.returncode == 0, sent.stderr
    request_id = json.loads(sent.stdout)["id"]
    waited = _run(cli_settings, "wait", request_id, "--timeout", "0.3")
    assert waited.returncode == 3, waited.stderr
    assert json.loads(waited.stdout)["state"] == "queued"
    assert waited.stderr.strip().splitlines() == [
        f"pinrelay: {request_id} has not settled after 0.3s (state queued)"]


def test_abuse_limit_exits_4_and_says_when_to_retry(redis_url: str) -> None:
    """The second PIN to a number within 10 minutes (limit 1) is refused: exit 4, retry time."""
    settings = isolated_settings(redis_url, per_number_10min=1)
    try:
        assert _run(settings, "send", "16365553226", "--pin", "1234").returncode == 0
        refused = _run(settings, "send", "+16365553226", "--pin", "1234")  # the same number
        assert refused.returncode == 4, refused.stderr
        assert re.fullmatch(r"pinrelay: refused by an abuse limit \(number_10min\): to: '1636555\*\*\*\*': "
                            r"too many PINs to this number in 10 minutes; retry in (9m\d\ds|10m00s)\n",
                            refused.stderr), refused.stderr
        assert len(_records(settings)) == 1
    finally:
        client = redis.Redis.from_url(redis_url)
        cleanup(client, settings)
        client.close()


def test_e164_with_plus_is_accepted_and_stored_without_it(cli_settings: Settings) -> None:
    """`send +14155550100` works; the record's number has no '+'."""
    sent = _run(cli_settings, "send", "+14155550100", "--pin", "1234")
    assert sent.returncode == 0, sent.stderr
    client = redis.Redis.from_url(cli_settings.redis_url or "")
    try:
        to = client.hget(f"{cli_settings.key_prefix}req:{json.loads(sent.stdout)['id']}", "to")
    finally:
        client.close()
    assert to == b"14155550100"


def test_ten_digit_nanp_number_gets_a_hint(cli_settings: Settings) -> None:
    """A US number without its country code: exit 2 with "did you mean 1...?"."""
    result = _run(cli_settings, "send", "6365553226", "--pin", "1234")
    assert result.returncode == 2
    assert "did you mean 1636555****" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("table", [FULLWIDTH, ARABIC_INDIC, EXTENDED_ARABIC_INDIC],
                         ids=["fullwidth", "arabic-indic", "extended-arabic-indic"])
def test_non_ascii_digits_of_a_denylisted_number_are_refused_and_nothing_is_queued(
        cli_settings: Settings, table: dict[int, int]) -> None:
    """Another spelling of a denylisted number, or of a PIN, is invalid input (exit 2), never queued."""
    client = redis.Redis.from_url(cli_settings.redis_url or "")
    client.sadd(f"{cli_settings.key_prefix}denylist", "16365553226")
    client.close()
    denied = _run(cli_settings, "send", "16365553226", "--pin", "482913")
    assert denied.returncode == 4 and "denylist" in denied.stderr  # the ASCII spelling: refused
    for number in ("16365553226".translate(table), "+" + "16365553226".translate(table)):
        result = _run(cli_settings, "send", number, "--pin", "482913")
        assert result.returncode == 2, result.stderr
        assert "ASCII digits" in result.stderr and "Traceback" not in result.stderr
    pin = _run(cli_settings, "send", "16365553227", "--pin", "482913".translate(table))
    assert pin.returncode == 2 and "pin: must be a string of ASCII digits" in pin.stderr
    assert _records(cli_settings) == [] and _queued_tasks(cli_settings) == 0


def test_version_prints_the_version() -> None:
    """`pinrelay --version` prints the package version and exits 0."""
    result = _run(None, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pinrelay {VERSION}"


Parsers = list[tuple[str, argparse.ArgumentParser]]


def _subcommands(parser: argparse.ArgumentParser, path: str = "") -> Parsers:
    found = [(path or "pinrelay", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _subcommands(child, f"{path} {name}".strip())
    return found


def test_every_option_of_every_subcommand_has_help() -> None:
    """No option or argument is left without a help text."""
    missing = [f"{path}: {action.option_strings or action.dest}"
               for path, parser in _subcommands(build_parser())
               for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert missing == []


def test_help_shows_the_defaults() -> None:
    """`--help` of a subcommand shows each set default."""
    result = _run(None, "wait", "--help")
    assert result.returncode == 0
    assert "(default: 30.0)" in " ".join(result.stdout.split())
    doctor = " ".join(_run(None, "doctor", "--help").stdout.split())
    assert "(default: 8080)" in doctor and "(default: 8090)" in doctor


def test_report_html_into_a_missing_folder_is_one_line(cli_settings: Settings, tmp_path: Path) -> None:
    """`report --html nowhere/x.html`: exit 2, one line naming the folder, no traceback."""
    target = tmp_path / "missing" / "report.html"
    result = _run(cli_settings, "report", "--html", str(target))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pinrelay: --html {target}: the folder {target.parent} does not exist"]


def test_report_html_without_matplotlib_names_the_extra(cli_settings: Settings, tmp_path: Path) -> None:
    """Without matplotlib installed, `report --html` says which extra to install (exit 2)."""
    no_matplotlib = ("-c", "import sys; sys.modules['matplotlib'] = None; "
                           "from worker.cli import main; sys.exit(main())")
    result = _run(cli_settings, "report", "--html", str(tmp_path / "r.html"), python_prefix=no_matplotlib)
    assert result.returncode == 2, result.stderr
    assert "pip install 'pinrelay[report]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.html").exists()
