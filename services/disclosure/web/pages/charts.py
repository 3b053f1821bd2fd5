"""Charts people read at a glance, drawn on the server as SVG: no script, every bar labelled
with its number, a title and a description for screen readers (``role="img"``), and the same
numbers in a table beside each chart. Pure: numbers in, markup out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
BAR_AREA = 220
LEFT = 56
TOP = 16
BOTTOM = 64


@dataclass(frozen=True)
class Series:
    """One kind of bar: its label, its colour (chosen for contrast on white, and told apart by
    their order and labels too, not by colour alone) and one value per category."""

    label: str
    colour: str
    values: Sequence[int]


ON_TIME = "#1b6e3a"
LATE = "#9a5b00"
OVERDUE = "#b3261e"
ACCEPTED = "#1b6e3a"
PARTLY = "#35608f"
NOT_ACCEPTED = "#b3261e"
INSIDE = "#1b6e3a"
OUTSIDE = "#b3261e"


def stacked_bars(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
) -> Markup:
    """Bars stacked per category; the total above each, each segment's number inside it when
    it fits."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = max([*totals, 1])
    slot = (WIDTH - LEFT - 16) / max(len(categories), 1)
    bar = min(48.0, slot * 0.7)
    height = TOP + BAR_AREA + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + BAR_AREA}" x2="{WIDTH - 8}" y2="{TOP + BAR_AREA}"'
        ' stroke="#444" stroke-width="1"/>',
    ]
    for index, category in enumerate(categories):
        x = LEFT + index * slot + (slot - bar) / 2
        y: float = TOP + BAR_AREA
        for s in series:
            value = s.values[index]
            if not value:
                continue
            h = BAR_AREA * value / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{s.colour}"><title>{escape(category)}: {escape(s.label)} {value}</title>'
                "</rect>"
            )
            if h >= 14:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle"'
                    f' font-size="11" fill="#fff">{value}</text>'
                )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11"'
            f' fill="#222">{totals[index]}</text>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{TOP + BAR_AREA + 16}" text-anchor="middle"'
            f' font-size="11" fill="#222">{escape(category)}</text>'
        )
    legend_x = LEFT
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 22}" width="12" height="12" fill="{s.colour}"/>'
            f'<text x="{legend_x + 16}" y="{height - 12}" font-size="11" fill="#222">'
            f"{escape(s.label)}</text>"
        )
        legend_x += 18 + 7 * len(s.label)
    parts.append("</svg>")
    # Every text in it went through escape(); the rest is numbers and our own attributes.
    return Markup("".join(parts))  # noqa: S704
