"""Disclosure's public JSON API of drafts: each draft its drafting agency registered, with every
version the Front received, the window each gave, what changed and what was taken in; and the
disclosed records that criticise it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from contracts.disclosure_api import DraftPage, PublicDraft, RecordPage
from services.disclosure import queries
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
