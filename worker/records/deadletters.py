"""Dead letters: what needs a person's decision (shown by `pinrelay dead`, :mod:`worker.cli.dead`).

Three inspectable sets, each a sorted set ``{prefix}dead:<kind>`` of id -> unix time:

* ``sends``    — records that ended in ``error`` or ``unconfirmed`` (written by the Lua scripts);
* ``receipts`` — receipts that never matched a send within the grace period (the receipts
  themselves are in the ``unmatched`` hash);
* ``tasks``    — tasks that raised something unexpected (Celery ``task_failure``).

Replaying a send makes a *new* request (same number and PIN, while the PIN has not
expired) linked to the old one, so a final state never moves back and a send is
replayed at most once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from worker import constants as c
from worker.text import to_text

KINDS = ("sends", "receipts", "tasks")


class DeadLetters:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, kind: str) -> str:
        return f"{self.prefix}{c.KEY_DEAD_PREFIX}{kind}"

    def add(self, kind: str, member: str, detail: dict[str, Any] | None = None) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.key(kind), {member: time.time()})
        if detail is not None:
            pipe.hset(f"{self.key(kind)}:detail", member, json.dumps(detail, default=str))
        pipe.execute()

    def list(self, kind: str, limit: int = 100) -> list[tuple[str, float]]:
        rows: Any = self.client.zrevrange(self.key(kind), 0, limit - 1, withscores=True)
        return [(to_text(m), float(s)) for m, s in rows]

    def detail(self, kind: str, member: str) -> dict[str, Any] | None:
        if kind == "receipts":
            entries: Any = self.client.hgetall(f"{self.prefix}{c.KEY_UNMATCHED}")
            found = {k.decode(): json.loads(v) for k, v in entries.items()
                     if k.decode().split(":")[0] == member}  # fmt: skip
            return found or None
        raw: Any = self.client.hget(f"{self.key(kind)}:detail", member)
        return json.loads(raw) if raw else None

    def remove(self, kind: str, member: str) -> None:
        self.client.zrem(self.key(kind), member)
        self.client.hdel(f"{self.key(kind)}:detail", member)

    def purge(self, kind: str) -> int:
        count = int(self.client.zcard(self.key(kind)))
        keys = [self.key(kind), f"{self.key(kind)}:detail"]
        if kind == "receipts":
            keys.append(f"{self.prefix}{c.KEY_UNMATCHED}")
        self.client.delete(*keys)
        return count
