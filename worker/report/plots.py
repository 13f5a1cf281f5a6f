"""The PNG plots of `pinrelay report --html`, drawn with matplotlib's Agg backend (no display).

matplotlib is optional (``pip install 'pinrelay[report]'``): only this module imports
it, and :func:`require_matplotlib` says which extra to install before anything is
scanned. Colours follow the meaning of each outcome (:data:`COLOURS`), the same as
the page's tables; time axes are UTC dates and latencies read in ms and s.
"""

from __future__ import annotations

import base64
import io
import textwrap
from typing import Any, Final

from worker.errors import ConfigError
from worker.report.data import MEANING_TEXT, err_code_label, meaning, state_rows
from worker.report.summary import Summary

COLOURS: Final = {"good": "#2e7d32", "bad": "#c62828", "doubt": "#f2a900", "in_flight": "#9e9e9e"}
INSTALL_HINT: Final = "pip install 'pinrelay[report]'"


def require_matplotlib() -> None:
    """Raise :class:`ConfigError` naming the extra to install when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"report --html needs matplotlib: {INSTALL_HINT}") from None
    matplotlib.use("Agg")


def _figure(title: str, xlabel: str, ylabel: str = "", height: float = 3.2) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, height))
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _duration(seconds: float, _pos: object = None) -> str:
    """A latency tick: ``5 ms``, ``250 ms``, ``1.5 s``, ``2 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1000:.1f} ms"
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def _safe(text: str) -> str:
    """Receipt values are data: escape '$' so matplotlib never reads them as math."""
    return text.replace("$", r"\$")


def render_plots(summary: Summary) -> list[tuple[str, str]]:
    """(caption, base64 PNG) per plot."""
    require_matplotlib()
    plots = [("Outcome of every send", _outcomes(summary)), ("Latency", _latency(summary))]
    if summary.created:
        plots.append(("Sends over time (UTC)", _over_time(summary)))
    if summary.by_err_code:
        plots.append(("Receipts by err-code", _err_codes(summary)))
    return plots


def _outcomes(summary: Summary) -> str:
    rows = state_rows(summary)[::-1]
    fig, ax = _figure("outcome of every send in the window", "sends")
    ax.barh([r["state"] for r in rows], [r["count"] for r in rows],
            color=[COLOURS[r["meaning"]] for r in rows])
    return _png(fig)


def _latency(summary: Summary) -> str:
    from matplotlib.ticker import FuncFormatter

    fig, ax = _figure("latency, cumulative", "time taken (log scale)", "share of sends")
    for name, values in (("enqueue -> submitted", summary.to_submit),
                         ("submitted -> receipt", summary.to_receipt)):
        ordered = sorted(max(v, 0.0001) for v in values)
        ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name)
    if summary.to_submit or summary.to_receipt:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_duration))
        ax.legend(loc="lower right")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    return _png(fig)


def _over_time(summary: Summary) -> str:
    from datetime import UTC, datetime

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DateFormatter

    times = [t for t, _ in summary.created]
    first, span = min(times), max(times) - min(times)
    day = f"{datetime.fromtimestamp(first, UTC):%Y-%m-%d}"
    xlabel = f"created (UTC, {day})" if span < 86400 else "created (UTC)"
    fig, ax = _figure("sends over time, by outcome", xlabel, "sends")
    # matplotlib date numbers are days since its epoch, 1970-01-01 UTC by default
    groups = {key: [t / 86400 for t, state in summary.created if meaning(state) == key] for key in COLOURS}
    ax.hist(list(groups.values()), bins=min(60, max(5, len(summary.created) // 5)), stacked=True,
            label=[MEANING_TEXT[key] for key in groups], color=list(COLOURS.values()))
    # matplotlib's stubs leave these constructors unannotated
    locator = AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    if span < 120:  # a short run: tenths of a second, or every tick would read the same
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(_clock_tenths))
    elif span < 86400:  # clock times read better than ConciseDateFormatter's bare seconds
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if span < 3600 else "%H:%M"))  # type: ignore[no-untyped-call]
    else:
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8)
    return _png(fig)


def _clock_tenths(days: float, _pos: object = None) -> str:
    """A matplotlib date number (days since 1970, UTC) as ``HH:MM:SS.t``."""
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(days * 86400, UTC)
    return f"{at:%H:%M:%S}.{at.microsecond // 100_000}"


def _err_codes(summary: Summary) -> str:
    codes = sorted(summary.by_err_code, key=lambda k: (-summary.by_err_code[k].total(), k))[:12][::-1]
    fig, ax = _figure("receipts by err-code", "receipts", height=max(2.4, 0.45 * len(codes) + 1))
    labels = [_safe(textwrap.shorten(f"{code}: {err_code_label(code)}", 48)) for code in codes]
    colours = [COLOURS["good"] if code == "0" else COLOURS["bad"] for code in codes]
    ax.barh(labels, [summary.by_err_code[code].total() for code in codes], color=colours)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)
