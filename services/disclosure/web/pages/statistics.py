"""The statistics page: answers on time, late and overdue by month for each level of agency,
and for the agencies with the most records; acceptance by kind and level; drafts sent to the
Front inside and outside the criticism window. Each chart is server-drawn SVG with a title, a
description and its numbers in a table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from contracts.events import CritiqueKind, Disposition, Level
from contracts.vocabulary import DISPOSITION, KIND, LEVEL, VIETNAM
from services.disclosure import queries
from services.disclosure.web.pages import charts
from services.disclosure.web.pages.site import render
from services.platform.http import DatabasePool

router = APIRouter()
MONTHS = 12
STATUSES = (
    ("answered", "Đúng hạn / On time", charts.ON_TIME),
    ("answered_late", "Quá hạn mới trả lời / Late", charts.LATE),
    ("overdue", "Quá hạn chưa trả lời / Overdue", charts.OVERDUE),
)
DISPOSITIONS = (
    (Disposition.ACCEPTED, charts.ACCEPTED),
    (Disposition.PARTLY_ACCEPTED, charts.PARTLY),
    (Disposition.NOT_ACCEPTED, charts.NOT_ACCEPTED),
)


@dataclass(frozen=True)
class Chart:
    chart_id: str
    heading: str
    svg: Markup
    columns: list[str]
    rows: list[tuple[str, list[int]]]


def months_until(today: date, count: int = MONTHS) -> list[str]:
    """The last ``count`` months up to ``today``'s, oldest first, as "YYYY-MM"."""
    year, month = today.year, today.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{number}/{year}"


def answer_charts(stats: queries.Statistics, months: list[str]) -> list[Chart]:
    result = []
    for level in Level:
        counts = [stats.answers.get((level.value, m), {}) for m in months]
        series = [
            charts.Series(label, colour, [c.get(status, 0) for c in counts])
            for status, label, colour in STATUSES
        ]
        name = str(LEVEL[level])
        total = sum(sum(s.values) for s in series)
        description = f"{name}: {total} hồ sơ đến hạn trong {len(months)} tháng qua; " + "; ".join(
            f"{s.label}: {sum(s.values)}" for s in series
        )
        result.append(
            Chart(
                chart_id=f"answers-{level.value}",
                heading=f"Trả lời theo tháng đến hạn — {name} / Answers by month due",
                svg=charts.stacked_bars(
                    chart_id=f"answers-{level.value}",
                    title=f"Trả lời theo tháng đến hạn, {name}",
                    description=description,
                    categories=[_month_label(m) for m in months],
                    series=series,
                ),
                columns=[label for _, label, _ in STATUSES],
                rows=[
                    (_month_label(m), [c.get(status, 0) for status, _, _ in STATUSES])
                    for m, c in zip(months, counts, strict=True)
                ],
            )
        )
    return result


def agency_chart(stats: queries.Statistics) -> Chart:
    names = [name for _, name, _ in stats.agencies]
    series = [
        charts.Series(label, colour, [counts.get(status, 0) for _, _, counts in stats.agencies])
        for status, label, colour in STATUSES
    ]
    return Chart(
        chart_id="agencies",
        heading="Các cơ quan có nhiều hồ sơ nhất / The agencies with the most records",
        svg=charts.stacked_bars(
            chart_id="agencies",
            title="Trả lời của từng cơ quan",
            description=f"{len(names)} cơ quan; "
            + "; ".join(
                f"{name}: " + ", ".join(f"{s.label} {s.values[i]}" for s in series)
                for i, name in enumerate(names)
            ),
            categories=[str(i + 1) for i in range(len(names))],
            series=series,
        ),
        columns=[label for _, label, _ in STATUSES],
        rows=[
            (f"{i + 1}. {name}", [counts.get(status, 0) for status, _, _ in STATUSES])
            for i, (_, name, counts) in enumerate(stats.agencies)
        ],
    )


def acceptance_chart(stats: queries.Statistics) -> Chart:
    keys = [(kind, level) for kind in CritiqueKind for level in Level]
    labels = [f"{KIND[kind].vi} — {LEVEL[level].vi}" for kind, level in keys]
    counts = [stats.acceptance.get((kind.value, level.value), {}) for kind, level in keys]
    series = [
        charts.Series(str(DISPOSITION[d]), colour, [c.get(d.value, 0) for c in counts])
        for d, colour in DISPOSITIONS
    ]
    return Chart(
        chart_id="acceptance",
        heading="Tiếp thu theo loại văn bản và cấp / Acceptance by kind and level",
        svg=charts.stacked_bars(
            chart_id="acceptance",
            title="Tiếp thu theo loại văn bản và cấp",
            description="; ".join(
                f"{label}: " + ", ".join(f"{s.label} {s.values[i]}" for s in series)
                for i, label in enumerate(labels)
            ),
            categories=[str(i + 1) for i in range(len(keys))],
            series=series,
        ),
        columns=[s.label for s in series],
        rows=[
            (f"{i + 1}. {label}", [s.values[i] for s in series]) for i, label in enumerate(labels)
        ],
    )


def window_chart(stats: queries.Statistics) -> Chart:
    inside, outside = stats.drafts.get(False, 0), stats.drafts.get(True, 0)
    return Chart(
        chart_id="windows",
        heading="Dự thảo gửi Mặt trận trong và ngoài thời hạn / Drafts sent inside and outside"
        " the criticism window",
        svg=charts.stacked_bars(
            chart_id="windows",
            title="Dự thảo gửi Mặt trận trong và ngoài thời hạn",
            description=f"Đủ thời gian luật định: {inside}; gửi muộn: {outside}",
            categories=["Đủ thời gian / Inside", "Gửi muộn / Late"],
            series=[
                charts.Series("Dự thảo / Drafts", charts.INSIDE, [inside, 0]),
                charts.Series("Gửi muộn / Sent late", charts.OUTSIDE, [0, outside]),
            ],
        ),
        columns=["Dự thảo / Drafts"],
        rows=[("Đủ thời gian / Inside", [inside]), ("Gửi muộn / Late", [outside])],
    )


@router.get("/statistics", response_class=HTMLResponse)
async def statistics_page(pool: DatabasePool) -> HTMLResponse:
    today = datetime.now(VIETNAM).date()
    months = months_until(today)
    first = date.fromisoformat(f"{months[0]}-01")
    stats = await queries.statistics(pool, since=first)
    return render(
        "statistics.html",
        current="statistics",
        charts=[
            *answer_charts(stats, months),
            agency_chart(stats),
            acceptance_chart(stats),
            window_chart(stats),
        ],
    )
