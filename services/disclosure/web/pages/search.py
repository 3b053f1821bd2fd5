"""The home page (the latest and the overdue records) and the search, with the API's filters in a
form a person can get back with the error next to the field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from contracts.disclosure_api import PublicRecord, RecordStatus
from contracts.vocabulary import KIND, LEVEL
from services.disclosure import queries
from services.disclosure.web.pages.markup import Bilingual
from services.disclosure.web.pages.site import render
from services.platform import cursor
from services.platform.http import DatabasePool

PAGE_SIZE = 20
HOME_SIZE = 10
MAX_QUERY = 200
MAX_ID = 64

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(pool: DatabasePool) -> HTMLResponse:
    latest = await queries.records(pool, where=queries.RecordFilter(), after=None, limit=HOME_SIZE)
    overdue = await queries.records(
        pool,
        where=queries.RecordFilter(status=RecordStatus.OVERDUE),
        after=None,
        limit=HOME_SIZE,
    )
    return render(
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
    draft: str = ""
    errors: dict[str, Bilingual] = field(default_factory=dict)

    @classmethod
    def read(
        cls, *, q: str, agency: str, status: str, kind: str, level: str, draft: str = ""
    ) -> SearchForm:
        def clean(value: str) -> str:
            return value.replace("\x00", "").strip()  # PostgreSQL stores no NUL character

        form = cls(
            q=clean(q),
            agency=clean(agency),
            status=clean(status),
            kind=clean(kind),
            level=clean(level),
            draft=clean(draft),
        )
        if form.draft and _uuid(form.draft) is None:
            form.errors["draft"] = (
                "Mã dự thảo có dạng như trên trang của dự thảo",
                "A draft's id, as its page shows it",
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
        return any((self.q, self.agency, self.status, self.kind, self.level, self.draft))

    def filter(self) -> queries.RecordFilter:
        return queries.RecordFilter(
            agency_id=self.agency or None,
            level=self.level or None,
            kind=self.kind or None,
            status=RecordStatus(self.status) if self.status else None,
            query=self.q or None,
            draft_id=_uuid(self.draft) if self.draft else None,
        )

    def url(self, path: str = "/search", **extra: str) -> str:
        values = {
            "q": self.q,
            "agency": self.agency,
            "status": self.status,
            "kind": self.kind,
            "level": self.level,
            "draft": self.draft,
            **extra,
        }
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{path}?{query}" if query else path


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def cursor_position(token: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        return cursor.decode(token)
    except cursor.BadCursor:
        return None


async def page_of(
    pool: DatabasePool, where: queries.RecordFilter, after: tuple[datetime, uuid.UUID] | None
) -> tuple[list[PublicRecord], str | None]:
    """One page of records, and the cursor of the next one if there is more."""
    found = await queries.records(pool, where=where, after=after, limit=PAGE_SIZE + 1)
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
    draft: Text = "",
    cursor_: Annotated[str, Query(alias="cursor")] = "",
) -> HTMLResponse:
    form = SearchForm.read(q=q, agency=agency, status=status, kind=kind, level=level, draft=draft)
    after = None
    if cursor_:
        after = cursor_position(cursor_)
        if after is None:
            form.errors["cursor"] = (
                "Liên kết trang này không hợp lệ; hãy tìm lại từ trang đầu",
                "This page link is not valid; search again from the first page",
            )
    if form.errors:
        return render("search.html", status_code=422, current="search", form=form, results=None)
    results, next_cursor = await page_of(pool, form.filter(), after)
    return render(
        "search.html",
        current="search",
        form=form,
        results=results,
        first_page=form.url() if after else None,
        next_page=form.url(cursor=next_cursor) if next_cursor else None,
    )
