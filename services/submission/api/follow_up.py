"""Following up: the agency's extension requests to decide (tracking applies the decision), and
escalations from below."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from contracts.submission_api import (
    ChangeRequestOut,
    EscalationOut,
    ExtensionDecisionIn,
    ExtensionOut,
)
from services.platform.http import DatabasePool, ProblemError
from services.submission import commands, queries
from services.submission.api.common import (
    AdmittedOrganisation,
    CurrentOrganisation,
    IdempotencyKey,
    answer_request,
    idempotency_key_reused,
    not_found,
    problems,
    unchangeable,
)
from services.submission.store import NotFound

router = APIRouter()

MAX_ESCALATIONS = 500
"""The most escalations one request lists, newest first."""


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
        return await queries.extensions(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except NotFound:
        raise not_found(critique_id) from None


@router.post(
    "/v1/critiques/{critique_id}/extensions/{extension_id}/decision",
    status_code=202,
    response_model=ChangeRequestOut,
    responses={
        200: {"model": ChangeRequestOut, "description": "Decided already this way"},
        **problems(400, 401, 404, 409, 413, 415, 422, 429, 503),
    },
    tags=["follow-up"],
    summary="Grant or refuse the agency's request for more time (tracking applies it)",
)
async def decide_extension(
    critique_id: uuid.UUID,
    extension_id: uuid.UUID,
    body: ExtensionDecisionIn,
    organisation: AdmittedOrganisation,
    pool: DatabasePool,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ChangeRequestOut:
    try:
        asked = await commands.request_extension_decision(
            pool,
            organisation_id=organisation.id,
            critique_id=critique_id,
            extension_id=extension_id,
            grant=body.grant,
            note=body.note,
            idempotency_key=idempotency_key,
        )
    except NotFound:
        raise ProblemError(
            404, "not-found", "No such extension request for this critique"
        ) from None
    except commands.AlreadyDecided as decided_before:
        raise ProblemError(
            409,
            "extension-decided",
            "This request was already decided",
            detail=f"It was {decided_before.status}; a decision cannot be reversed.",
        ) from None
    except commands.Settled as settled:
        raise unchangeable(settled) from None
    except commands.KeyReused:
        raise idempotency_key_reused() from None
    return answer_request(asked, response)


@router.get(
    "/v1/escalations",
    response_model=list[EscalationOut],
    responses=problems(401, 429),
    tags=["follow-up"],
    summary="Overdue critiques of the committees one level below, escalated to you, newest first",
)
async def list_escalations(
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    limit: Annotated[int, Query(ge=1, le=MAX_ESCALATIONS)] = MAX_ESCALATIONS,
) -> list[EscalationOut]:
    return await queries.escalations_to(pool, organisation.id, limit=limit)
