"""What `pinrelay report` counts: outcome rates, latencies and breakdowns over the send records in Redis.

Reads every record hash (``{prefix}req:*``) created in the window with SCAN and
pipelined HMGETs (never KEYS, so a busy Redis is not blocked), then prints:

* the share of sends in each state (``delivered`` ... ``unconfirmed``, and the
  ones still in flight);
* p50/p90/p99 of enqueue -> submitted and submitted -> receipt;
* per network (MCCMNC from the receipt) and per receipt err-code;
* the conversion rate: the share of sends reported to the provider as used
  (``conversion_status`` ``reported``, i.e. ``delivered=true``, docs/provider-api.md §6).

``--html FILE`` also writes one self-contained page (tables and PNG plots
embedded as base64, no external asset) for a ticket or a post-mortem; ``--json``
prints the same figures for machines (:mod:`worker.report.data`).
Records live ``PINRELAY_RECORD_TTL`` (7 days by default), so that is the
longest window there is.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from worker import constants as c
from worker.guard.keys import PREFIX_TAIL_DIGITS
from worker.states import State

FIELDS: Final = ("state", "created_at", "submitted_at", "receipt_at", "network", "err_code",
                 "receipt_status", "provider_status", "conversion_status", "to", "guard_judged",
                 "guard_converted")
CONVERTED: Final = "reported"  # conversion_status of a send reported with delivered=true
PROGRESS_EVERY: Final = 10_000  # records between two progress lines while scanning
# Shown even at zero, in this order; any other state follows when present.
HEADLINE: Final = ("delivered", "failed", "expired", "rejected", "unknown", "error", "unconfirmed")
QUANTILES: Final = (50, 90, 99)
SCAN_BATCH: Final = 1000  # keys per SCAN step and per HMGET pipeline
DEFAULT_SINCE: Final = "24h"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPAN: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
ERR_CODES: Final = {  # docs/provider-api.md section 4, DLR err-code
    "0": "Delivered", "1": "Unknown", "2": "Absent subscriber (temporary)",
    "3": "Absent subscriber (permanent)", "4": "Call barred by user", "5": "Portability error",
    "6": "Anti-spam rejection", "7": "Handset busy", "8": "Network error", "9": "Illegal number",
    "10": "Illegal message", "11": "Unroutable", "12": "Destination unreachable",
    "13": "Subscriber age restriction", "14": "Number blocked by carrier",
    "15": "Pre-paid insufficient funds", "16": "Gateway quota exceeded", "50": "Entity filter",
    "51": "Header filter", "52": "Content filter", "53": "Consent filter", "54": "Regulation error",
    "99": "General error",
}


def parse_since(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``2d``, ``1w``, ``1h30m`` -> seconds; ``all`` -> infinity."""
    spec = text.strip().lower()
    if spec == "all":
        return float("inf")
    if not spec or _SPAN.sub("", spec):
        raise argparse.ArgumentTypeError(f"--since {text!r}: use e.g. 90s, 15m, 1h, 2d, 1h30m or all")
    return sum(float(n) * _UNITS[unit] for n, unit in _SPAN.findall(spec))


@dataclass(frozen=True, slots=True)
class Row:
    """The fields of one record the report needs (times in unix seconds, None when unset)."""

    state: str
    created: float | None
    submitted: float | None
    receipt: float | None
    network: str
    err_code: str
    provider_status: str
    conversion_status: str = ""
    to: str = ""  # E.164 digits: its prefix and country for the guard's figures
    judged: bool = False  # the guard judged it (its conversion is known to pinrelay)
    guard_converted: bool = False

    @property
    def converted(self) -> bool:
        """Reported used to the provider, or counted as converted by the guard."""
        return self.conversion_status == CONVERTED or self.guard_converted


@dataclass
class Summary:
    total: int = 0
    states: Counter[str] = field(default_factory=Counter)
    to_submit: list[float] = field(default_factory=list)
    to_receipt: list[float] = field(default_factory=list)
    by_network: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_err_code: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_provider_status: Counter[str] = field(default_factory=Counter)  # of error/unconfirmed sends
    created: list[tuple[float, str]] = field(default_factory=list)  # for the plot over time
    converted: int = 0  # sends reported to the provider as used (delivered=true)
    # prefix (the number without its last four digits) -> [sends, judged, converted], and one
    # number of it (its country), for the guard's figures (worker/report/guard.py)
    by_prefix: dict[str, list[int]] = field(default_factory=dict)
    prefix_sample: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.total += 1
        if row.conversion_status == CONVERTED:
            self.converted += 1
        if len(row.to) > PREFIX_TAIL_DIGITS:
            prefix = row.to[:-PREFIX_TAIL_DIGITS]
            counts = self.by_prefix.get(prefix)
            if counts is None:
                counts = self.by_prefix[prefix] = [0, 0, 0]
                self.prefix_sample[prefix] = row.to
            counts[0] += 1
            counts[1] += row.judged
            counts[2] += row.converted
        self.states[row.state] += 1
        if row.created is not None:
            self.created.append((row.created, row.state))
            if row.submitted is not None:
                self.to_submit.append(max(0.0, row.submitted - row.created))
        if row.submitted is not None and row.receipt is not None:
            self.to_receipt.append(max(0.0, row.receipt - row.submitted))
        if row.receipt is not None or row.network:
            self.by_network[row.network or "?"][row.state] += 1
        if row.err_code:
            self.by_err_code[row.err_code][row.state] += 1
        if row.state in (State.ERROR, State.UNCONFIRMED):
            self.by_provider_status[row.provider_status or "none"] += 1

    def rate(self, state: str) -> float:
        return self.states[state] / self.total if self.total else 0.0

    @property
    def conversion_rate(self) -> float:
        return self.converted / self.total if self.total else 0.0

    def ordered_states(self) -> list[str]:
        others = [s.value for s in State if s.value not in HEADLINE and self.states[s.value]]
        unknown = sorted(s for s in self.states if s not in HEADLINE and s not in others)
        return [*HEADLINE, *others, *unknown]


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _num(value: bytes | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def scan_rows(client: Any, prefix: str, since_ts: float,
              progress: Callable[[int], None] | None = None) -> Iterator[Row]:
    """Every record created at or after ``since_ts`` (SCAN + pipelined HMGET, in batches).

    ``progress`` is called with the number of records read so far every
    :data:`PROGRESS_EVERY` records, so a long scan shows that it is moving.
    """
    pattern = f"{_glob_escape(prefix)}{c.KEY_RECORD}*"
    batch: list[bytes] = []
    scanned = 0
    for key in client.scan_iter(match=pattern, count=SCAN_BATCH):
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            yield from _fetch(client, batch, since_ts)
            scanned += len(batch)
            batch = []
            if progress is not None and scanned % PROGRESS_EVERY == 0:
                progress(scanned)
    yield from _fetch(client, batch, since_ts)


def _fetch(client: Any, keys: list[bytes], since_ts: float) -> Iterator[Row]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, FIELDS)
    for values in pipe.execute() if keys else ():
        (state, created, submitted, receipt, network, err_code, _, provider_status, conversion, to, judged,
         guard_converted) = values
        if state is None:  # expired between SCAN and HMGET
            continue
        created_ts = _num(created)
        if created_ts is not None and created_ts < since_ts:
            continue
        yield Row(state.decode(), created_ts, _num(submitted), _num(receipt),
                  (network or b"").decode(), (err_code or b"").decode(),
                  (provider_status or b"").decode(), (conversion or b"").decode(), (to or b"").decode(),
                  judged == b"1", bool(guard_converted))


def summarize(rows: Iterable[Row]) -> Summary:
    summary = Summary()
    for row in rows:
        summary.add(row)
    return summary
