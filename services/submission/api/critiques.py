"""Submitting and following critiques, and asking for amendments and withdrawals.

Submitting is submission's to decide: ``201``. Amending and withdrawing are tracking's
(contracts/transitions.py): the request is answered ``202`` with its status, ``pending``, and
its ``Location``, where its outcome (accepted, or refused with the reason) can be followed; a
request already decided is answered ``200`` as it stands.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from opentelemetry import trace

from contracts.problems import FieldViolation
from contracts.submission_api import (
    ChangeRequestOut,
    ContentIn,
    CritiqueIn,
    CritiqueOut,
    CritiquePage,
    CritiqueStatus,
    HistoryOut,
    WithdrawalIn,
)
from services.platform import cursor, telemetry
from services.platform.http import DatabasePool, ProblemError, page_after
from services.submission import commands, queries
from services.submission.api.common import (
    AdmittedOrganisation,
    CurrentOrganisation,
    IdempotencyKey,
    answer_request,
    idempotency_key_reused,
    invalid_content,
    normalised,
    not_found,
    problems,
    unchangeable,
)
from services.submission.domain import ClassifiedMaterial, InvalidContent
from services.submission.store import NotFound

router = APIRouter()


def _version_precondition(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ProblemError(
            422,
            "invalid-if-match",
            'If-Match must be the critique\'s ETag, e.g. "2"',
            errors=[FieldViolation(field="If-Match", message="not a version tag")],
        )
    return int(tag)


@router.post(
    "/v1/critiques",
    status_code=201,
    response_model=CritiqueOut,
    responses=problems(400, 401, 413, 415, 422, 429, 503),
    tags=["critiques"],
    summary="Submit a critique",
)
async def submit_critique(
    body: CritiqueIn,
    organisation: AdmittedOrganisation,
    pool: DatabasePool,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    try:
        created, replayed = await commands.submit(
            pool, organisation=organisation, critique=body, idempotency_key=idempotency_key
        )
    except (ClassifiedMaterial, InvalidContent) as refused:
        raise invalid_content(refused) from None
    except commands.UnknownAgency:
        raise ProblemError(
            422,
            "unknown-agency",
            "No agency with this id",
            detail=f"{body.agency_id!r} is not in tracking's directory; see GET /v1/agencies.",
            errors=[FieldViolation(field="agency_id", message="unknown agency")],
        ) from None
    except commands.KeyReused:
        raise idempotency_key_reused() from None
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CRITIQUE_ID, str(created.id))
    span.set_attribute(telemetry.ATTR_AGENCY_ID, body.agency_id)
    response.headers["Location"] = f"/v1/critiques/{created.id}"
    response.headers["ETag"] = f'"{created.version}"'
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get(
    "/v1/critiques",
    response_model=CritiquePage,
    responses=problems(401, 422, 429),
    tags=["critiques"],
    summary="The organisation's critiques, newest first",
)
async def list_critiques(
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    status: CritiqueStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
) -> CritiquePage:
    found = await queries.critiques(
        pool,
        organisation_id=organisation.id,
        status=status,
        limit=limit + 1,
        after=page_after(cursor_),
    )
    page = found[:limit]
    return CritiquePage(
        items=page,
        next_cursor=(
            cursor.encode(page[-1].submitted_at, page[-1].id) if len(found) > limit else None
        ),
    )


@router.get(
    "/v1/critiques/{critique_id}",
    response_model=CritiqueOut,
    responses=problems(401, 404, 429),
    tags=["critiques"],
    summary="One of the organisation's critiques, with its status, answers and pending requests",
)
async def get_critique(
    critique_id: uuid.UUID,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    response: Response,
) -> CritiqueOut:
    try:
        found = await queries.critique(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except NotFound:
        raise not_found(critique_id) from None
    response.headers["ETag"] = f'"{found.version}"'
    return found


@router.put(
    "/v1/critiques/{critique_id}",
    status_code=202,
    response_model=ChangeRequestOut,
    responses={
        200: {"model": ChangeRequestOut, "description": "The request, decided already (a retry)"},
        **problems(400, 401, 404, 409, 412, 413, 415, 422, 429, 503),
    },
    tags=["critiques"],
    summary="Ask to amend a critique (tracking decides: until the agency acknowledges it)",
)
async def amend_critique(
    critique_id: uuid.UUID,
    body: ContentIn,
    organisation: AdmittedOrganisation,
    pool: DatabasePool,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="The ETag you amended, to refuse lost updates."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> ChangeRequestOut:
    try:
        asked = await commands.request_amendment(
            pool,
            organisation_id=organisation.id,
            critique_id=critique_id,
            body=body,
            expected_version=_version_precondition(if_match),
            idempotency_key=idempotency_key,
        )
    except NotFound:
        raise not_found(critique_id) from None
    except (ClassifiedMaterial, InvalidContent) as refused:
        raise invalid_content(refused) from None
    except commands.Settled as settled:
        raise unchangeable(settled) from None
    except commands.VersionMismatch as mismatch:
        raise ProblemError(
            412,
            "version-mismatch",
            "The critique changed since you read it",
            detail=f"the current version is {mismatch.current}",
        ) from None
    except commands.KeyReused:
        raise idempotency_key_reused() from None
    return answer_request(asked, response)


@router.post(
    "/v1/critiques/{critique_id}/withdrawal",
    status_code=202,
    response_model=ChangeRequestOut,
    responses={
        200: {"model": ChangeRequestOut, "description": "Withdrawn already: the request decided"},
        **problems(400, 401, 404, 409, 413, 415, 422, 429, 503),
    },
    tags=["critiques"],
    summary="Ask to withdraw a critique (tracking decides: until the agency acknowledges it)",
)
async def withdraw_critique(
    critique_id: uuid.UUID,
    body: WithdrawalIn,
    organisation: AdmittedOrganisation,
    pool: DatabasePool,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ChangeRequestOut:
    reason = normalised("reason", body.reason, max_length=2000)
    try:
        asked = await commands.request_withdrawal(
            pool,
            organisation_id=organisation.id,
            critique_id=critique_id,
            reason=reason,
            idempotency_key=idempotency_key,
        )
    except NotFound:
        raise not_found(critique_id) from None
    except commands.Settled as settled:
        raise unchangeable(settled) from None
    except commands.KeyReused:
        raise idempotency_key_reused() from None
    return answer_request(asked, response)


@router.get(
    "/v1/critiques/{critique_id}/requests",
    response_model=list[ChangeRequestOut],
    responses=problems(401, 404, 429),
    tags=["critiques"],
    summary="The amendments, withdrawals and extension decisions asked for, and their outcomes",
)
async def list_requests(
    critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
) -> list[ChangeRequestOut]:
    try:
        return await queries.requests(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except NotFound:
        raise not_found(critique_id) from None


@router.get(
    "/v1/critiques/{critique_id}/requests/{request_id}",
    response_model=ChangeRequestOut,
    responses=problems(401, 404, 429),
    tags=["critiques"],
    summary="One request: pending, or accepted, or refused with the reason",
)
async def get_request(
    critique_id: uuid.UUID,
    request_id: uuid.UUID,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
) -> ChangeRequestOut:
    try:
        return await queries.request(
            pool, critique_id=critique_id, request_id=request_id, organisation_id=organisation.id
        )
    except NotFound:
        raise ProblemError(404, "not-found", "No such request for this critique") from None


@router.get(
    "/v1/critiques/{critique_id}/history",
    response_model=list[HistoryOut],
    responses=problems(401, 404, 429),
    tags=["critiques"],
    summary="Every change and every step reported by the agency, oldest first",
)
async def critique_history(
    critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
) -> list[HistoryOut]:
    try:
        return await queries.history(pool, critique_id=critique_id, organisation_id=organisation.id)
    except NotFound:
        raise not_found(critique_id) from None
