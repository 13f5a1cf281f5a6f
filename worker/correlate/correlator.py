"""The correlator: reads the result queue and settles each send's record.

The queue is a Redis Stream read through a consumer group, so receipts are
delivered at least once: an entry is acknowledged (and deleted) only after its
batch was applied, and entries a dead consumer left pending are reclaimed with
XAUTOCLAIM. Applying a receipt twice is harmless (see ``worker/lua/correlate.lua``),
which is what makes at-least-once safe here.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.config import Settings
from worker.correlate.bounds import payload
from worker.logs import get_logger
from worker.metrics import RECEIPT_LAG, RECEIPTS
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore
from worker.send.route_health import RouteHealth
from worker.text import to_text

# What only the correlator runs, after the same prelude as the send side (whose FINISH applies
# receipts that came before the message-id): match receipts to sends, give up on early ones.
CORRELATE: Final = lua.script("correlate")
SWEEP_PARKED: Final = lua.script("sweep_parked")

ReceiptEntry = tuple[bytes, dict[bytes, bytes]]
SWEEP_BATCH = 500  # parked message-ids given up on per script call
SWEEP_ROUNDS = 20  # calls per sweep at most (the rest wait for the next sweep)


class Correlator:
    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        *,
        consumer: str | None = None,
        batch: int = c.DEFAULT_CORRELATOR_BATCH,
        block_ms: int = c.DEFAULT_CORRELATOR_BLOCK_MS,
        claim_idle_ms: int | None = None,
        sweep_every_s: float = 5.0,
        republish: Callable[[list[str]], None] | None = None,
        periodic: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> None:
        self.settings = settings
        self.client = client
        self.prefix = settings.key_prefix
        self.stream = f"{self.prefix}{c.KEY_RECEIPTS_STREAM}"
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = settings.claim_idle_ms if claim_idle_ms is None else claim_idle_ms
        self.sweep_every_s = sweep_every_s
        self._correlate = client.register_script(CORRELATE)
        self._sweep = client.register_script(SWEEP_PARKED)
        self._last_sweep = 0.0
        self._republish = republish
        # (every s, job): sweeps other stages hand in (callbacks, misrouted tasks), and last runs
        self._periodic = list(periodic)
        self._periodic_last = [float("-inf")] * len(self._periodic)
        self._store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        self._dead = DeadLetters(client, settings.key_prefix, cap=settings.dead_letter_cap,
                                 max_age_s=settings.record_ttl_s)
        self._route_health = RouteHealth(settings, client)  # per-route delivery rate (failover)
        self._last_lost_sweep = 0.0
        self._last_reclaim = float("-inf")
        self._claim_cursor = "0-0"
        self.log = get_logger("pinrelay.correlator").bind(consumer=self.consumer)
        self.processed = 0

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, c.CONSUMER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def apply(self, entries: list[ReceiptEntry]) -> list[str]:
        """Correlate one batch and acknowledge it; return a verdict per entry."""
        if not entries:
            return []
        payloads = []
        ids = []
        for entry_id, fields in entries:
            receipt = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
            receipt["_entry"] = entry_id.decode()
            payloads.append(payload(receipt))
            ids.append(entry_id)
        ttl = max(self.settings.receipt_grace_s * 2, 60)
        bounds = [self.settings.dead_letter_cap, self.settings.parked_max]
        verdicts = self._correlate(keys=[], args=[self.prefix, f"{time.time():.3f}", ttl, *bounds, *payloads])
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.stream, c.CONSUMER_GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()
        self.processed += len(entries)
        out = []
        for raw, entry_id in zip(verdicts, ids, strict=True):
            verdict, _, lag = to_text(raw).partition(":")
            if verdict == "ambiguous":  # parked: its client-ref names several open sends
                self.log.warning("receipt_client_ref_shared", entry=entry_id.decode())
            RECEIPTS.labels(verdict=verdict).inc()
            if lag:
                RECEIPT_LAG.observe(max(0.0, float(lag)))
            out.append(verdict)
        self._route_health.record(payloads, out)
        return out

    def reclaim(self) -> list[ReceiptEntry]:
        """Entries another consumer read but never acknowledged (it died mid-batch)."""
        result = self.client.xautoclaim(
            self.stream, c.CONSUMER_GROUP, self.consumer, self.claim_idle_ms,
            start_id=self._claim_cursor, count=self.batch,
        )
        self._claim_cursor = to_text(result[0])
        return [(eid, fields) for eid, fields in result[1] if fields]

    def read(self, block_ms: int | None = None) -> list[ReceiptEntry]:
        response: Any = self.client.xreadgroup(
            c.CONSUMER_GROUP, self.consumer, {self.stream: ">"}, count=self.batch,
            block=self.block_ms if block_ms is None else block_ms,
        )
        return list(response[0][1]) if response else []

    def sweep(self, now: float | None = None) -> int:
        """Parked receipts older than the grace period become dead letters (never applied
        after that), and the dead-letter sets are trimmed to their bounds. Returns how many
        receipts were given up on."""
        moment = time.time() if now is None else now
        cutoff = moment - self.settings.receipt_grace_s
        args = [self.prefix, f"{cutoff:.3f}", SWEEP_BATCH, self.settings.dead_letter_cap]
        moved = 0
        for _ in range(SWEEP_ROUNDS):  # a backlog goes in a few calls, none holding Redis long
            done = int(self._sweep(keys=[], args=args))
            moved += done
            if done < SWEEP_BATCH:
                break
        if moved:
            self.log.warning("receipts_unmatched", count=moved)
        for kind in ("sends", "tasks"):
            if trimmed := self._dead.trim(kind, moment):
                self.log.info("dead_letters_trimmed", kind=kind, count=trimmed)
        return moved

    def run_once(self, block_ms: int | None = None) -> int:
        """Reclaim, read and apply one batch; sweep when due. Returns entries handled."""
        entries: list[ReceiptEntry] = []
        # Dead consumers' entries are looked for twice per idle period, not every batch.
        if time.monotonic() - self._last_reclaim >= self.claim_idle_ms / 2000:
            self._last_reclaim = time.monotonic()
            entries = self.reclaim()
        entries = entries or self.read(block_ms)
        verdicts = self.apply(entries)
        if time.monotonic() - self._last_sweep >= self.sweep_every_s:
            self._last_sweep = time.monotonic()
            self.sweep()
        if self._republish and time.monotonic() - self._last_lost_sweep >= c.LOST_TASK_SWEEP_S:
            self._last_lost_sweep = time.monotonic()
            self.republish_lost()
        for i, (every_s, job) in enumerate(self._periodic):
            if time.monotonic() - self._periodic_last[i] >= every_s:
                self._periodic_last[i] = time.monotonic()
                job()
        if verdicts:
            self.log.debug("receipts_correlated", count=len(verdicts))
        return len(entries)

    def republish_lost(self, now: float | None = None) -> list[str]:
        """Publish again the tasks of queued sends that nobody claimed in time.

        The broker can lose a task message (see constants.LOST_TASK_GRACE_S); the claim
        protocol makes an extra copy harmless, so republishing errs on the safe side.
        """
        if self._republish is None:
            return []
        moment = time.time() if now is None else now
        cutoff = moment - self.settings.visibility_timeout_s - c.LOST_TASK_GRACE_S
        lost = self._store.lost_tasks(cutoff, now=moment)
        if lost:
            self._republish(lost)
            self.log.warning("lost_tasks_republished", count=len(lost), request_ids=lost[:20])
        return lost

    def run(self, should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep) -> None:
        """Loop until ``should_stop()``; ride out Redis outages with capped backoff."""
        backoff = 0.1
        group_ready = False
        while not should_stop():
            try:
                if not group_ready:
                    self.ensure_group()
                    group_ready = True
                self.run_once()
                backoff = 0.1
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                self.log.warning("redis_unavailable", error=str(exc), retry_in_s=backoff)
                group_ready = False
                sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    group_ready = False
                    continue
                self.log.error("correlator_error", error=str(exc))
                sleep(backoff)
                backoff = min(backoff * 2, 5.0)
