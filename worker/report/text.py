"""The terminal form of `pinrelay report`: fixed-width tables of one :class:`Summary`.

Apart from :mod:`worker.report.summary` (what is counted) so the counting can be
shown in other forms (:mod:`worker.report.html`) without this layout.
"""

from __future__ import annotations

from worker.report.summary import ERR_CODES, HEADLINE, QUANTILES, Summary
from worker.states import FINAL_STATES
from worker.stats import percentile

_NETWORK_COLUMNS = (("failed", 8), ("expired", 9), ("rejected", 10), ("unknown", 9))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def latency_rows(summary: Summary) -> list[tuple[str, int, list[str]]]:
    return [(name, len(values), [_ms(percentile(values, q)) for q in (*QUANTILES, 100)])
            for name, values in (("enqueue -> submitted", summary.to_submit),
                                 ("submitted -> receipt", summary.to_receipt))]


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
                  f"{'rejected':>10}{'unknown':>9}"]
    for network, states in sorted(summary.by_network.items(), key=lambda kv: -kv[1].total()):
        total = states.total()
        counts = "".join(f"{states[s]:>{w}}" for s, w in _NETWORK_COLUMNS)
        lines.append(f"  {network:<10}{total:>9}{states['delivered'] / total:>11.1%}{counts}")
    lines += ["", f"{'err-code':<10}{'count':>7}{'share':>8}  meaning (states)"]
    receipts = sum(s.total() for s in summary.by_err_code.values()) or 1
    for code, states in sorted(summary.by_err_code.items(), key=lambda kv: -kv[1].total()):
        shown = ", ".join(f"{s} {n}" for s, n in states.most_common())
        lines.append(f"  {code:<8}{states.total():>7}{states.total() / receipts:>8.1%}  "
                     f"{ERR_CODES.get(code, 'undocumented')} ({shown})")
    lines += ["", f"conversion rate: {summary.conversion_rate:.1%} "
                  f"({summary.converted} of {summary.total} sends reported used)"]
    if summary.by_provider_status:
        lines += ["", "provider status of error/unconfirmed sends: "
                  + ", ".join(f"{k}: {n}" for k, n in summary.by_provider_status.most_common())]
    return "\n".join(lines) + "\n"


