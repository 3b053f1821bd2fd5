"""Disclosure's public web pages, rendered on the server for citizens and journalists.

What the JSON API serves, for people: the latest and the overdue records, a search with the
API's filters, each record with its points next to their answers, how its due date was computed,
what was hidden and why, and each agency's records. Bilingual (Vietnamese first, English marked
``lang="en"``), dates in Vietnam time, no JavaScript at all (the Content-Security-Policy forbids
it), one small stylesheet. Every route is rate-limited like the API.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from contracts.disclosure_api import (
    AgencyScorecard,
    PublicRecord,
    Rate,
    RecordStatus,
    RedactionView,
)
from contracts.vocabulary import (
    COUNTING,
    DISPOSITION,
    KIND,
    LEVEL,
    PUBLICATION_REASON,
    RECORD_STATUS,
    REDACTION_KIND,
    REDACTION_PLACEHOLDER,
    VIETNAM,
    Label,
    label_of,
)
from services.disclosure import public, scorecards
from services.disclosure.web.common import limited
from services.platform import cursor
from services.platform.http import DatabasePool

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 20
HOME_SIZE = 10
MAX_QUERY = 200
MAX_ID = 64

router = APIRouter(include_in_schema=False, dependencies=[Depends(limited)])

# Page texts of their own for people: (Vietnamese, English). The vocabulary's labels (kinds,
# levels, statuses, ...) come from contracts.vocabulary.
Bilingual = tuple[str, str]
# The search form's choices, as (value, text); an <option> holds text only, so "vi / en".
STATUS_OPTIONS = [
    (s.value, str(RECORD_STATUS[s]))
    for s in (
        RecordStatus.ANSWERED,
        RecordStatus.ANSWERED_LATE,
        RecordStatus.OVERDUE,
        RecordStatus.AWAITING,
        RecordStatus.WITHDRAWN,
    )
]
KIND_OPTIONS = [(kind.value, str(label)) for kind, label in KIND.items()]
LEVEL_OPTIONS = [(level.value, str(label)) for level, label in LEVEL.items()]

_SEPARATOR = " / "


def bi(vi: str, en: str) -> Markup:
    """A bilingual label: Vietnamese, then the English marked as such. The slash is only seen,
    so that a screen reader switches language instead of reading it."""
    return Markup(
        '{}<span class="en"><span aria-hidden="true"> / </span><span lang="en">{}</span></span>'
    ).format(vi, en)


def bi_block(vi: str, en: str) -> Markup:
    """A bilingual sentence or paragraph: the English on a line of its own."""
    return Markup(
        '<span class="vi">{}</span> <span class="en en-block" lang="en">{}</span>'
    ).format(vi, en)


def bilingual(text: str | None, block: bool = False) -> Markup:
    """A text the services wrote as "Vietnamese / English", marked up like :func:`bi` (or
    :func:`bi_block`); any other text is only escaped."""
    if not text:
        return Markup("")
    if text.count(_SEPARATOR) == 1:
        vi, en = text.split(_SEPARATOR)
        return bi_block(vi, en) if block else bi(vi, en)
    return escape(text)


_PLACEHOLDERS = [str(escape(placeholder)) for placeholder in REDACTION_PLACEHOLDER.values()]


def redacted(text: str | None) -> Markup:
    """A published text, escaped, with each redaction note set apart so that a reader sees
    it is not the author's words."""
    html = str(escape(text or ""))
    for placeholder in _PLACEHOLDERS:
        html = html.replace(placeholder, f'<span class="redacted">{placeholder}</span>')
    return Markup(html)  # noqa: S704 - escaped above; only our own notes are wrapped


def label(labels: Mapping[Any, Label], key: str | None) -> Markup:
    """A vocabulary label (contracts.vocabulary) of a wire value, marked up like :func:`bi`."""
    if key is None:
        return Markup("")
    found = label_of(labels, key)
    return bi(found.vi, found.en) if found.vi != found.en else escape(found.vi)


def _local(value: date | datetime) -> date | datetime:
    return value.astimezone(VIETNAM) if isinstance(value, datetime) else value


def vn_date(value: date | datetime | None) -> str:
    """dd/mm/yyyy, Vietnam time."""
    return "" if value is None else f"{_local(value):%d/%m/%Y}"


def vn_datetime(value: datetime | None) -> str:
    """dd/mm/yyyy hh:mm, Vietnam time."""
    return "" if value is None else f"{value.astimezone(VIETNAM):%d/%m/%Y %H:%M}"


def machine(value: date | datetime | None) -> str:
    """The ``datetime`` attribute of ``<time>``: ISO 8601, with the Vietnam offset."""
    if value is None:
        return ""
    local = _local(value)
    return local.isoformat(timespec="minutes") if isinstance(local, datetime) else local.isoformat()


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals.update(
    bi=bi,
    bi_block=bi_block,
    label=label,
    KIND_LABELS=KIND,
    LEVEL_LABELS=LEVEL,
    DISPOSITION_LABELS=DISPOSITION,
    COUNTING_LABELS=COUNTING,
    REASON_LABELS=PUBLICATION_REASON,
    STATUS_OPTIONS=STATUS_OPTIONS,
    KIND_OPTIONS=KIND_OPTIONS,
    LEVEL_OPTIONS=LEVEL_OPTIONS,
)
_environment.filters.update(
    bilingual=bilingual,
    redacted=redacted,
    vn_date=vn_date,
    vn_datetime=vn_datetime,
    machine=machine,
)

STYLESHEET = (TEMPLATES / "site.css").read_bytes()
_STYLESHEET_VERSION = hashlib.sha256(STYLESHEET).hexdigest()[:12]
STYLESHEET_URL = f"/static/site.css?v={_STYLESHEET_VERSION}"

_HEADERS = {
    # No script may run, whatever a record contains; only our own stylesheet is loaded.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "public, max-age=60",
}


def _page(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _environment.get_template(template).render(stylesheet=STYLESHEET_URL, **context)
    headers = dict(_HEADERS)
    if status_code >= 400:
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(html, status_code=status_code, headers=headers)


@router.get("/static/site.css")
async def stylesheet(request: Request) -> Response:
    etag = f'"{_STYLESHEET_VERSION}"'
    versioned = request.query_params.get("v") == _STYLESHEET_VERSION
    headers = {
        "ETag": etag,
        "Cache-Control": (
            "public, max-age=31536000, immutable" if versioned else "public, max-age=3600"
        ),
        "X-Content-Type-Options": "nosniff",
    }
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(STYLESHEET, media_type="text/css; charset=utf-8", headers=headers)


@router.get("/", response_class=HTMLResponse)
async def home(pool: DatabasePool) -> HTMLResponse:
    latest = await public.records(pool, where=public.RecordFilter(), after=None, limit=HOME_SIZE)
    overdue = await public.records(
        pool,
        where=public.RecordFilter(status=RecordStatus.OVERDUE),
        after=None,
        limit=HOME_SIZE,
    )
    return _page(
        "home.html",
        current="home",
        latest=[p.record for p in latest],
        overdue=[p.record for p in overdue],
        form=SearchForm(),
    )


@dataclass
class SearchForm:
    """The search form's values as typed, and what is wrong with them. Checked here rather than
    by FastAPI so that a person gets the form back with the error next to the field, and an
    empty choice ("Tất cả / All") means no filter."""

    q: str = ""
    agency: str = ""
    status: str = ""
    kind: str = ""
    level: str = ""
    errors: dict[str, Bilingual] = field(default_factory=dict)

    @classmethod
    def read(cls, *, q: str, agency: str, status: str, kind: str, level: str) -> SearchForm:
        def clean(value: str) -> str:
            return value.replace("\x00", "").strip()  # PostgreSQL stores no NUL character

        form = cls(
            q=clean(q),
            agency=clean(agency),
            status=clean(status),
            kind=clean(kind),
            level=clean(level),
        )
        if len(form.q) > MAX_QUERY:
            form.errors["q"] = (
                f"Tối đa {MAX_QUERY} ký tự",
                f"At most {MAX_QUERY} characters",
            )
        if len(form.agency) > MAX_ID:
            form.errors["agency"] = (f"Tối đa {MAX_ID} ký tự", f"At most {MAX_ID} characters")
        for name, allowed in (
            ("status", {s.value for s in RecordStatus}),
            ("kind", {k.value for k in KIND}),
            ("level", {lv.value for lv in LEVEL}),
        ):
            if getattr(form, name) and getattr(form, name) not in allowed:
                form.errors[name] = ("Hãy chọn một giá trị trong danh sách", "Choose from the list")
        return form

    @property
    def used(self) -> bool:
        return any((self.q, self.agency, self.status, self.kind, self.level))

    def filter(self) -> public.RecordFilter:
        return public.RecordFilter(
            agency_id=self.agency or None,
            level=self.level or None,
            kind=self.kind or None,
            status=RecordStatus(self.status) if self.status else None,
            query=self.q or None,
        )

    def url(self, path: str = "/search", **extra: str) -> str:
        values = {
            "q": self.q,
            "agency": self.agency,
            "status": self.status,
            "kind": self.kind,
            "level": self.level,
            **extra,
        }
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{path}?{query}" if query else path


def _after(token: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        return cursor.decode(token)
    except cursor.BadCursor:
        return None


async def _page_of(
    pool: DatabasePool, where: public.RecordFilter, after: tuple[datetime, uuid.UUID] | None
) -> tuple[list[PublicRecord], str | None]:
    """One page of records, and the cursor of the next one if there is more."""
    found = await public.records(pool, where=where, after=after, limit=PAGE_SIZE + 1)
    page = [p.record for p in found[:PAGE_SIZE]]
    more = len(found) > PAGE_SIZE
    return page, cursor.encode(page[-1].published_at, page[-1].critique_id) if more else None


Text = Annotated[str, Query()]


@router.get("/search", response_class=HTMLResponse)
async def search(
    pool: DatabasePool,
    q: Text = "",
    agency: Text = "",
    status: Text = "",
    kind: Text = "",
    level: Text = "",
    cursor_: Annotated[str, Query(alias="cursor")] = "",
) -> HTMLResponse:
    form = SearchForm.read(q=q, agency=agency, status=status, kind=kind, level=level)
    after = None
    if cursor_:
        after = _after(cursor_)
        if after is None:
            form.errors["cursor"] = (
                "Liên kết trang này không hợp lệ; hãy tìm lại từ trang đầu",
                "This page link is not valid; search again from the first page",
            )
    if form.errors:
        return _page("search.html", status_code=422, current="search", form=form, results=None)
    results, next_cursor = await _page_of(pool, form.filter(), after)
    return _page(
        "search.html",
        current="search",
        form=form,
        results=results,
        first_page=form.url() if after else None,
        next_page=form.url(cursor=next_cursor) if next_cursor else None,
    )


@dataclass
class HiddenKind:
    """What was hidden of one kind of personal data, where, and why: never the content."""

    kind: str
    count: int = 0
    places: list[Bilingual] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


_POINT_FIELD = re.compile(r"points\[(\d+)\]\.(text|citation|explanation)")


def _place(field_name: str, record: PublicRecord) -> Bilingual:
    """Where a redaction was made, for people: "points[0].text" is "Point 1" (its number)."""
    if field_name == "title":
        return ("Tiêu đề", "Title")
    matched = _POINT_FIELD.fullmatch(field_name)
    if matched is None:
        return (field_name, field_name)
    index, part = int(matched[1]), matched[2]
    number = record.points[index].number if index < len(record.points) else index + 1
    return {
        "text": (f"Nội dung điểm {number}", f"Point {number}"),
        "citation": (f"Trích dẫn của điểm {number}", f"Citation of point {number}"),
        "explanation": (f"Trả lời điểm {number}", f"Answer to point {number}"),
    }[part]


def hidden(record: PublicRecord, redactions: Sequence[RedactionView]) -> list[HiddenKind]:
    """The redaction log, grouped by kind of personal data, in a fixed order of kinds."""
    kinds: dict[str, HiddenKind] = {}
    for r in redactions:
        group = kinds.setdefault(r.kind, HiddenKind(r.kind))
        group.count += r.count
        if (place := _place(r.field, record)) not in group.places:
            group.places.append(place)
        if r.reason not in group.reasons:
            group.reasons.append(r.reason)
    order: list[str] = list(REDACTION_KIND)
    return sorted(
        kinds.values(), key=lambda k: order.index(k.kind) if k.kind in order else len(order)
    )


def _not_found(what: Bilingual, detail: Bilingual) -> HTMLResponse:
    return _page("not_found.html", status_code=404, current=None, what=what, detail=detail)


@router.get("/records/{critique_id}", response_class=HTMLResponse)
async def record_page(critique_id: str, pool: DatabasePool) -> HTMLResponse:
    try:
        wanted = uuid.UUID(critique_id)
    except ValueError:
        wanted = None
    found = await public.record(pool, wanted) if wanted is not None else None
    if found is None:
        return _not_found(
            ("Không có hồ sơ công bố với mã này", "No disclosed record with this id"),
            (
                "Có thể hồ sơ không tồn tại, hoặc chưa được trả lời và chưa quá hạn.",
                "It may not exist, or not be answered or overdue yet.",
            ),
        )
    record = found.record
    return _page(
        "record.html",
        current=None,
        record=record,
        hidden=hidden(record, record.redactions),
        REDACTION_LABELS=REDACTION_KIND,
    )


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
    report = await scorecards.one(pool, agency_id) if len(agency_id) <= MAX_ID else None
    if report is None:
        return _not_found(
            ("Không có cơ quan với mã này", "No agency with this id"),
            (
                "Có thể mã cơ quan không đúng, hoặc cơ quan chưa có hồ sơ nào được công bố.",
                "The id may be wrong, or no record of this agency has been disclosed yet.",
            ),
        )
    after = _after(cursor_) if cursor_ else None
    records, next_cursor = await _page_of(pool, public.RecordFilter(agency_id=agency_id), after)
    agency = report.agency
    if agency.name is None and records:  # its directory entry has not arrived yet
        agency = records[0].agency
    base = f"/agencies/{quote(agency_id, safe='')}"
    return _page(
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
