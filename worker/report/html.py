"""The HTML page of `pinrelay report --html`: the report's tables, coloured by meaning, and its plots.

Built from :mod:`worker.report.data` (the rows ``--json`` prints too), so the page
and the JSON agree; plots come from :mod:`worker.report.plots` (matplotlib, the
``report`` extra). The page is self-contained: inline CSS, PNGs embedded as base64,
no script and no external asset, so it can be attached to a ticket. Every value that
came from a receipt is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from worker.report.data import (
    CARRIER_NOTE,
    MEANING_TEXT,
    err_code_rows,
    latency_rows,
    network_rows,
    state_rows,
)
from worker.report.plots import COLOURS, render_plots
from worker.report.summary import Summary


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _ms(value: float | None) -> str:
    if value is None:
        return "&ndash;"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _table(table_id: str, caption: str, head: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]],
           numeric: Collection[int] = ()) -> str:
    """A ``<table>``; each row is (CSS class, cells already escaped); the ``numeric`` columns are
    right-aligned figures."""
    def cls(i: int) -> str:
        return " class='num'" if i in numeric else ""

    ths = "".join(f"<th scope='col'{cls(i)}>{_esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(f"<tr class='{row_cls}'>"
                   + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(cells)) + "</tr>"
                   for row_cls, cells in rows)
    if not body:
        body = f"<tr><td colspan='{len(head)}' class='empty'>none in this window</td></tr>"
    return (f"<table id='{table_id}'><caption>{_esc(caption)}</caption><thead><tr>{ths}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _badge(meaning: str, text: str) -> str:
    return f"<span class='badge m-{meaning}'>{_esc(text)}</span>"


def _cards(summary: Summary) -> str:
    receipt_p50 = latency_rows(summary)[1]["p50_ms"]
    cards = [("sends", str(summary.total), "in_flight"),
             ("delivered", _pct(summary.rate("delivered")), "good"),
             ("failed or rejected", _pct(summary.rate("failed") + summary.rate("rejected")), "bad"),
             ("error or unconfirmed", _pct(summary.rate("error") + summary.rate("unconfirmed")), "bad"),
             ("conversion rate", _pct(summary.conversion_rate), "good"),
             ("receipt p50", _ms(receipt_p50), "in_flight")]
    return "<div class='cards'>" + "".join(
        f"<div class='card m-{m}' data-kpi='{_esc(label)}'><div class='v'>{_esc(value)}</div>"
        f"<div class='l'>{_esc(label)}</div></div>" for label, value, m in cards) + "</div>"


def _tables(summary: Summary) -> str:
    states = _table("states", "Outcomes: every send in the window, by state",
                    ("state", "sends", "share", "meaning"),
                    ((f"m-{r['meaning']}", [_badge(r["meaning"], r["state"]), str(r["count"]),
                                            _pct(r["rate"]), _esc(MEANING_TEXT[r["meaning"]])])
                     for r in state_rows(summary)), numeric=(1, 2))
    latency = _table("latency", "Latency (nearest-rank percentiles)",
                     ("stage", "sends", "p50", "p90", "p99", "max"),
                     (("", [_esc(r["stage"]), str(r["n"]), _ms(r["p50_ms"]), _ms(r["p90_ms"]),
                            _ms(r["p99_ms"]), _ms(r["max_ms"])]) for r in latency_rows(summary)),
                     numeric=(1, 2, 3, 4, 5))
    networks = _table("networks", "Receipts by network",
                      ("network (MCCMNC)", "carrier", "receipts", "delivered", "failed", "expired",
                       "rejected", "unknown"),
                      (("", [f"<code>{_esc(r['network'])}</code>", "n/a<sup>1</sup>", str(r["receipts"]),
                             _pct(r["delivered_rate"]), str(r["failed"]), str(r["expired"]),
                             str(r["rejected"]), str(r["unknown"])]) for r in network_rows(summary)),
                      numeric=(2, 3, 4, 5, 6, 7))
    codes = _table("err-codes", "Receipts by err-code (docs/provider-api.md §4)",
                   ("err-code", "meaning", "receipts", "share", "ended as"),
                   (("m-good" if r["err_code"] == "0" else "m-bad",
                     [f"<code>{_esc(r['err_code'])}</code>", _esc(r["meaning"]), str(r["count"]),
                      _pct(r["share"]), _esc(", ".join(f"{s} {n}" for s, n in r["states"].items()))])
                    for r in err_code_rows(summary)), numeric=(2, 3))
    failed = _table("provider-status", "Sends that ended error or unconfirmed, by provider status",
                    ("provider status", "sends"),
                    (("m-bad", [f"<code>{_esc(k)}</code>", str(n)])
                     for k, n in summary.by_provider_status.most_common()), numeric=(1,))
    return (f"<section><h2>Outcomes</h2>{states}</section><section><h2>Latency</h2>{latency}</section>"
            f"<section><h2>Networks</h2>{networks}</section><section><h2>Receipt err-codes</h2>{codes}"
            f"</section><section><h2>Failed sends</h2>{failed}</section>")


def _legend() -> str:
    return "<p class='legend'>" + " ".join(
        f"<span class='swatch' style='background:{COLOURS[m]}'></span>{_esc(text)}"
        for m, text in MEANING_TEXT.items()) + "</p>"


def render_html(summary: Summary, title: str, text: str = "", *, generated_at: float | None = None) -> str:
    """The whole page; ``text`` (the terminal report) is kept for callers of the old signature."""
    del text  # the page shows real tables now, not the terminal text
    figures = "".join(f"<figure><img alt='{_esc(cap)}' src='data:image/png;base64,{data}'>"
                      f"<figcaption>{_esc(cap)}</figcaption></figure>"
                      for cap, data in render_plots(summary))
    at = datetime.fromtimestamp(generated_at, UTC) if generated_at is not None else datetime.now(UTC)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>pinrelay report</title><style>{_CSS}</style></head><body>"
        f"<header><h1>pinrelay report</h1><p class='subtitle'>{_esc(title)}</p></header>"
        f"{_cards(summary)}{_legend()}{_tables(summary)}"
        f"<section class='plots'><h2>Plots</h2><div class='figs'>{figures}</div></section>"
        f"<footer><p><sup>1</sup> {_esc(CARRIER_NOTE)}</p>"
        f"<p>Generated {at:%Y-%m-%d %H:%M:%S} UTC by <code>pinrelay report</code>; "
        "the same figures as JSON: <code>pinrelay report --json</code>.</p></footer>"
        "</body></html>\n"
    )


def _meaning_css() -> str:
    tint: dict[str, Any] = {"good": "#e8f5e9", "bad": "#ffebee", "doubt": "#fff8e1", "in_flight": "#f5f5f5"}
    return "".join(f".badge.m-{m}{{background:{c};color:#fff}}.card.m-{m}{{border-top:4px solid {c}}}"
                   f"tr.m-{m} td{{background:{tint[m]}}}" for m, c in COLOURS.items())


_CSS: Final = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;"
    "max-width:1200px}h1{margin:0}h2{font-size:17px;margin:22px 0 8px}.subtitle{color:#555;margin:4px 0}"
    "table{border-collapse:collapse;font-size:13px;min-width:420px}caption{text-align:left;"
    "font-size:12px;color:#555;padding:4px 0}th,td{padding:5px 10px;border-bottom:1px solid #ddd;"
    "text-align:left}th{background:#fafafa}.num{text-align:right;font-variant-numeric:tabular-nums}"
    "td.empty{color:#888;font-style:italic}.badge{border-radius:10px;padding:1px 8px;font-size:12px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:#fafafa;padding:10px 14px;"
    "border-radius:6px;min-width:130px}.card .v{font-size:22px;font-weight:600}.card .l{font-size:12px;"
    "color:#555}.legend{font-size:12px;color:#555}.swatch{display:inline-block;width:10px;height:10px;"
    "margin:0 4px 0 10px;border-radius:2px}.figs{display:flex;flex-wrap:wrap;gap:16px}"
    "figure{margin:0;flex:0 1 580px}figcaption{font-size:12px;color:#555}img{width:100%}"
    "footer{margin-top:24px;font-size:12px;color:#555}code{font-size:12px}"
    + _meaning_css()
    + ".badge.m-doubt{color:#222}"
)
