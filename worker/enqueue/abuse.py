"""Refusing SMS pumping at enqueue: per-number and per-prefix limits, and a denylist.

Checked before anything is stored, with sliding windows in Redis sorted sets, so every
producer on every host shares the same counts. A limit of 0 turns that check off. The
windows are counted by worker/lua/create.lua, in the same step that stores the sends
(:meth:`AbuseGuard.limit_args` gives the producer its part), or alone ('check' mode:
:meth:`AbuseGuard.check`, :meth:`AbuseGuard.admit`, :meth:`AbuseGuard.check_many`).

Every key (the windows and the denylist lookup) is the number's normalised E.164
form, ASCII digits without ``+`` (:func:`number_key`), so no other spelling of a
number can get its own, fresh count. A refusal carries its window and the seconds
until the oldest counted send leaves it (:class:`worker.errors.AbuseLimitError`).
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import redis

from worker import constants as c
from worker.config import Settings
from worker.errors import AbuseLimitError, StoreUnavailableError
from worker.guard.decide import GUARD_RULES, GuardPlan, GuardSend, refusal
from worker.masking import mask_number
from worker.records.creation import CREATE_CHECK, CREATE_CHUNK, Created
from worker.records.store import RecordStore
from worker.text import to_text

# limit -> (its sliding window in ms, which key it counts on: "number" or "prefix")
_WINDOWS_MS: Final = {"number_day": (86_400_000, "number"), "number_10min": (600_000, "number"),
                      "prefix_minute": (60_000, "prefix")}

_MESSAGES = {
    "denylist": "is on the denylist",
    "number_day": "too many PINs to this number today",
    "number_10min": "too many PINs to this number in 10 minutes",
    "prefix_minute": "too many PINs to this number's NPA-NXX range in a minute",
}


def number_key(number: str) -> str:
    """``+16365553226`` in fullwidth digits -> ``16365553226``: the spelling limits and denylist use.

    Any Unicode decimal digit becomes its ASCII digit and a leading ``+`` goes, so even a
    caller that skipped :func:`worker.enqueue.request.validate_number` cannot open a new
    window with another spelling of a counted or denied number.
    """
    text = number.strip().removeprefix("+")
    if text.isascii():
        return text  # an ASCII character is its own spelling
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None else ch
                   for ch in text)


def number_prefix(number: str) -> str:
    """NANP ``1NPANXXXXXX`` -> ``1NPANXX``; elsewhere the first 7 digits."""
    return number[:7]


class AbuseGuard:
    DENYLIST_REFRESH_S = 5.0  # the denylist is read at most this often per process

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._denylist: frozenset[str] = frozenset()
        self._denylist_read_at = float("-inf")
        self._settings = settings
        self._client = client
        self._prefix = settings.key_prefix
        self._store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        self.plan = GuardPlan.from_settings(settings)  # the pumping guard: always on (worker/guard/)

    def check(self, number: str, *, country: str = "", origin: str | None = None,
              judged: bool = False) -> None:
        """Raise :class:`AbuseLimitError` if ``number`` may not get a PIN now; else count it
        (the limits and the pumping guard's quotas, for ``origin``: default the producer's)."""
        self.check_many([number], name_items=False, countries=[country], origin=origin,
                        judged=[judged])

    def guard_args(self, origin: str | None, sends: Sequence[GuardSend]) -> list[str | int]:
        """The pumping guard's part of a CREATE call for ``sends`` (worker/guard/decide.py)."""
        return self.plan.args(origin or self._settings.producer_id, sends)

    def log_blocks(self, answer: Created) -> None:
        """Log each block the guard made in a CREATE step (``guard_block`` / ``guard_would_block``)
        and a prefix guard that failed open (``guard_fail_open``): every path that runs CREATE
        with the guard calls this."""
        if not answer.blocks:
            return
        from worker.logs import get_logger

        log = get_logger("pinrelay.guard")
        for kind, prefix, judged, converted in answer.blocks:
            if kind == "fail_open":  # ``prefix`` holds Redis's error: the sends went ahead
                log.error("guard_fail_open", error=prefix, mode=self.plan.mode)
                continue
            log.warning(f"guard_{kind}", prefix=prefix, judged_sends=judged, conversions=converted,
                        mode=self.plan.mode)

    def raise_refused(self, answer: Created, sends: Sequence[GuardSend], offset: int = 0,
                      name_items: bool = True) -> None:
        """Raise the refusal CREATE answered (send ``offset + answer.index``), if any."""
        if answer.refused:
            index = offset + answer.index
            send = sends[index]
            self.refuse(send.number, answer.refused, index if name_items else None,
                        retry_ms=answer.retry_ms, country=send.country)

    def admit(self, number: str, repeat_key: str = "") -> str | None:
        """:meth:`check` and the idempotency lookup in one round trip, for a single send.

        ``repeat_key`` is the Redis key of the caller's idempotency key ("" for none). If it
        already stands for a request, that request's id is returned and nothing is counted
        (an idempotent repeat spends no limit, and an earlier request stands even if its
        number was denied since); otherwise None once ``number`` is counted.
        """
        number = number_key(number)
        try:
            if self.denied(number):
                earlier = self._earlier(repeat_key)
                if earlier is not None:
                    return earlier
                self.refuse(number, "denylist")
            sends = [GuardSend(number, "", False)]
            answer = self._store.create_chunk(self._store.create_call(
                [(repeat_key, number)], limits=self.limit_args(), guard=self.guard_args(None, sends),
                mode=CREATE_CHECK))
            self.raise_refused(answer, sends, name_items=False)
            self.log_blocks(answer)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot check the sending limits: {exc}") from exc
        return answer.ids[0] or None

    def check_many(self, numbers: Sequence[str], repeat_keys: Sequence[str] | None = None, *,
                   name_items: bool = True, countries: Sequence[str] | None = None,
                   origin: str | None = None, judged: Sequence[bool] | None = None) -> None:
        """:meth:`check` for a batch, :data:`CREATE_CHUNK` numbers per call; raises for the first
        refused number.

        ``repeat_keys`` (the Redis keys of the items' idempotency keys, "" for none) lets an
        item that repeats an earlier request, or an earlier item, pass without counting.
        Numbers before a refusal have been counted against their limits although the batch
        as a whole is refused (nothing is stored): the cautious side for SMS pumping. With
        ``name_items`` the error names the refused item's index.
        """
        numbers = [number_key(n) for n in numbers]
        keys = list(repeat_keys) if repeat_keys is not None else [""] * len(numbers)
        countries = countries or [""] * len(numbers)
        judged = judged or [False] * len(numbers)
        sends = [GuardSend(n, countries[i], bool(judged[i])) for i, n in enumerate(numbers)]
        try:
            self.screen(numbers, name_items=name_items)
            items, seen = [], set()  # an item whose key an earlier item used is a repeat
            for index, key in enumerate(keys):
                if not key or key not in seen:
                    items.append(index)
                    seen.add(key)
            for start in range(0, len(items), CREATE_CHUNK):
                chunk = items[start : start + CREATE_CHUNK]
                pairs = [(keys[i], numbers[i]) for i in chunk]
                answer = self._store.create_chunk(self._store.create_call(
                    pairs, limits=self.limit_args(), guard=self.guard_args(origin, [sends[i] for i in chunk]),
                    mode=CREATE_CHECK))
                if answer.refused:
                    index = chunk[answer.index]
                    self.refuse(numbers[index], answer.refused, index if name_items else None,
                                retry_ms=answer.retry_ms, country=sends[index].country)
                self.log_blocks(answer)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot check the sending limits: {exc}") from exc

    def screen(self, numbers: Sequence[str], *, name_items: bool = True) -> None:
        """Refuse the first denied number of ``numbers`` (normalised, :func:`number_key`):
        the denylist is checked here, in Python, before any window is counted."""
        if not self._current_denylist():
            return
        for index, number in enumerate(numbers):
            if self.denied(number):
                self.refuse(number, "denylist", index if name_items else None)

    def limit_args(self, now_ms: int | None = None) -> list[str | int]:
        """The limits' part of a CREATE call (worker/lua/create.lua); a limit of 0 is off.

        Each call gets its own member stem: a counted send is ``stem + index``, so two sends
        are never one member of a window (the pumping guard's prefix windows use it too).
        """
        s = self._settings
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return [now, os.urandom(8).hex(), s.per_number_10min, s.per_number_day, s.per_prefix_minute,
                f"{self._prefix}{c.KEY_ABUSE_NUMBER}", f"{self._prefix}{c.KEY_ABUSE_PREFIX}"]

    def _earlier(self, repeat_key: str) -> str | None:
        found: Any = self._client.get(repeat_key) if repeat_key else None
        return None if found is None else to_text(found)

    def refuse(self, number: str, limit: str, index: int | None = None, *, retry_ms: float = -1,
               country: str = "") -> NoReturn:
        """Count the refusal and raise its :class:`AbuseLimitError` (naming item ``index``); a
        pumping guard rule's refusal (already counted by the script) raises its own subclass."""
        if limit in GUARD_RULES:
            guard_error = refusal(self.plan, limit, number, country, retry_ms)
            raise guard_error if index is None else guard_error.for_item(index)
        self._count(f"refused_{limit}")
        window_ms = _WINDOWS_MS.get(limit, (None, ""))[0]
        error = AbuseLimitError(
            "to", f"{mask_number(number)!r}: {_MESSAGES[limit]}", limit=limit,
            window_s=None if window_ms is None else window_ms / 1000,
            retry_after_s=self._retry_after(number, limit),
        )
        raise error if index is None else error.for_item(index)

    def _retry_after(self, number: str, limit: str) -> float | None:
        """Seconds until enough counted sends leave ``limit``'s window for one more (None: never)."""
        if limit not in _WINDOWS_MS:
            return None
        window_ms, counted_on = _WINDOWS_MS[limit]
        s = self._settings
        cap = {"number_day": s.per_number_day, "number_10min": s.per_number_10min,
               "prefix_minute": s.per_prefix_minute}[limit]
        key = (f"{self._prefix}{c.KEY_ABUSE_NUMBER}{number}" if counted_on == "number"
               else f"{self._prefix}{c.KEY_ABUSE_PREFIX}{number_prefix(number)}")
        now_ms = time.time() * 1000
        scores = [score for _, score in
                  self._client.zrangebyscore(key, now_ms - window_ms, "+inf", withscores=True)]
        must_leave = len(scores) - cap + 1  # counted sends that must age out first
        if must_leave <= 0 or must_leave > len(scores):
            return window_ms / 1000
        return max(0.0, (float(scores[must_leave - 1]) + window_ms - now_ms) / 1000)

    def denied(self, number: str) -> bool:
        """Whether ``number`` (normalised) or its prefix is on the (cached) denylist."""
        denylist = self._current_denylist()
        return bool(denylist) and (
            number in denylist or number_prefix(number) in denylist or number[:4] in denylist
        )

    def _current_denylist(self) -> frozenset[str]:
        """The shared denylist, cached briefly so a send costs no extra round trip."""
        now = time.monotonic()
        if now - self._denylist_read_at >= self.DENYLIST_REFRESH_S:
            members: Any = self._client.smembers(f"{self._prefix}{c.KEY_DENYLIST}")
            self._denylist = frozenset(m.decode() for m in members)
            self._denylist_read_at = now
        return self._denylist

    def _count(self, what: str) -> None:
        self._client.hincrby(f"{self._prefix}{c.KEY_STATS}", what, 1)

    def deny(self, *entries: str) -> None:
        """Add numbers or prefixes (e.g. ``1900``, ``1876555``) to the denylist."""
        if entries:
            self._client.sadd(f"{self._prefix}{c.KEY_DENYLIST}", *(number_key(e) for e in entries))
            self._denylist_read_at = float("-inf")
