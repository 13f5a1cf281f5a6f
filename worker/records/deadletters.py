"""Dead letters: what needs a person's decision (shown by `pinrelay dead`, :mod:`worker.cli.dead`).

Three inspectable kinds, each bounded (``PINRELAY_DEAD_LETTER_CAP`` entries, the oldest go
first), because two of them fill from outside:

* ``sends``    — records that ended in ``error`` or ``unconfirmed`` (written by the Lua
  scripts): a sorted set ``{prefix}dead:sends`` of request id -> unix time, trimmed by the
  correlator's sweep to the cap and to the record TTL (a member outliving its record names
  nothing);
* ``receipts`` — receipts that were not applied (no send got their message-id within the
  grace period, a wrong number, an unknown status, malformed, a full parking area), and those
  the receiver held (``late_signature``: signed right, but older than the signature window,
  docs/provider-routes.md §G): a capped stream ``{prefix}dead:receipts:log`` (``XADD MAXLEN
  ~``, written by the Lua prelude and ``receipt_push.lua``), each entry with its id, reason,
  message-id and the receipt. :meth:`DeadLetters.apply_held` moves held ones onto the receipt
  stream, where the correlator applies them like any receipt (a second copy is a duplicate);
* ``tasks``    — tasks that raised something unexpected (Celery ``task_failure``): a sorted
  set with a ``:detail`` hash, trimmed as each one is added.

Reading never loads a whole set at once (``show`` pages through the stream, ``list`` takes
the newest few), and ``purge`` frees with ``UNLINK``, which Redis does in the background.

Replaying a send makes a *new* request (same number and PIN, while the PIN has not
expired) linked to the old one, so a final state never moves back and a send is
replayed at most once.
"""

from __future__ import annotations

import builtins
import json
import time
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.text import to_text

KINDS = ("sends", "receipts", "tasks")
HELD_REASONS: Final = ("late_signature",)  # dead receipts a person may apply (`pinrelay dead apply`)
PAGE: Final = 500  # stream entries read per round trip by `show`
TRIM_BATCH: Final = 1000  # members one trim call drops at most


class DeadLetters:
    def __init__(self, client: redis.Redis, prefix: str, *, cap: int = c.DEFAULT_DEAD_LETTER_CAP,
                 max_age_s: int = c.DEFAULT_RECORD_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.cap = cap
        self.max_age_s = max_age_s
        self._trim = client.register_script(lua.script("dead_trim"))

    def key(self, kind: str) -> str:
        if kind == "receipts":
            return f"{self.prefix}{c.KEY_DEAD_RECEIPTS}"
        return f"{self.prefix}{c.KEY_DEAD_PREFIX}{kind}"

    def add(self, kind: str, member: str, detail: dict[str, Any] | None = None) -> None:
        """A dead send or task (receipts are added by the Lua scripts), then the set trimmed."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.key(kind), {member: time.time()})
        if detail is not None:
            pipe.hset(f"{self.key(kind)}:detail", member, json.dumps(detail, default=str))
        pipe.execute()
        self.trim(kind)

    def trim(self, kind: str, now: float | None = None) -> int:
        """Drop the members of a ``sends``/``tasks`` set past the cap or older than the record
        TTL (with their detail); how many went."""
        cutoff = (time.time() if now is None else now) - self.max_age_s
        keys = [self.key(kind), f"{self.key(kind)}:detail" if kind == "tasks" else ""]
        return int(self._trim(keys=keys, args=[f"{cutoff:.3f}", self.cap, TRIM_BATCH]))

    def list(self, kind: str, limit: int = 100) -> list[tuple[str, float]]:
        """The newest ``limit`` members and when they were added."""
        if kind == "receipts":
            return [(row["id"], row["at"]) for row in self.receipts(limit)]
        rows: Any = self.client.zrevrange(self.key(kind), 0, limit - 1, withscores=True)
        return [(to_text(m), float(s)) for m, s in rows]

    def receipts(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The newest ``limit`` dead receipts: id, time, reason, message-id and the receipt."""
        entries: Any = self.client.xrevrange(self.key("receipts"), count=limit)
        return [_receipt_row(entry_id, fields) for entry_id, fields in entries]

    def detail(self, kind: str, member: str) -> dict[str, Any] | None:
        """A dead task's detail; for receipts every entry whose id or message-id is ``member``."""
        if kind == "receipts":
            found = list(self._find_receipts(member))
            return {"id": member, "receipts": found} if found else None
        raw: Any = self.client.hget(f"{self.key(kind)}:detail", member)
        return json.loads(raw) if raw else None

    def _find_receipts(self, ident: str) -> Any:
        """Every dead receipt whose id or message-id is ``ident``, newest first."""
        return (row for _, row in self._scan() if ident in (row["id"], row["message_id"]))

    def _scan(self) -> Any:
        """(entry id, row) of every dead receipt: the stream paged newest first, PAGE per round trip."""
        upper = "+"
        while True:
            entries: Any = self.client.xrevrange(self.key("receipts"), max=upper, count=PAGE)
            for entry_id, fields in entries:
                yield to_text(entry_id), _receipt_row(entry_id, fields)
            if len(entries) < PAGE:
                return
            upper = "(" + to_text(entries[-1][0])

    def apply_held(self, ident: str | None = None) -> builtins.list[str]:
        """Put held receipts (:data:`HELD_REASONS`) back on the receipt stream, each removed from the
        log in the same transaction; with ``ident`` only those whose id or message-id it is. Their ids."""
        stream = f"{self.prefix}{c.KEY_RECEIPTS_STREAM}"
        applied = []
        for entry_id, row in list(self._scan()):
            receipt = row["receipt"]
            if row["reason"] not in HELD_REASONS or not isinstance(receipt, dict):
                continue
            if ident is not None and ident not in (row["id"], row["message_id"]):
                continue
            fields = {str(k): str(v) for k, v in receipt.items() if k != "_entry"}
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(stream, fields)
            pipe.xdel(self.key("receipts"), entry_id)
            pipe.execute()
            applied.append(row["id"])
        return applied

    def remove(self, kind: str, member: str) -> None:
        self.client.zrem(self.key(kind), member)
        self.client.hdel(f"{self.key(kind)}:detail", member)

    def purge(self, kind: str) -> int:
        """Free a whole kind with UNLINK (also the unbounded keys of before round 2); how many."""
        key = self.key(kind)
        if kind == "receipts":
            legacy = [f"{self.prefix}{c.KEY_DEAD_PREFIX}receipts", f"{self.prefix}{c.KEY_UNMATCHED}"]
            pipe = self.client.pipeline(transaction=False)
            pipe.xlen(key)
            pipe.zcard(legacy[0])
            count = sum(int(n) for n in pipe.execute())
            self.client.unlink(key, *legacy)
            return count
        count = int(self.client.zcard(key))
        self.client.unlink(key, f"{key}:detail")
        return count


def _receipt_row(entry_id: Any, fields: Any) -> dict[str, Any]:
    decoded = {to_text(k): to_text(v) for k, v in fields.items()}
    try:
        receipt: Any = json.loads(decoded.get("receipt", ""))
    except ValueError:
        receipt = decoded.get("receipt", "")
    return {"id": decoded.get("id", ""), "at": int(to_text(entry_id).split("-")[0]) / 1000,
            "reason": decoded.get("reason", ""), "message_id": decoded.get("message_id", ""),
            "receipt": receipt}
