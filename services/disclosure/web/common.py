"""What the disclosure web routes share: the per-client rate limit every route takes, the record
filter that the records API and the exports parse from the same query parameters, and the
refusal of an agency no one knows (its feed, its scorecard)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from contracts.disclosure_api import RecordStatus
from services.disclosure import queries
from services.platform.http import ProblemError
from services.platform.ratelimit import RateLimiter, retry_after

MAX_CHANGE = 2**63 - 1
"""The largest change number there can be (a PostgreSQL bigint): a larger one is refused (422)."""


async def limited(request: Request) -> None:
    """Public but not unlimited: one client (by address) cannot starve the others."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    if limiter is None:
        return
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait:
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            detail=f"retry in {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)},
        )


Limited = Annotated[None, Depends(limited)]


async def _filter(
    agency: Annotated[str | None, Query(max_length=64, description="Agency id.")] = None,
    organisation: Annotated[
        str | None, Query(max_length=64, description="Organisation id.")
    ] = None,
    level: Annotated[
        str | None, Query(pattern="^(central|provincial|commune)$", description="Submitter level.")
    ] = None,
    kind: Annotated[
        str | None,
        Query(
            pattern="^(social_criticism|supervision_recommendation|government_building_opinion)$"
        ),
    ] = None,
    status: RecordStatus | None = None,
    overdue: Annotated[bool | None, Query(description="Only overdue (or only not).")] = None,
    submitted_from: date | None = None,
    submitted_to: date | None = None,
    answered_from: date | None = None,
    answered_to: date | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Full-text search; diacritics are ignored ('quy hoach' finds 'quy hoạch').",
        ),
    ] = None,
    draft: Annotated[
        uuid.UUID | None, Query(description="Only the critiques of this draft (`/v1/drafts`).")
    ] = None,
) -> queries.RecordFilter:
    return queries.RecordFilter(
        agency_id=agency,
        organisation_id=organisation,
        level=level,
        kind=kind,
        status=status,
        overdue=overdue,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        answered_from=answered_from,
        answered_to=answered_to,
        query=q,
        draft_id=draft,
    )


Filter = Annotated[queries.RecordFilter, Depends(_filter)]
Slug = Annotated[str, Path(max_length=64)]


def unknown_agency() -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "No agency with this id",
        detail="Neither tracking's directory nor any disclosed record names it.",
    )
