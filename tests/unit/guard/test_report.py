"""The pumping-guard section of `pinrelay report`: by country, top prefixes, refusals by rule."""

from __future__ import annotations

from worker.report.guard import country_of, guard_html, guard_rows, refusal_rows, render_guard_text
from worker.report.summary import Row, summarize


def row(to: str, *, judged: bool = True, converted: bool = False, reported: bool = False) -> Row:
    return Row("delivered", 1.0, 2.0, 3.0, "", "", "", "reported" if reported else "", to, judged, converted)


def rows() -> list[Row]:
    pumped = [row(f"1900555{i:04d}") for i in range(30)]  # +1 900: US, never converts
    honest = [row(f"1636555{i:04d}", converted=i % 4 != 0) for i in range(20)]  # 75% converted
    canada = [row(f"1604555{i:04d}", judged=False, reported=i < 2) for i in range(5)]
    return pumped + honest + canada


def test_countries_and_the_busiest_prefixes_with_their_conversion() -> None:
    data = guard_rows(summarize(rows()), {}, top=2)
    assert data["countries"] == [
        {"country": "US", "sends": 50, "judged": 50, "converted": 15, "conversion_rate": 0.3},
        {"country": "CA", "sends": 5, "judged": 0, "converted": 2, "conversion_rate": 0.4}]
    assert data["prefixes"] == [
        {"prefix": "1900555", "sends": 30, "judged": 30, "converted": 0, "conversion_rate": 0.0,
         "country": "US"},
        {"prefix": "1636555", "sends": 20, "judged": 20, "converted": 15, "conversion_rate": 0.75,
         "country": "US"}]
    assert data["prefixes_total"] == 3


def test_refusals_by_rule_from_the_stats_counters() -> None:
    stats = {b"guard:key_hourly:enforce": b"12", b"guard:prefix_would_block:monitor": b"40",
             b"refused_number_10min": b"3", b"guard:sent:US": b"99", b"state:delivered": b"7",
             b"guard:nonsense:enforce": b"5"}
    assert refusal_rows(stats) == [
        {"rule": "prefix_would_block", "mode": "monitor", "count": 40},
        {"rule": "key_hourly", "mode": "enforce", "count": 12},
        {"rule": "number_10min", "mode": "limit", "count": 3}]


def test_the_text_and_the_page_show_the_same_rows() -> None:
    data = guard_rows(summarize(rows()), {b"guard:spend_cap:enforce": b"4"}, top=10)
    text = render_guard_text(data)
    assert "conversion by country" in text and "top 3 of 3 prefixes" in text
    assert "  1900555                     30      30          0        0.0%  US" in text
    assert "  spend_cap                enforce       4" in text
    page = guard_html("<html><body><p>x</p></body></html>", data)
    assert "<table id='guard-prefixes'>" in page and "<td>1636555</td>" in page
    assert page.index("guard-refusals") < page.index("</body>")


def test_no_refusal_says_none_and_a_number_without_a_region_is_unknown() -> None:
    assert "  none" in render_guard_text(guard_rows(summarize([]), {}))
    assert country_of("999") == "??" and country_of("16045553226") == "CA"
    assert country_of("447400123456") == "GB"
