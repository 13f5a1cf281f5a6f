"""`pinrelay report`: outcome rates, latencies and breakdowns over the send records in Redis.

Reads every record hash (``{prefix}req:*``) created in the window with SCAN and
pipelined HMGETs (never KEYS, so a busy Redis is not blocked), then prints:

* the share of sends in each state (``delivered`` ... ``unconfirmed``, and the
  ones still in flight);
* p50/p90/p99 of enqueue -> submitted and submitted -> receipt;
* per network (MCCMNC from the receipt) and per receipt err-code.

``--html FILE`` also writes one self-contained page (tables and PNG plots
embedded as base64, no external asset) for a ticket or a post-mortem.
Records live ``PINRELAY_RECORD_TTL`` (7 days by default), so that is the
longest window there is.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from . import constants as c
from .config import Settings
from .states import FINAL_STATES, State

FIELDS: Final = ("state", "created_at", "submitted_at", "receipt_at", "network", "err_code",
                 "receipt_status", "provider_status")  # fmt: skip
# Shown even at zero, in this order; any other state follows when present.
HEADLINE: Final = ("delivered", "failed", "expired", "rejected", "unknown", "error", "unconfirmed")
QUANTILES: Final = (50, 90, 99)
_NETWORK_COLUMNS: Final = (("failed", 8), ("expired", 9), ("rejected", 10), ("unknown", 9))
SCAN_BATCH: Final = 1000  # keys per SCAN step and per HMGET pipeline
DEFAULT_SINCE: Final = "24h"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPAN: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
ERR_CODES: Final = {  # API.md section 4, DLR err-code
    "0": "Delivered", "1": "Unknown", "2": "Absent subscriber (temporary)",
    "3": "Absent subscriber (permanent)", "4": "Call barred by user", "5": "Portability error",
    "6": "Anti-spam rejection", "7": "Handset busy", "8": "Network error", "9": "Illegal number",
    "10": "Illegal message", "11": "Unroutable", "12": "Destination unreachable",
    "13": "Subscriber age restriction", "14": "Number blocked by carrier",
    "15": "Pre-paid insufficient funds", "16": "Gateway quota exceeded", "99": "General error",
}  # fmt: skip


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

    def add(self, row: Row) -> None:
        self.total += 1
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

    def ordered_states(self) -> list[str]:
        others = [s.value for s in State if s.value not in HEADLINE and self.states[s.value]]
        unknown = sorted(s for s in self.states if s not in HEADLINE and s not in others)
        return [*HEADLINE, *others, *unknown]


def quantile(values: Sequence[float], pct: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _num(value: bytes | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def scan_rows(client: Any, prefix: str, since_ts: float) -> Iterator[Row]:
    """Every record created at or after ``since_ts`` (SCAN + pipelined HMGET, in batches)."""
    pattern = f"{_glob_escape(prefix)}{c.KEY_RECORD}*"
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=SCAN_BATCH):
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            yield from _fetch(client, batch, since_ts)
            batch = []
    yield from _fetch(client, batch, since_ts)


def _fetch(client: Any, keys: list[bytes], since_ts: float) -> Iterator[Row]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, FIELDS)
    for values in pipe.execute() if keys else ():
        state, created, submitted, receipt, network, err_code, _, provider_status = values
        if state is None:  # expired between SCAN and HMGET
            continue
        created_ts = _num(created)
        if created_ts is not None and created_ts < since_ts:
            continue
        yield Row(state.decode(), created_ts, _num(submitted), _num(receipt),
                  (network or b"").decode(), (err_code or b"").decode(),
                  (provider_status or b"").decode())  # fmt: skip


def summarize(rows: Iterable[Row]) -> Summary:
    summary = Summary()
    for row in rows:
        summary.add(row)
    return summary


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def latency_rows(summary: Summary) -> list[tuple[str, int, list[str]]]:
    return [(name, len(values), [_ms(quantile(values, q)) for q in (*QUANTILES, 100)])
            for name, values in (("enqueue -> submitted", summary.to_submit),
                                 ("submitted -> receipt", summary.to_receipt))]  # fmt: skip


def render_text(summary: Summary, title: str) -> str:
    lines = [title, "", f"{'state':<22}{'count':>8}{'rate':>9}"]
    for state in summary.ordered_states():
        final = "" if state in FINAL_STATES or state in HEADLINE else "  (in flight)"
        lines.append(f"  {state:<20}{summary.states[state]:>8}{summary.rate(state):>9.1%}{final}")
    lines += [f"  {'total':<20}{summary.total:>8}", "",
              f"{'latency':<24}{'n':>6}" + "".join(f"{h:>10}" for h in ("p50", "p90", "p99", "max"))]
    for name, n, cells in latency_rows(summary):
        lines.append(f"  {name:<22}{n:>6}" + "".join(f"{cell:>10}" for cell in cells))
    lines += ["", f"{'network':<12}{'receipts':>9}{'delivered':>11}{'failed':>8}{'expired':>9}"
                  f"{'rejected':>10}{'unknown':>9}"]  # fmt: skip
    for network, states in sorted(summary.by_network.items(), key=lambda kv: -kv[1].total()):
        total = states.total()
        counts = "".join(f"{states[s]:>{w}}" for s, w in _NETWORK_COLUMNS)
        lines.append(f"  {network:<10}{total:>9}{states['delivered'] / total:>11.1%}{counts}")
    lines += ["", f"{'err-code':<10}{'count':>7}{'share':>8}  meaning (states)"]
    receipts = sum(s.total() for s in summary.by_err_code.values()) or 1
    for code, states in sorted(summary.by_err_code.items(), key=lambda kv: -kv[1].total()):
        shown = ", ".join(f"{s} {n}" for s, n in states.most_common())
        lines.append(f"  {code:<8}{states.total():>7}{states.total() / receipts:>8.1%}  "
                     f"{ERR_CODES.get(code, 'undocumented')} ({shown})")  # fmt: skip
    if summary.by_provider_status:
        lines += ["", "provider status of error/unconfirmed sends: "
                  + ", ".join(f"{k}: {n}" for k, n in summary.by_provider_status.most_common())]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=parse_since, default=parse_since(DEFAULT_SINCE), metavar="SPAN",
                        help=f"records created within SPAN, e.g. 15m, 1h, 2d, all (default {DEFAULT_SINCE})")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with plots")


def run(args: argparse.Namespace, settings: Settings, client: Any = None) -> int:
    """Print the report (and write ``--html``); 0 even for an empty window."""
    from .runtime import require_redis
    from .services import redis_client

    settings = require_redis(settings)
    client = client or redis_client(settings.redis_url or "")
    now = time.time()
    since_ts = now - args.since if args.since != float("inf") else 0.0
    summary = summarize(scan_rows(client, settings.key_prefix, since_ts))
    window = "all records" if since_ts == 0.0 else (
        f"created since {datetime.fromtimestamp(since_ts, UTC):%Y-%m-%d %H:%M:%S} UTC")
    at = datetime.fromtimestamp(now, UTC)
    title = (f"pinrelay report: {summary.total} sends {window} "
             f"(prefix {settings.key_prefix!r}, at {at:%H:%M:%S} UTC)")
    print(render_text(summary, title), end="")
    if args.html:
        from .report_html import render_html

        with open(args.html, "w", encoding="utf-8") as out:
            out.write(render_html(summary, title, render_text(summary, title)))
        print(f"\nHTML report written to {args.html}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m worker.report``: exactly ``pinrelay report`` (one place handles errors)."""
    from .cli import main as cli_main

    return cli_main(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
