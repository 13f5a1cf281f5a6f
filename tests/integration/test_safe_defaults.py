"""No real provider gets the simulator's demo account: the commands that call it refuse to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.commands import command_env, run
from tests.support.settings import isolated_settings


def _only_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("credentials", [{}, {"PINRELAY_API_KEY": "", "PINRELAY_API_SECRET": ""}],
                         ids=["unset", "empty"])
def test_worker_without_credentials_for_the_real_provider_exits_2(
    redis_url: str, credentials: dict[str, str]
) -> None:
    """`pinrelay worker` with the default provider URL and no key: exit 2, one line naming the key."""
    settings = isolated_settings(redis_url)  # the default, real provider URL
    unset = ("PINRELAY_API_KEY", "PINRELAY_API_SECRET")
    env = {k: v for k, v in command_env(settings).items() if k not in unset}
    env.update(credentials)
    done = run(env, "worker", "--concurrency", "1")
    assert done.returncode == 2
    line = _only_line(done.stderr)
    assert line.startswith("pinrelay: configuration error:") and "PINRELAY_API_KEY" in line
    assert "https://rest.nexmo.com" in line


def test_up_without_credentials_starts_nothing(tmp_path: Path) -> None:
    """`pinrelay up` against the real provider without a key: exit 2 before Redis or anything starts."""
    done = run(command_env(PINRELAY_RUNTIME_DIR=str(tmp_path)), "up", "--workers", "1")
    assert done.returncode == 2
    assert "PINRELAY_API_KEY" in _only_line(done.stderr)
    assert list(tmp_path.iterdir()) == []
