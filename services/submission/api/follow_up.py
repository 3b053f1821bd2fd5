"""Following up: the agency's extension requests to decide, and escalations from below."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from contracts.lifecycle import ExtensionStatus
from contracts.submission_api import (
    EscalationOut,
    ExtensionDecisionIn,
    ExtensionOut,
)
from services.platform.http import DatabasePool, ProblemError
from services.submission import progress, store
from services.submission.api.common import CurrentOrganisation, not_found, problems

router = APIRouter()


def _out(extension: progress.Extension) -> ExtensionOut:
    return ExtensionOut(
        id=extension.id,
        critique_id=extension.critique_id,
        reason=extension.reason,
        current_due_date=extension.current_due_date,
        requested_due_date=extension.requested_due_date,
        requested_at=extension.requested_at,
        status=ExtensionStatus(extension.status),
        decided_at=extension.decided_at,
        note=extension.note,
    )


@router.get(
    "/v1/critiques/{critique_id}/extensions",
    response_model=list[ExtensionOut],
    responses=problems(401, 404, 429),
    tags=["follow-up"],
    summary="The agency's requests for more time, and their decisions",
)
async def list_extensions(
    critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
) -> list[ExtensionOut]:
    try:
        found = await progress.extensions(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except store.NotFound:
        raise not_found(critique_id) from None
    return [_out(e) for e in found]


@router.post(
    "/v1/critiques/{critique_id}/extensions/{extension_id}/decision",
    response_model=ExtensionOut,
    responses=problems(400, 401, 404, 409, 413, 415, 422, 429),
    tags=["follow-up"],
    summary="Grant or refuse the agency's request for more time",
)
async def decide_extension(
    critique_id: uuid.UUID,
    extension_id: uuid.UUID,
    body: ExtensionDecisionIn,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
) -> ExtensionOut:
    async with pool.acquire() as connection, connection.transaction():
        try:
            decided = await progress.decide_extension(
                connection,
                critique_id=critique_id,
                extension_id=extension_id,
                organisation_id=organisation.id,
                grant=body.grant,
                note=body.note,
            )
        except store.NotFound:
            raise ProblemError(
                404, "not-found", "No such extension request for this critique"
            ) from None
        except progress.AlreadyDecided as decided_before:
            raise ProblemError(
                409,
                "extension-decided",
                "This request was already decided",
                detail=f"It was {decided_before}; a decision cannot be reversed.",
            ) from None
    return _out(decided)


@router.get(
    "/v1/escalations",
    response_model=list[EscalationOut],
    responses=problems(401, 429),
    tags=["follow-up"],
    summary="Overdue critiques of the committees one level below, escalated to you",
)
async def list_escalations(
    organisation: CurrentOrganisation, pool: DatabasePool
) -> list[EscalationOut]:
    found = await progress.escalations_to(pool, organisation.id)
    return [EscalationOut(**vars(e)) for e in found]
