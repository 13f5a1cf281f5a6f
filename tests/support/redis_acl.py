"""A real ``redis-server`` loading the shipped ops/redis-users.acl, rendered as compose renders it.

Each role gets a password of its own, and one extra ``admin`` user (not in the shipped file)
lets a test set up data, read ``ACL LOG`` and clean up. Tests use the default key prefix and
queue, which the file's key patterns assume.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.waiting import wait_for
from worker.local.embedded import find_redis_server, free_port

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "ops" / "redis-users.acl"
ROLES = ("worker", "receiver", "producer", "api")


def render_acl(text: str, passwords: dict[str, str]) -> str:
    """What docker-compose.yml's redis command does with sed and sha256sum."""

    def digest(match: re.Match[str]) -> str:
        return "#" + hashlib.sha256(passwords[match.group(1)].encode()).hexdigest()

    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return re.sub(r"#\{(PINRELAY_REDIS_[A-Z]+_PASSWORD)\}", digest, "\n".join(lines) + "\n")


@dataclass
class AclRedis:
    port: int
    passwords: dict[str, str]

    def url(self, role: str) -> str:
        return f"redis://{role}:{self.passwords[role]}@127.0.0.1:{self.port}/0"

    def client(self, role: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(role), socket_timeout=5)

    def admin(self) -> redis.Redis:
        return self.client("admin")

    def reset_log(self) -> None:
        admin = self.admin()
        try:
            admin.acl_log_reset()
        finally:
            admin.close()

    def refusals(self) -> set[tuple[str, str, str]]:
        """(user, reason, command or key) of every refusal since the last :meth:`reset_log`."""
        admin = self.admin()
        try:
            return {(e["username"], e["reason"], e["object"]) for e in admin.acl_log(count=1000)}
        finally:
            admin.close()

    def flush(self) -> None:
        admin = self.admin()
        try:
            admin.flushdb()
        finally:
            admin.close()


@contextmanager
def acl_redis_server(tmp: Path, acl_text: str | None = None) -> Iterator[AclRedis]:
    """redis-server with the rendered ACL file (``acl_text``: another file's text, e.g. an old
    one for a before/after figure) plus the ``admin`` user."""
    passwords = {role: f"{role}-pw-{free_port()}" for role in (*ROLES, "admin")}
    env_names = {f"PINRELAY_REDIS_{role.upper()}_PASSWORD": pw for role, pw in passwords.items()}
    rendered = render_acl(ACL.read_text() if acl_text is None else acl_text, env_names)
    users = [line.split()[1] for line in rendered.splitlines() if line.startswith("user ")]
    assert acl_text is not None or users == ["default", *ROLES], users
    assert "#{" not in rendered, "a placeholder without a password variable"
    (tmp / "users.acl").write_text(rendered + f"user admin on >{passwords['admin']} ~* &* +@all\n")
    port = free_port()
    server = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                               "--aclfile", str(tmp / "users.acl"), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp), "--logfile", str(tmp / "redis.log")])
    found = AclRedis(port, passwords)

    def answers() -> bool:
        assert server.poll() is None, (tmp / "redis.log").read_text()
        try:
            return bool(found.admin().ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, 10, "redis-server with ops/redis-users.acl")
        yield found
    finally:
        server.terminate()
        server.wait(timeout=10)


def refused(call: Callable[[], Any]) -> bool:
    """Whether Redis refused ``call`` for lack of permission: directly (NOPERM), or inside a
    script (a script's command is checked against the caller's rules, refused as an error of
    the script naming the ACL)."""
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    except redis.ResponseError as exc:
        text = str(exc)
        return "NOPERM" in text or "user executing the script can't" in text
    return False
