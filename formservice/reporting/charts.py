"""Charts drawn server-side as SVG (no JavaScript): a bar chart of one or two series over
labelled columns. Each chart is an image with a title for screen readers; the page shows the
same numbers in a table next to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, BOTTOM, TOP = 40, 36, 12


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    css_class: str  # the bar colour, from the stylesheet (e.g. "chart__bar--a")


def _ticks(top: int) -> list[int]:
    """About four round gridline values from 0 to ``top``."""
    if top <= 0:
        return [0]
    step = 1
    while top / step > 4:
        step *= 5 if str(step).startswith("2") else 2
    return list(range(0, top + 1, step))


def bar_chart(
    key: str, title: str, labels: Sequence[str], series: Sequence[Series], *, every: int = 1
) -> Markup:
    """Grouped bars, one group per label; ``key``: unique in the page (the title's id);
    ``every``: label one column in ``every``."""
    top = max((v for s in series for v in s.values), default=0)
    ticks = _ticks(top)
    scale_top = max(ticks[-1], top, 1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-{escape(key)}"'
        ' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f'<title id="chart-{escape(key)}">{escape(title)}</title>',
    ]
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / scale_top
        parts.append(f'<line class="chart__grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="chart__axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    for i, label in enumerate(labels):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / scale_top
            parts.append(
                f'<rect class="{escape(s.css_class)}" x="{x0 + j * bar_w:.1f}" y="{TOP + plot_h - h:.1f}"'
                f' width="{bar_w:.1f}" height="{h:.1f}"/>'
            )
        if i % every == 0:
            x = x0 + bar_w * len(series) / 2
            parts.append(
                f'<text class="chart__axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}"'
                f' text-anchor="middle">{escape(label)}</text>'
            )
    legend_x = LEFT
    for s in series:
        parts.append(
            f'<rect class="{escape(s.css_class)}" x="{legend_x}" y="{HEIGHT - 12}" width="10" height="10"/>'
        )
        parts.append(
            f'<text class="chart__axis" x="{legend_x + 14}" y="{HEIGHT - 3}">{escape(s.name)}</text>'
        )
        legend_x += 14 + 8 * len(s.name) + 16
    parts.append("</svg>")
    return Markup("".join(parts))
