"""The pumping-guard section of ``pinrelay report``: conversion by country and prefix, refusals by rule.

Pumping shows as volume to a few prefixes (or a country) that never converts, so the section
lists, for the sends of the report's window, each country and the top prefixes by volume with
their sends, judged sends (those whose conversion pinrelay learns: verifications, and sends
with ``expect_conversion``), conversions and conversion rate (conversions per send). A prefix
is the number without its last four digits; its country comes from one of its numbers
(phonenumbers). The refusals come from the ``stats`` counters (``guard:<rule>:<mode>``, and
the per-number limits' ``refused_<limit>``), which count from the deployment's start, not
over the window: the section says so.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final

import phonenumbers

from worker import constants as c
from worker.guard import keys as k
from worker.report.summary import Summary
from worker.text import to_text

__all__ = ["guard_rows", "render_guard_text", "guard_html", "refusal_rows", "read_stats", "DEFAULT_TOP"]

DEFAULT_TOP: Final = 10
UNKNOWN_COUNTRY: Final = "??"


def country_of(number: str) -> str:
    """The ISO region of an E.164 number (digits), or ``??``."""
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return UNKNOWN_COUNTRY
    region = phonenumbers.region_code_for_number(parsed) or \
        phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return region if region and region != "ZZ" else UNKNOWN_COUNTRY


def _row(name: str, value: str, counts: Sequence[int]) -> dict[str, Any]:
    sends, judged, converted = counts
    return {name: value, "sends": sends, "judged": judged, "converted": converted,
            "conversion_rate": round(converted / sends, 4) if sends else None}


def refusal_rows(stats: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """Refusals (and monitor-mode would-blocks, fail-opens) by rule and mode, most first."""
    rows = []
    for raw_name, raw_value in stats.items():
        name, count = to_text(raw_name), int(float(to_text(raw_value)))
        rule, _, mode = name.removeprefix(k.STATS_GUARD).partition(":")
        if name.startswith(k.STATS_GUARD) and rule in k.RULES and mode in k.MODES:
            rows.append({"rule": rule, "mode": mode, "count": count})
        elif name.startswith("refused_"):
            rows.append({"rule": name.removeprefix("refused_"), "mode": "limit", "count": count})
    return sorted(rows, key=lambda r: (-r["count"], r["rule"], r["mode"]))


def guard_rows(summary: Summary, stats: Mapping[Any, Any], *, top: int = DEFAULT_TOP) -> dict[str, Any]:
    """The section as data (``--json``'s ``guard``): ``countries``, ``prefixes`` (the ``top`` by
    sends) and ``refusals``."""
    countries: dict[str, list[int]] = {}
    country_by_prefix = {prefix: country_of(sample) for prefix, sample in summary.prefix_sample.items()}
    for prefix, counts in summary.by_prefix.items():
        total = countries.setdefault(country_by_prefix[prefix], [0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n
    busiest = sorted(summary.by_prefix.items(), key=lambda kv: (-kv[1][0], kv[0]))[:max(0, top)]
    return {
        "countries": [_row("country", cc, n)
                      for cc, n in sorted(countries.items(), key=lambda kv: (-kv[1][0], kv[0]))],
        "prefixes": [{**_row("prefix", p, n), "country": country_by_prefix[p]} for p, n in busiest],
        "prefixes_total": len(summary.by_prefix),
        "refusals": refusal_rows(stats),
        "refusals_since": "the deployment's start (stats counters)",
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_guard_text(data: Mapping[str, Any]) -> str:
    """The section as text: by country, the top prefixes, the refusals."""
    head = f"{'sends':>8}{'judged':>8}{'converted':>11}{'conversion':>12}"

    def figures(r: Mapping[str, Any]) -> str:
        return f"{r['sends']:>8}{r['judged']:>8}{r['converted']:>11}{_pct(r['conversion_rate']):>12}"

    lines = ["", f"{'conversion by country':<24}{head}"]
    lines += [f"  {r['country']:<22}{figures(r)}" for r in data["countries"]]
    title = f"top {len(data['prefixes'])} of {data['prefixes_total']} prefixes"
    lines += ["", f"{title:<24}{head}  country"]
    lines += [f"  {r['prefix']:<22}{figures(r)}  {r['country']}" for r in data["prefixes"]]
    lines += ["", f"{'refusals by rule':<24}{'mode':>10}{'count':>8}   (all time)"]
    lines += [f"  {r['rule']:<22}{r['mode']:>10}{r['count']:>8}" for r in data["refusals"]] or ["  none"]
    return "\n".join(lines) + "\n"


def _table(table_id: str, caption: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    ths = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
                   for row in rows) or f"<tr><td colspan='{len(head)}' class='empty'>none</td></tr>"
    return (f"<table id='{table_id}'><caption>{html.escape(caption)}</caption><thead><tr>{ths}</tr>"
            f"</thead><tbody>{body}</tbody></table>")


def guard_html(page: str, data: Mapping[str, Any]) -> str:
    """The HTML report ``page`` with the section's three tables before ``</body>``."""
    if "</body>" not in page:
        return page
    cols = ("sends", "judged", "converted", "conversion")

    def cells(r: Mapping[str, Any]) -> list[object]:
        return [r["sends"], r["judged"], r["converted"], _pct(r["conversion_rate"])]

    section = (
        "<section class='guard'><h2>Pumping guard</h2>"
        + _table("guard-countries", "Conversion by country (sends in the window)", ("country", *cols),
                 [[r["country"], *cells(r)] for r in data["countries"]])
        + _table("guard-prefixes", f"Top prefixes by sends ({len(data['prefixes'])} of "
                 f"{data['prefixes_total']})", ("prefix", "country", *cols),
                 [[r["prefix"], r["country"], *cells(r)] for r in data["prefixes"]])
        + _table("guard-refusals", "Refusals by rule, since the deployment's start",
                 ("rule", "mode", "count"), [[r["rule"], r["mode"], r["count"]] for r in data["refusals"]])
        + "</section>")
    head, _, tail = page.rpartition("</body>")
    return f"{head}{section}</body>{tail}"


def read_stats(client: Any, prefix: str) -> Mapping[Any, Any]:
    stats: Any = client.hgetall(prefix + c.KEY_STATS)
    return dict(stats)
