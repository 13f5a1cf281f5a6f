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
import base64
import html
import io
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from . import constants as c
from .config import Settings
from .errors import ConfigError
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


def _figure(title: str, xlabel: str, ylabel: str = "") -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_plots(summary: Summary) -> list[tuple[str, str]]:
    """(caption, base64 PNG) per plot; matplotlib's Agg backend, no display needed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    except ImportError:
        raise ConfigError("--html needs matplotlib (pip install matplotlib)") from None
    plots: list[tuple[str, str]] = []
    states = [s for s in summary.ordered_states() if summary.states[s] or s in HEADLINE][::-1]
    fig, ax = _figure("outcome of every send in the window", "sends")
    ax.barh(states, [summary.states[s] for s in states], color="#4c78a8")
    plots.append(("Outcomes", _png(fig)))
    fig, ax = _figure("latency, cumulative", "milliseconds (log)", "share of sends")
    for name, values in (("enqueue -> submitted", summary.to_submit),
                         ("submitted -> receipt", summary.to_receipt)):  # fmt: skip
        ordered = sorted(max(v * 1000, 0.1) for v in values)
        ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name)
    if summary.to_submit or summary.to_receipt:
        ax.set_xscale("log")
        ax.legend(loc="lower right")
    plots.append(("Latency (cumulative distribution)", _png(fig)))
    if summary.created:
        fig, ax = _figure("sends over time, by outcome", "created (UTC)", "sends")
        # matplotlib date numbers are days since its epoch, 1970-01-01 UTC by default
        groups = {name: [t / 86400 for t, s in summary.created if _group(s) == name] for name in _GROUPS}
        ax.hist(list(groups.values()), bins=min(60, max(5, len(summary.created) // 5)),
                stacked=True, label=list(groups), color=list(_GROUPS.values()))  # fmt: skip
        # matplotlib's stubs leave these two constructors unannotated
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.legend(fontsize=8)
        plots.append(("Sends over time", _png(fig)))
    if summary.by_err_code:
        fig, ax = _figure("receipts by err-code", "", "receipts (log)")
        codes = sorted(summary.by_err_code, key=lambda k: -summary.by_err_code[k].total())[:12]
        # err-codes come from receipts: escape '$' so matplotlib never parses them as math
        ax.bar([f"{k}\n{ERR_CODES.get(k, '?')[:14]}".replace("$", r"\$") for k in codes],
               [summary.by_err_code[k].total() for k in codes], color="#e45756")  # fmt: skip
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=7)
        plots.append(("Receipts by err-code", _png(fig)))
    return plots


_GROUPS: Final = {"delivered": "#54a24b", "not delivered": "#e45756", "error/unconfirmed": "#b279a2",
                  "in flight": "#bab0ac"}  # fmt: skip


def _group(state: str) -> str:
    if state == State.DELIVERED:
        return "delivered"
    if state in (State.ERROR, State.UNCONFIRMED, State.EXPIRED_BEFORE_SEND):
        return "error/unconfirmed"
    return "not delivered" if state in FINAL_STATES else "in flight"


def render_html(summary: Summary, title: str) -> str:
    figures = "".join(f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{data}">'
                      f"<figcaption>{html.escape(cap)}</figcaption></figure>"
                      for cap, data in render_plots(summary))  # fmt: skip
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>pinrelay report</title><style>{_CSS}</style></head><body>"
        f"<h1>pinrelay report</h1><pre>{html.escape(render_text(summary, title))}</pre>"
        f"<section class='plots'>{figures}</section></body></html>\n"
    )


_CSS: Final = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
    "pre{background:#f6f8fa;padding:12px;border-radius:6px;font-size:13px;overflow:auto}"
    ".plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#555}"
    "img{max-width:100%}"
)


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
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(render_html(summary, title))
        print(f"\nHTML report written to {args.html}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m worker.report``: the same as ``pinrelay report``."""
    import sys

    parser = argparse.ArgumentParser(prog="pinrelay report", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, Settings.from_env())
    except ConfigError as exc:
        print(f"pinrelay report: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
