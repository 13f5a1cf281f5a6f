"""The HTML page of `pinrelay report --html`: the text report plus matplotlib plots.

Kept apart from :mod:`worker.report.summary` so the text report never imports matplotlib;
the page is self-contained (PNG plots embedded as base64, inline CSS).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Final

from worker.errors import ConfigError
from worker.report.summary import ERR_CODES, HEADLINE, Summary
from worker.states import FINAL_STATES, State


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


def render_html(summary: Summary, title: str, text: str) -> str:
    figures = "".join(f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{data}">'
                      f"<figcaption>{html.escape(cap)}</figcaption></figure>"
                      for cap, data in render_plots(summary))  # fmt: skip
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>pinrelay report</title><style>{_CSS}</style></head><body>"
        f"<h1>pinrelay report</h1><pre>{html.escape(text)}</pre>"
        f"<section class='plots'>{figures}</section></body></html>\n"
    )


_CSS: Final = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
    "pre{background:#f6f8fa;padding:12px;border-radius:6px;font-size:13px;overflow:auto}"
    ".plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#555}"
    "img{max-width:100%}"
)
