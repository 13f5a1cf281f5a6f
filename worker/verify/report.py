"""The verify section of ``pinrelay report``: outcomes, conversion rate, time to approval.

The conversion rate (approved of ended verifications) is the figure Verify users watch
first, so it leads, overall and by the route and network of the deciding send (the
approved one, else the last one sent). Read from the verification records themselves
(SCAN + pipelined reads), so it covers exactly the window of the rest of the report.
Empty (no text at all) when the window holds no verification.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from worker import constants as c
from worker.stats import percentile
from worker.text import to_text
from worker.verify.store import send_ids

__all__ = ["VerifySummary", "summarize_verifications", "render_verify_text", "add_verify_section",
           "verify_as_dict"]

ENDED: Final = ("approved", "expired", "locked")
_BATCH: Final = 500


@dataclass
class VerifySummary:
    states: Counter[str] = field(default_factory=Counter)
    to_approval: list[float] = field(default_factory=list)
    by_route: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_network: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def total(self) -> int:
        return sum(self.states.values())

    @property
    def ended(self) -> int:
        return sum(self.states[s] for s in ENDED)

    def conversion_rate(self) -> float | None:
        return self.states["approved"] / self.ended if self.ended else None


def _rows(client: Any, prefix: str, since_ts: float) -> Iterator[dict[str, str]]:
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", f"{prefix}{c.KEY_VERIFICATION}") + "*"
    keys = list(client.scan_iter(match=pattern, count=_BATCH))
    for start in range(0, len(keys), _BATCH):
        pipe = client.pipeline(transaction=False)
        for key in keys[start:start + _BATCH]:
            pipe.hgetall(key)
        for raw in pipe.execute():
            row = {to_text(k): to_text(v) for k, v in raw.items()}
            if row.get("state") and float(row.get("created_at") or 0) >= since_ts:
                yield row


def summarize_verifications(client: Any, prefix: str, since_ts: float) -> VerifySummary:
    """Outcomes of the verifications created at or after ``since_ts``, with their deciding sends."""
    summary = VerifySummary()
    rows = list(_rows(client, prefix, since_ts))
    deciding = []
    for row in rows:
        summary.states[row["state"]] += 1
        if row["state"] == "approved" and row.get("approved_at"):
            summary.to_approval.append(max(0.0, float(row["approved_at"]) - float(row["created_at"])))
        sends = dict(send_ids(row))
        chosen = sends.get(int(row.get("approved_send") or 0)) or (sends[max(sends)] if sends else None)
        deciding.append((row["state"], chosen))
    pipe = client.pipeline(transaction=False)
    for _, request_id in deciding:
        pipe.hmget(f"{prefix}{c.KEY_RECORD}{request_id or '-'}", ["route", "network"])
    for (state, _), (route, network) in zip(deciding, pipe.execute() if deciding else [], strict=True):
        if state in ENDED:
            summary.by_route[to_text(route) if route else "sc2fa"][state] += 1
            summary.by_network[to_text(network) if network else "?"][state] += 1
    return summary


def _rate(counts: Counter[str]) -> str:
    ended = sum(counts[s] for s in ENDED)
    return f"{counts['approved']:>5}/{ended:<5} {100 * counts['approved'] / ended:5.1f}%" if ended else "-"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render_verify_text(summary: VerifySummary) -> str:
    """The section as text (the HTML report shows the same lines); "" without verifications."""
    if not summary.total:
        return ""
    rate = summary.conversion_rate()
    lines = ["", f"verifications: {summary.total}, conversion rate "
                 f"{'-' if rate is None else f'{100 * rate:.1f}%'} ({summary.states['approved']} approved "
                 f"of {summary.ended} ended)"]
    for state in ("approved", "expired", "locked", "pending"):
        lines.append(f"  {state:<18} {summary.states[state]:>6}")
    times = summary.to_approval
    lines.append(f"  start->approval    p50 {_s(percentile(times, 50))}  p90 {_s(percentile(times, 90))}"
                 f"  p99 {_s(percentile(times, 99))}")
    for title, groups in (("route", summary.by_route), ("network", summary.by_network)):
        if groups:
            lines.append(f"conversion by {title:<8}  approved/ended  rate")
            lines += [f"  {name:<18} {_rate(groups[name])}" for name in sorted(groups)]
    return "\n".join(lines) + "\n"


def add_verify_section(page: str, summary: VerifySummary) -> str:
    """The HTML report ``page`` with the section (conversion rate first) before ``</body>``."""
    text = render_verify_text(summary)
    if not text or "</body>" not in page:
        return page
    rate = summary.conversion_rate()
    shown = "-" if rate is None else f"{100 * rate:.1f}%"
    section = (f"<section class='verify'><h2>Verify: conversion rate {html.escape(shown)}</h2>"
               f"<pre>{html.escape(text.strip())}</pre></section>")
    head, _, tail = page.rpartition("</body>")
    return f"{head}{section}</body>{tail}"


def verify_as_dict(summary: VerifySummary) -> dict[str, object]:
    """The section's figures as JSON-ready data (for a JSON report)."""
    times = summary.to_approval
    return {
        "total": summary.total,
        "states": dict(summary.states),
        "conversion_rate": summary.conversion_rate(),
        "start_to_approval_s": {f"p{p}": percentile(times, p) for p in (50, 90, 99)},
        "by_route": {k: dict(v) for k, v in summary.by_route.items()},
        "by_network": {k: dict(v) for k, v in summary.by_network.items()},
    }
