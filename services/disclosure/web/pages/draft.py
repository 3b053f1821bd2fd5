"""The pages of drafts: the list of drafts, and one draft's page — its versions, the criticism
window each gave (and whether the Front got it late), the text clause by clause with the Front's
points and the agency's answers beside each clause they cite, what changed from one version to
the next, and what was taken in, or not."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from contracts.disclosure_api import (
    DraftVersionView,
    PointView,
    PublicDraft,
    PublicRecord,
)
from contracts.events import MAX_DRAFT_VERSION, DraftPart, PartKind
from contracts.vocabulary import DRAFT_TYPE, PART_KIND, TEXT_CHANGE
from services.disclosure import queries
from services.disclosure.web.pages.site import not_found, render
from services.platform import cursor
from services.platform.http import DatabasePool, page_after

router = APIRouter()
PAGE_SIZE = 50
MAX_RECORDS_SHOWN = 1000
"""The critiques a draft's page shows beside its parts; past this many, /v1/drafts/{id}/records
pages through them all."""


@dataclass(frozen=True)
class CitingPoint:
    """A point of a disclosed record that cites a part."""

    record: PublicRecord
    point: PointView


@dataclass
class PartRow:
    """One part of a version, as the page shows it: indented by its depth, with the points that
    cite it and how the next version treated it."""

    part: DraftPart
    depth: int
    citing: list[CitingPoint] = field(default_factory=list)
    next_change: str | None = None
    """added/removed/changed in the version after, if it changed."""
    asked_by: list[CitingPoint] = field(default_factory=list)
    """The points taken in that the next version linked to this part."""


@dataclass
class VersionView:
    version: DraftVersionView
    rows: list[PartRow]
    records: list[PublicRecord]
    unchanged: list[CitingPoint]
    """Accepted or partly accepted for this version, yet nothing linked to them changed in the
    next."""
    unasked: list[str]
    """Parts of the next version changed with no point asking for them."""
    following: DraftVersionView | None


def _depth(part: DraftPart, depths: dict[str, int]) -> int:
    depth = 0 if part.parent_id is None else depths[part.parent_id] + 1
    depths[part.id] = depth
    return depth


def versions_view(draft: PublicDraft, records: list[PublicRecord]) -> list[VersionView]:
    """Each version with its parts and, beside each, the points citing it."""
    views = []
    for position, version in enumerate(draft.versions):
        following = draft.versions[position + 1] if position + 1 < len(draft.versions) else None
        of_version = [
            r
            for r in records
            if r.draft_version is not None and r.draft_version.version == version.number
        ]
        points = {
            (str(r.critique_id), p.number): CitingPoint(r, p) for r in of_version for p in r.points
        }
        depths: dict[str, int] = {}
        rows = {p.id: PartRow(p, _depth(p, depths)) for p in version.parts}
        for cited in points.values():
            for part_id in cited.point.cites:
                if part_id in rows:
                    rows[part_id].citing.append(cited)
        unchanged: list[CitingPoint] = []
        unasked: list[str] = []
        if following is not None:
            for change in following.changes:
                if change.part_id in rows:
                    rows[change.part_id].next_change = change.change
            for link in following.links:
                asking = points.get((str(link.critique_id), link.point_number))
                for part_id in link.part_ids:
                    if asking is not None and part_id in rows:
                        rows[part_id].asked_by.append(asking)
            unchanged = [
                points[key]
                for a in following.accepted_unchanged
                if (key := (str(a.critique_id), a.point_number)) in points
            ]
            unasked = list(following.changed_unasked)
        views.append(
            VersionView(version, list(rows.values()), of_version, unchanged, unasked, following)
        )
    return views


@router.get("/drafts", response_class=HTMLResponse)
async def drafts_page(
    pool: DatabasePool,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
) -> HTMLResponse:
    found = await queries.drafts(pool, after=page_after(cursor_), limit=PAGE_SIZE + 1)
    page = found[:PAGE_SIZE]
    last = page[-1] if page and len(found) > PAGE_SIZE else None
    return render(
        "drafts.html",
        current="drafts",
        drafts=page,
        next_cursor=cursor.encode(last.registered_at, last.draft_id) if last else None,
    )


@router.get("/drafts/{draft_id}", response_class=HTMLResponse)
async def draft_page(draft_id: str, pool: DatabasePool) -> HTMLResponse:
    try:
        wanted = uuid.UUID(draft_id)
    except ValueError:
        wanted = None
    found = await queries.draft(pool, wanted) if wanted is not None else None
    if found is None or wanted is None:
        return not_found(
            ("Không có dự thảo công bố với mã này", "No published draft with this id"),
            (
                "Dự thảo được công bố khi cơ quan chủ trì soạn thảo đăng ký.",
                "Drafts are published as their drafting agency registers them.",
            ),
        )
    records = await queries.records_of_draft(pool, wanted, limit=MAX_RECORDS_SHOWN)
    return render(
        "draft.html",
        current="drafts",
        draft=found,
        versions=versions_view(found, records),
        records=records,
        DRAFT_TYPE_LABELS=DRAFT_TYPE,
        TEXT_CHANGE_LABELS=TEXT_CHANGE,
        PART_KIND_LABELS=PART_KIND,
        HEADINGS={PartKind.CHAPTER, PartKind.SECTION, PartKind.ARTICLE},
    )


@router.get("/drafts/{draft_id}/versions/{version}/report", response_class=HTMLResponse)
async def report_page(draft_id: str, version: str, pool: DatabasePool) -> HTMLResponse:
    try:
        wanted, number = uuid.UUID(draft_id), int(version)
    except ValueError:
        wanted, number = None, 0
    found = (
        await queries.draft_report(pool, wanted, number)
        if wanted is not None and 1 <= number <= MAX_DRAFT_VERSION
        else None
    )
    if found is None:
        return not_found(
            ("Không có báo cáo của phiên bản này", "No report of this draft version"),
            (
                "Báo cáo của một phiên bản được công bố cùng phiên bản.",
                "A version's report is published with the version.",
            ),
        )
    return render("report.html", current="drafts", report=found, TEXT_CHANGE_LABELS=TEXT_CHANGE)
