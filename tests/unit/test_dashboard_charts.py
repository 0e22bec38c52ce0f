"""The dashboard's SVG charts and figure formatting: pure functions, checked as text and as parsed XML."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest

from sms_rt_airflow.dashboard import charts
from sms_rt_airflow.dashboard.formatting import amount, count, label, minutes, points, pvalue, rate, raw, when
from sms_rt_airflow.dashboard.pages import Links, calendar


def parse(svg: str) -> ET.Element:
    """The chart as XML (it must be well-formed to render inline), with its marks."""
    return ET.fromstring(svg)


def marks(svg: str) -> list[ET.Element]:
    return [e for e in parse(svg).iter() if "mark" in (e.get("class") or "").split()]


def test_hbars_draw_one_mark_per_figure_scaled_to_the_largest_and_skip_missing_ones() -> None:
    svg = charts.hbars([("a", 10), ("b", 5), ("missing", None), ("nan", math.nan)], label="Clicks")
    root = parse(svg)
    assert root.get("data-chart") == "hbars" and root.get("data-points") == "2"
    bars = marks(svg)
    assert [(b.get("data-label"), float(b.get("data-value") or 0)) for b in bars] == [("a", 10.0), ("b", 5.0)]
    widths = [float(b.get("width") or 0) for b in bars]
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert [t.text for b in bars for t in b.iter("title")] == ["a: 10", "b: 5"]


def test_labels_are_escaped_not_markup() -> None:
    svg = charts.hbars([('<script>alert("x")</script>', 1)], label="A & B <b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert parse(svg).find("title").text == "A & B <b>"  # type: ignore[union-attr]


@pytest.mark.parametrize("chart", [
    lambda: charts.hbars([], label="x"), lambda: charts.funnel([], label="x"), lambda: charts.columns([], label="x"),
    lambda: charts.lines([], [], label="x"), lambda: charts.intervals([("r", None, None, None)], label="x"),
    lambda: charts.funnel([("Sent to", 0)], label="x"),
])
def test_a_chart_without_data_says_so(chart: object) -> None:
    svg = chart()  # type: ignore[operator]
    assert parse(svg).get("data-points") == "0" and "No data yet" in svg and not marks(svg)


def test_funnel_widths_and_shares_are_relative_to_the_first_stage() -> None:
    svg = charts.funnel([("Sent to", 200), ("Delivered", 180), ("Clicked", 50)], label="Funnel")
    bars = marks(svg)
    widths = [float(b.get("width") or 0) for b in bars]
    assert widths[1] / widths[0] == pytest.approx(0.9) and widths[2] / widths[0] == pytest.approx(0.25)
    assert "180 · 90.0 %" in svg and "50 · 25.0 %" in svg


def test_axis_ends_on_round_steps() -> None:
    assert charts.nice_ceiling(7) == 10 and charts.nice_ceiling(0.23) == pytest.approx(0.25)
    assert charts.nice_ceiling(0) == 1 and charts.nice_ceiling(1000) == 1000
    assert charts.axis_top(35) == 40 and charts.axis_top(680) == 800 and charts.axis_top(0.3) == pytest.approx(0.4)
    svg = charts.columns([("0–5 min", 10), ("5–15 min", 35)], label="Timing")
    ticks = re.findall(r'text-anchor="end" [^>]*>([^<]+)</text>', svg)
    assert ticks == ["0", "10", "20", "30", "40"]


def test_columns_heights_are_proportional_to_the_figures() -> None:
    svg = charts.columns([("a", 20), ("b", 40)], label="Columns")
    heights = [float(m.get("height") or 0) for m in marks(svg)]
    assert heights[1] == pytest.approx(2 * heights[0])


def test_lines_break_at_a_missing_value_and_mark_every_known_one() -> None:
    svg = charts.lines(["d1", "d2", "d3", "d4", "d5"], [("Responses", [1, 2, None, 4, 5]), ("Opt-outs", [0, 0, 0, 0, 1])],
                       label="Days")
    assert parse(svg).get("data-points") == "9"
    assert svg.count("<polyline") == 3  # responses in two pieces, opt-outs in one
    assert "Responses" in svg and "Opt-outs" in svg


def test_sparkline_draws_every_day_and_marks_the_latest() -> None:
    svg = charts.sparkline([3, 0, 7], label="Trend")
    assert parse(svg).get("data-points") == "3"
    (latest,) = marks(svg)
    assert latest.get("data-value") == "7.0"


def test_intervals_put_zero_in_the_middle_and_colour_by_significance() -> None:
    svg = charts.intervals([("response rate", 0.2, 0.1, 0.3), ("conversion rate", 0.02, -0.01, 0.05)], label="Lift")
    root = parse(svg)
    zero = next(e for e in root.iter("line") if e.get("stroke-dasharray"))
    dots = marks(svg)
    assert float(dots[0].get("cx") or 0) > float(zero.get("x1") or 0)
    assert dots[0].get("fill") == charts.PALETTE[2] and dots[1].get("fill") == charts.PALETTE[5]
    assert "+20.0 pp (+10.0 pp to +30.0 pp)" in svg


def test_charts_reference_nothing_outside_the_page() -> None:
    svgs = [charts.hbars([("https://shop.example/sale", 3)], label="Links"), charts.sparkline([1, 2], label="t"),
            charts.lines(["a", "b"], [("s", [1, 2])], label="l"), charts.columns([("a", 1)], label="c"),
            charts.funnel([("a", 2), ("b", 1)], label="f"), charts.intervals([("r", 0.1, 0.0, 0.2)], label="i")]
    for svg in svgs:
        assert not re.search(r'(?:href|src)\s*=', svg) and "xmlns" not in svg and "<script" not in svg


def test_figures_read_as_counts_percentages_and_instants_in_utc() -> None:
    assert count(1234567) == "1,234,567" and count(None) == "—" and count(math.nan) == "—"
    assert rate(0.1234) == "12.3 %" and rate(None) == "—" and rate(0) == "0.0 %"
    assert points(0.052) == "+5.2 pp" and points(-0.01) == "-1.0 pp"
    assert amount(4765.98) == "4,765.98" and amount(300) == "300"
    assert minutes(12) == "12 min" and minutes(90) == "1.5 h" and minutes(3000) == "2.1 d"
    assert when(datetime(2026, 11, 20, 9, 5, 59, tzinfo=UTC)) == "2026-11-20 09:05 UTC"
    assert raw(None) == "" and raw(0.1) == "0.1" and raw(date(2026, 11, 20)) == "2026-11-20"
    assert pvalue("0.26558391827") == "0.266" and pvalue(None) == "—"
    assert label("sample_passed") == "sample passed" and label(None) == "—"


def test_calendar_fills_days_without_activity_with_zeros() -> None:
    rows = [{"day": date(2026, 11, 20), "responses": 5}, {"day": date(2026, 11, 23), "responses": 2}]
    days = calendar(rows, ("responses",))
    assert [d["day"].day for d in days] == [20, 21, 22, 23] and [d["responses"] for d in days] == [5, 0, 0, 2]
    assert calendar([], ("responses",)) == []


def test_links_quote_names_and_stay_under_the_mount_prefix() -> None:
    links = Links("/sms-rt")
    assert links.mailing("A/B?x") == "/sms-rt/mailings/A%2FB%3Fx"
    assert links.mailing("M", "inbox") == "/sms-rt/mailings/M/inbox" and links.home() == "/sms-rt/"
    assert links.validation(7) == "/sms-rt/health/validations/7"
