"""The naive correlation baseline: read a batch, look each message-id up, write the state.

No Lua, no transition table, no msisdn check, no parking of early receipts,
no statistics: one pipelined round trip for the message-id lookups and one for
the writes and the acknowledgement. ``python -m pinrelay_ops.bench.naive.correlator
COUNT`` exits after COUNT receipts.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Final

import redis

from pinrelay_ops.bench.plan import CORRELATOR_BATCH
from worker import constants as c
from worker.config import Settings
from worker.redisconn import redis_client
from worker.text import to_text

GROUP: Final = "naive"
BLOCK_MS: Final = 1000


def correlate(client: redis.Redis, prefix: str, count: int) -> int:
    stream = prefix + c.KEY_RECEIPTS_STREAM
    with contextlib.suppress(redis.ResponseError):  # the group exists
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    done = 0
    while done < count:
        response: Any = client.xreadgroup(
            GROUP, "naive-1", {stream: ">"}, count=CORRELATOR_BATCH, block=BLOCK_MS
        )
        if not response:
            continue
        entries: list[tuple[bytes, dict[bytes, bytes]]] = response[0][1]
        lookups = client.pipeline(transaction=False)
        for _, fields in entries:
            lookups.get(prefix + c.KEY_MESSAGE_INDEX + to_text(fields[b"messageId"]))
        writes = client.pipeline(transaction=False)
        for (_, fields), rid in zip(entries, lookups.execute(), strict=True):
            if rid is not None:
                status = to_text(fields[b"status"])
                writes.hset(prefix + c.KEY_RECORD + to_text(rid), mapping={
                    "state": status, "receipt_status": status,
                    "receipt_at": to_text(fields[b"received_at"]), "err_code": to_text(fields[b"err-code"]),
                })
        ids = [entry_id for entry_id, _ in entries]
        writes.xack(stream, GROUP, *ids)
        writes.xdel(stream, *ids)
        writes.execute()
        done += len(entries)
    return done


def main() -> int:
    settings = Settings.from_env()
    client = redis_client(settings.redis_url or "")
    correlate(client, settings.key_prefix, int(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
