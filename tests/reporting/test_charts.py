"""The server-drawn SVG charts: well-formed, titled for screen readers, bars proportional."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from formservice.reporting.charts import Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_a_chart_is_valid_svg_with_a_title_and_proportional_bars() -> None:
    svg = bar_chart("k", "Dépôts <par> jour", ["1/10", "2/10", "3/10"], [Series("Déposés", [2, 4, 0], "bar")])
    root = ET.fromstring(str(svg))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-k"
    title = root.find(f"{SVG}title")
    assert (
        title is not None and title.text == "Dépôts <par> jour"
    )  # escaped in the markup, intact once parsed
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("width") != "10"]  # not the legend's square
    heights = [float(r.get("height") or 0) for r in bars]
    assert heights[1] == 2 * heights[0] and heights[2] == 0


def test_an_empty_chart_still_draws() -> None:
    root = ET.fromstring(str(bar_chart("e", "Rien", [], [Series("x", [], "bar")])))
    assert root.tag == f"{SVG}svg"
