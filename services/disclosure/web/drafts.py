"""Disclosure's public JSON API of drafts: each draft its drafting agency registered, with every
version the Front received, the window each gave, what changed and what was taken in; and the
disclosed records that criticise it."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from contracts.disclosure_api import DraftPage, DraftReport, PublicDraft, RecordPage
from contracts.events import MAX_DRAFT_VERSION
from services.disclosure import queries
from services.disclosure import report_pdf as report_pdf_module
from services.disclosure.web.common import Limited
from services.platform import cursor
from services.platform.http import DatabasePool, ProblemError, page_after, problem_responses

router = APIRouter()
MAX_PAGE = 200


def _no_draft() -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "No published draft with this id",
        detail="Drafts are published as their drafting agency registers them.",
    )


@router.get(
    "/v1/drafts",
    response_model=DraftPage,
    responses=problem_responses(422, 429),
    tags=["drafts"],
    summary="Drafts registered by their drafting agencies, newest first",
)
async def list_drafts(
    pool: DatabasePool,
    _: Limited,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
) -> DraftPage:
    found = await queries.drafts(pool, after=page_after(cursor_), limit=limit + 1)
    page = found[:limit]
    last = page[-1] if page and len(found) > limit else None
    return DraftPage(
        items=page,
        next_cursor=cursor.encode(last.registered_at, last.draft_id) if last else None,
    )


@router.get(
    "/v1/drafts/{draft_id}",
    response_model=PublicDraft,
    responses=problem_responses(404, 429),
    tags=["drafts"],
    summary="One draft: its versions and their parts, windows, changes and uptake",
)
async def get_draft(
    draft_id: uuid.UUID, pool: DatabasePool, _: Limited, response: Response
) -> PublicDraft:
    found = await queries.draft(pool, draft_id)
    if found is None:
        raise _no_draft()
    response.headers["Cache-Control"] = "public, max-age=60"
    return found


@router.get(
    "/v1/drafts/{draft_id}/records",
    response_model=RecordPage,
    responses=problem_responses(404, 429),
    tags=["drafts"],
    summary="The disclosed records criticising the draft, oldest first",
)
async def draft_records(
    draft_id: uuid.UUID,
    pool: DatabasePool,
    _: Limited,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
) -> RecordPage:
    if await queries.draft(pool, draft_id) is None:
        raise _no_draft()
    found = await queries.records_of_draft(
        pool, draft_id, after=page_after(cursor_), limit=limit + 1
    )
    page = found[:limit]
    last = page[-1] if page and len(found) > limit else None
    return RecordPage(
        items=page,
        next_cursor=cursor.encode(last.submitted_at, last.critique_id) if last else None,
    )


def _no_report() -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "No report of this draft version",
        detail="A version's report is published with the version.",
    )


Version = Annotated[int, Path(ge=1, le=MAX_DRAFT_VERSION)]


@router.get(
    "/v1/drafts/{draft_id}/versions/{version}/report",
    response_model=DraftReport,
    responses=problem_responses(404, 422, 429),
    tags=["drafts"],
    summary="A draft version's consolidated report (báo cáo tiếp thu, giải trình)",
)
async def report(
    draft_id: uuid.UUID, version: Version, pool: DatabasePool, _: Limited, response: Response
) -> DraftReport:
    found = await queries.draft_report(pool, draft_id, version)
    if found is None:
        raise _no_report()
    response.headers["Cache-Control"] = "public, max-age=60"
    return found


@router.get(
    "/drafts/{draft_id}/versions/{version}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The report as a PDF"},
        304: {"description": "Not modified (If-None-Match)"},
        **problem_responses(404, 422, 429, 503),
    },
    tags=["drafts"],
    summary="A draft version's consolidated report as a PDF",
)
async def report_pdf(
    draft_id: uuid.UUID,
    version: Version,
    pool: DatabasePool,
    _: Limited,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    found = await queries.draft_report(pool, draft_id, version)
    if found is None:
        raise _no_report()
    etag = f'"report-{hashlib.sha256(found.model_dump_json().encode()).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=60",
        "Content-Disposition": f'inline; filename="bao-cao-tiep-thu-{draft_id}-v{version}.pdf"',
    }
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    try:
        pdf = await asyncio.to_thread(report_pdf_module.render, found)
    except report_pdf_module.FontsMissing as missing:
        raise ProblemError(
            503, "unavailable", "The report cannot be set in type here", detail=str(missing)
        ) from None
    return Response(pdf, media_type="application/pdf", headers=headers)
