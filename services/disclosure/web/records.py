"""Disclosure's public JSON API of records: read-only, no login, cacheable, rate-limited per
client."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from contracts.disclosure_api import ChangeFeed, PublicRecord, RecordPage
from services.disclosure import queries
from services.disclosure.web.common import MAX_CHANGE, Filter, Limited
from services.platform import cursor
from services.platform.http import (
    DatabasePool,
    ProblemError,
    page_after,
    problem_responses,
)

router = APIRouter()
MAX_PAGE = 200


@router.get(
    "/v1/records",
    response_model=RecordPage,
    responses=problem_responses(422, 429),
    tags=["records"],
    summary="Disclosed records, most recently published first",
)
async def list_records(
    pool: DatabasePool,
    where: Filter,
    _: Limited,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
) -> RecordPage:
    found = await queries.records(pool, where=where, after=page_after(cursor_), limit=limit + 1)
    page = found[:limit]
    last = page[-1].record if page else None
    return RecordPage(
        items=[p.record for p in page],
        next_cursor=(
            cursor.encode(last.published_at, last.critique_id)
            if last is not None and len(found) > limit
            else None
        ),
    )


@router.get(
    "/v1/records/{critique_id}",
    response_model=PublicRecord,
    responses={304: {"description": "Not modified (If-None-Match)"}, **problem_responses(404, 429)},
    tags=["records"],
    summary="One disclosed record, with its ETag",
)
async def get_record(
    critique_id: uuid.UUID,
    pool: DatabasePool,
    _: Limited,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> PublicRecord | Response:
    found = await queries.record(pool, critique_id)
    if found is None:
        raise ProblemError(
            404,
            "not-found",
            "No disclosed record with this id",
            detail="It may not exist, or not be answered or overdue yet.",
        )
    etag = f'"{found.change}"'
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "public, max-age=60"
    return found.record


@router.get(
    "/v1/changes",
    response_model=ChangeFeed,
    responses=problem_responses(422, 429),
    tags=["records"],
    summary="Records and drafts published or changed since a change number, for mirrors",
)
async def changes(
    pool: DatabasePool,
    _: Limited,
    since: Annotated[int, Query(ge=0, le=MAX_CHANGE)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangeFeed:
    records = await queries.changes_since(pool, since, limit)
    drafts = await queries.draft_changes_since(pool, since, limit)
    # The first `limit` changes of both, in change order.
    changes = sorted([p.change for p in records] + [d.change for d in drafts])[:limit]
    last = changes[-1] if changes else since
    return ChangeFeed(
        items=[p.record for p in records if p.change <= last],
        drafts=[d.draft for d in drafts if d.change <= last],
        next_since=last,
    )
