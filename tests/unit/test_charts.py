"""The statistics page's charts (services.disclosure.web.pages.charts): well-formed SVG that
names itself for screen readers and labels every bar with its number."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

from services.disclosure.web.pages.charts import Series, stacked_bars
from services.disclosure.web.pages.statistics import months_until

SVG = "{http://www.w3.org/2000/svg}"


def test_a_stacked_bar_chart_is_svg_with_a_title_a_description_and_every_number() -> None:
    svg = stacked_bars(
        chart_id="c",
        title="Trả lời <theo> tháng",
        description="Tổng 7 & 2",
        categories=["01/2027", "02/2027"],
        series=[Series("Đúng hạn", "#1b6e3a", [5, 0]), Series("Quá hạn", "#b3261e", [2, 3])],
    )
    root = ElementTree.fromstring(str(svg))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.findtext(f"{SVG}title") == "Trả lời <theo> tháng"
    assert root.findtext(f"{SVG}desc") == "Tổng 7 & 2"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"5", "2", "7", "3", "01/2027", "02/2027", "Đúng hạn", "Quá hạn"} <= set(texts)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [b.findtext(f"{SVG}title") for b in bars] == [
        "01/2027: Đúng hạn 5",
        "01/2027: Quá hạn 2",
        "02/2027: Quá hạn 3",
    ]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] > heights[2] > heights[1], "bars scale with their values"


def test_an_empty_chart_still_draws() -> None:
    svg = stacked_bars(chart_id="e", title="t", description="d", categories=[], series=[])
    assert ElementTree.fromstring(str(svg)).tag == f"{SVG}svg"


def test_the_months_counted_are_the_last_twelve_up_to_this_one() -> None:
    months = months_until(date(2027, 2, 14))
    assert months[0] == "2026-03"
    assert months[-1] == "2027-02"
    assert len(months) == 12
