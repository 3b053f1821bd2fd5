"""What the submission API's routes share: authentication with rate limits, problems, views."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from contracts.problems import FieldViolation
from contracts.submission_api import (
    CritiqueOut,
    CritiqueStatus,
    DraftOut,
)
from contracts.text import nfc
from contracts.vocabulary import CRITIQUE_STATUS
from services.platform import telemetry
from services.platform.http import (
    DatabasePool,
    ProblemError,
    problem_responses,
)
from services.platform.ratelimit import RateLimiter, retry_after
from services.submission import directory, store
from services.submission.domain import changeable

MAX_JSON_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
BINARY = {"type": "string", "format": "binary"}


_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="submission"',
        "schema": {"type": "string"},
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(*statuses, headers={401: _WWW_AUTHENTICATE})


def critique_out(critique: store.Critique) -> CritiqueOut:
    content = critique.content
    return CritiqueOut(
        id=critique.id,
        organisation_id=critique.organisation_id,
        agency_id=critique.agency_id,
        kind=critique.kind,
        version=critique.version,
        status=critique.status,
        status_label=str(CRITIQUE_STATUS[critique.status]),
        changeable=changeable(critique.status),
        title=content.title,
        points=list(content.points),
        draft=DraftOut(**content.draft.model_dump()) if content.draft else None,
        legal_basis=content.legal_basis,
        redact_names=list(content.redact_names),
        submitted_at=critique.submitted_at,
        updated_at=critique.updated_at,
        due_date=critique.due_date,
        acknowledged_at=critique.acknowledged_at,
        answered_at=critique.answered_at,
        answered_late=critique.answered_late,
        withdrawn_at=critique.withdrawn_at,
        overdue=critique.overdue_at is not None and critique.answered_at is None,
        answers=list(critique.answers),
    )


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


_BEARER = HTTPBearer(
    scheme_name="OrganisationToken",
    description="A live token of the organisation: `Authorization: Bearer <token>`.",
    auto_error=False,  # a missing or malformed token is answered below, as a problem
)


async def _organisation(
    pool: DatabasePool,
    limiter: Annotated[RateLimiter, Depends(_limiter)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> directory.Organisation:
    token = None if credentials is None else credentials.credentials
    organisation = None if token is None else await directory.organisation_by_token(pool, token)
    if organisation is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "An organisation's bearer token is required",
            detail="Send 'Authorization: Bearer <token>' with a live token of your organisation.",
            headers={"WWW-Authenticate": 'Bearer realm="submission"'},
        )
    trace.get_current_span().set_attribute(telemetry.ATTR_ORGANISATION_ID, organisation.id)
    wait = limiter.take(organisation.id)
    if wait:
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests from this organisation",
            detail=f"retry in {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)},
        )
    return organisation


CurrentOrganisation = Annotated[directory.Organisation, Depends(_organisation)]


def not_found(critique_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "not-found", "No such critique", detail=f"critique {critique_id}")


def unchangeable(status: CritiqueStatus) -> ProblemError:
    reason = {
        CritiqueStatus.ACKNOWLEDGED: "the agency has acknowledged receipt",
        CritiqueStatus.ANSWERED: "the agency has answered it",
        CritiqueStatus.WITHDRAWN: "it was withdrawn",
    }.get(status, status.value)
    return ProblemError(
        409,
        "critique-locked",
        "The critique can no longer be changed",
        detail=f"It cannot be amended or withdrawn: {reason}.",
    )


def normalised(field: str, value: str, *, max_length: int, required: bool = False) -> str:
    """``value`` as it is stored (NFC, trimmed), or a 422 naming ``field`` when that leaves it
    blank, or longer than allowed: NFC lengthens a few characters (U+FB2C becomes three)."""
    text = nfc(value)
    if (required and not text) or len(text) > max_length:
        raise ProblemError(
            422,
            "invalid-text",
            "A text is blank or too long once normalised",
            errors=[
                FieldViolation(
                    field=field,
                    message=f"{'1 to' if required else 'at most'} {max_length} characters"
                    " once normalised (Unicode NFC, trimmed)",
                )
            ],
        )
    return text
