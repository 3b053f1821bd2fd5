"""One agency's page: its scorecard as a person reads it, and its records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from contracts.disclosure_api import AgencyScorecard, Rate
from services.disclosure import queries
from services.disclosure.web.pages.markup import Bilingual, bi
from services.disclosure.web.pages.search import MAX_ID, SearchForm, cursor_position, page_of
from services.disclosure.web.pages.site import not_found, render
from services.platform.http import DatabasePool

router = APIRouter()


def _number(value: float, decimal: str) -> str:
    """At most one decimal, without a trailing zero: 2.5 is "2,5" in Vietnamese, "2.5" in
    English."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", decimal)


def _rate(rate: Rate, part: int, min_sample: int) -> Markup:
    if rate.value is None or rate.insufficient_sample:
        return Markup('{}<br><span class="sample">{}</span>').format(
            bi("không đủ mẫu", "too few cases"),
            bi(
                f"{rate.sample} hồ sơ, cần ít nhất {min_sample}",
                f"{rate.sample} of at least {min_sample} needed",
            ),
        )
    percent = rate.value * 100
    return bi(
        f"{_number(percent, ',')}% ({part} trên {rate.sample})",
        f"{_number(percent, '.')}% ({part} of {rate.sample})",
    )


@dataclass(frozen=True)
class ScoreRow:
    measure: Bilingual
    value: Markup
    note: Bilingual | None = None


def score_rows(card: AgencyScorecard) -> list[ScoreRow]:
    """The scorecard as a person reads it: counts, the median time, then the rates."""
    median = card.median_days_to_answer
    return [
        ScoreRow(("Trả lời đúng hạn", "Answered on time"), escape(card.answered_on_time)),
        ScoreRow(("Trả lời quá hạn", "Answered late"), escape(card.answered_late)),
        ScoreRow(("Quá hạn, chưa trả lời", "Overdue, no answer"), escape(card.overdue)),
        ScoreRow(
            ("Đang chờ trả lời, chưa đến hạn", "Awaiting an answer, not yet due"),
            escape(card.open),
            (
                "Chỉ công bố số lượng; nội dung được công bố khi có trả lời hoặc khi quá hạn.",
                "Only how many is public; what they say is published once answered or overdue.",
            ),
        ),
        ScoreRow(
            ("Thời gian trả lời (trung vị)", "Median time to answer"),
            bi("chưa có trả lời", "no answer yet")
            if median is None
            else bi(f"{_number(median, ',')} ngày", f"{_number(median, '.')} days"),
            ("Từ ngày gửi đến ngày trả lời", "From submission to answer"),
        ),
        ScoreRow(
            ("Tỷ lệ trả lời đúng hạn", "Share answered on time"),
            _rate(card.on_time_rate, card.answered_on_time, card.min_sample),
            ("Trên số hồ sơ đã trả lời", "Of the records answered"),
        ),
        ScoreRow(
            ("Tỷ lệ trả lời quá hạn", "Share answered late"),
            _rate(card.late_rate, card.answered_late, card.min_sample),
            ("Trên số hồ sơ đã trả lời", "Of the records answered"),
        ),
        ScoreRow(
            ("Tỷ lệ quá hạn chưa trả lời", "Share overdue with no answer"),
            _rate(card.overdue_rate, card.overdue, card.min_sample),
            (
                "Trên số hồ sơ đã trả lời hoặc đã quá hạn",
                "Of the records answered or overdue",
            ),
        ),
    ]


@router.get("/agencies/{agency_id}", response_class=HTMLResponse)
async def agency_page(
    agency_id: str, pool: DatabasePool, cursor_: Annotated[str, Query(alias="cursor")] = ""
) -> HTMLResponse:
    report = await queries.agency_report(pool, agency_id) if len(agency_id) <= MAX_ID else None
    if report is None:
        return not_found(
            ("Không có cơ quan với mã này", "No agency with this id"),
            (
                "Có thể mã cơ quan không đúng, hoặc cơ quan chưa có hồ sơ nào được công bố.",
                "The id may be wrong, or no record of this agency has been disclosed yet.",
            ),
        )
    after = cursor_position(cursor_) if cursor_ else None
    records, next_cursor = await page_of(pool, queries.RecordFilter(agency_id=agency_id), after)
    agency = report.agency
    if agency.name is None and records:  # its directory entry has not arrived yet
        agency = records[0].agency
    base = f"/agencies/{quote(agency_id, safe='')}"
    return render(
        "agency.html",
        current=None,
        agency=agency,
        records=records,
        scorecard=report.scorecard,
        score_rows=score_rows(report.scorecard),
        first_page=base if after else None,
        next_page=f"{base}?{urlencode({'cursor': next_cursor})}" if next_cursor else None,
        search_url=SearchForm(agency=agency_id).url(),
    )
