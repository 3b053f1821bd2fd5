"""Disclosure's public JSON API of agencies: each agency known to the public, with its scorecard
(how it answers the Front: on time, late, not at all; see :mod:`services.disclosure.scorecards`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from contracts.disclosure_api import AgencyPage, AgencyReport
from services.disclosure import queries, scorecards
from services.disclosure.web.common import Limited, Slug, unknown_agency
from services.platform.http import DatabasePool, problem_responses

router = APIRouter()

MAX_AGENCY_PAGE = 1000

SCORECARD_DESCRIPTION = f"""\
Answered on time, answered late and overdue count the agency's **published** records.
`open` counts the critiques it has in hand, not yet answered nor overdue, **published or not**:
how many is public information, what they say is not until answered or overdue. The median time
to answer runs from submission to answer, in days. A rate is shown only over a sample of at least
{scorecards.SCORECARD_MIN_SAMPLE} records; below that it is null, with `insufficient_sample`."""


@router.get(
    "/v1/agencies",
    response_model=AgencyPage,
    responses=problem_responses(422, 429),
    tags=["agencies"],
    summary="Known agencies with their scorecards, by id",
    description=SCORECARD_DESCRIPTION,
)
async def list_agencies(
    pool: DatabasePool,
    _: Limited,
    response: Response,
    after: Annotated[str | None, Query(max_length=64, description="An agency id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AGENCY_PAGE)] = 200,
) -> AgencyPage:
    found = await queries.agency_reports(pool, after=after, limit=limit + 1)
    items = found[:limit]
    response.headers["Cache-Control"] = "public, max-age=60"
    return AgencyPage(
        items=items,
        next_after=items[-1].agency.id if items and len(found) > limit else None,
    )


@router.get(
    "/v1/agencies/{agency_id}",
    response_model=AgencyReport,
    responses=problem_responses(404, 422, 429),
    tags=["agencies"],
    summary="One agency with its scorecard",
    description=SCORECARD_DESCRIPTION,
)
async def get_agency(
    agency_id: Slug, pool: DatabasePool, _: Limited, response: Response
) -> AgencyReport:
    found = await queries.agency_report(pool, agency_id)
    if found is None:
        raise unknown_agency()
    response.headers["Cache-Control"] = "public, max-age=60"
    return found
