"""What the submission API's routes share: authentication with rate limits, and the problems
the use cases' refusals are answered with."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from contracts.lifecycle import RefusalReason
from contracts.problems import FieldViolation
from contracts.submission_api import ChangeRequestOut
from services.platform import idempotency, metrics, telemetry
from services.platform.http import (
    DatabasePool,
    ProblemError,
    problem_responses,
)
from services.platform.ratelimit import RateLimiter, retry_after
from services.submission import directory, domain
from services.submission.admission import Overload
from services.submission.backlog import BacklogWatch
from services.submission.commands import Asked, Settled
from services.submission.domain import ClassifiedMaterial, InvalidContent

MAX_JSON_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
PDF_MEDIA_TYPE = "application/pdf"
"""The one kind of attachment accepted, and what every attachment is served as."""
BINARY = {"type": "string", "format": "binary"}


_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="submission"',
        "schema": {"type": "string"},
    }
}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (1 to 30).",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(*statuses, headers={401: _WWW_AUTHENTICATE, 503: _RETRY_AFTER})


async def _limiter(request: Request) -> RateLimiter:
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


def overloaded(overload: Overload) -> ProblemError:
    return ProblemError(
        503,
        "overloaded",
        "The service is taking no more work for now",
        detail=overload.detail,
        headers={"Retry-After": str(overload.retry_after)},
    )


async def _admitted(
    request: Request, organisation: CurrentOrganisation
) -> AsyncIterator[directory.Organisation]:
    """The organisation, for a write the pipeline behind the API must carry: refused (nothing
    stored) while a bound on its backlog is passed, decided on the last background reading, or
    while as many writes as its bound are being handled already; counted in flight until it is
    answered."""
    backlog: BacklogWatch | None = request.app.state.backlog
    overload = backlog.overload() if backlog is not None else None
    if overload is not None:
        metrics.shed(bound=overload.bound.value)
        raise overloaded(overload)
    if backlog is None:
        yield organisation
        return
    with backlog.admitted():
        yield organisation


AdmittedOrganisation = Annotated[directory.Organisation, Depends(_admitted)]
"""The organisation of a request that records an event on ``submission.critiques`` (submit,
amend, withdraw, decide an extension, attach): such a request is shed under overload, a read
never is."""


def not_found(critique_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "not-found", "No such critique", detail=f"critique {critique_id}")


_SETTLED = {
    RefusalReason.ACKNOWLEDGED: "the agency has acknowledged receipt",
    RefusalReason.ANSWERED: "the agency has answered it",
    RefusalReason.WITHDRAWN: "it was withdrawn",
    RefusalReason.WITHDRAWAL_PENDING: "its withdrawal is pending",
}


def unchangeable(settled: Settled) -> ProblemError:
    reason = _SETTLED.get(settled.reason, settled.reason.value)
    return ProblemError(
        409,
        "critique-locked",
        "The critique can no longer be changed",
        detail=f"It cannot be amended or withdrawn: {reason}.",
    )


def invalid_content(refused: ClassifiedMaterial | InvalidContent) -> ProblemError:
    """The domain's refusal of a critique's content, as a problem naming every field."""
    if isinstance(refused, ClassifiedMaterial):
        return ProblemError(
            422,
            "classified-material-refused",
            "Classified material cannot be submitted here",
            detail=(
                "State-secret material (Mật, Tối mật, Tuyệt mật) may not be drafted or stored on"
                " a networked computer (State Secrets Law art. 5). Nothing was stored."
            ),
            errors=[
                FieldViolation(field=refused.violation.field, message=refused.violation.message)
            ],
        )
    violations = [FieldViolation(field=v.field, message=v.message) for v in refused.violations]
    return ProblemError(
        422,
        "invalid-critique",
        "The critique breaks a rule",
        detail="; ".join(f"{v.field}: {v.message}" for v in violations),
        errors=violations,
    )


def idempotency_key_reused() -> ProblemError:
    return ProblemError(
        422,
        "idempotency-key-reused",
        "This Idempotency-Key was used for a different request",
        errors=[FieldViolation(field="Idempotency-Key", message="already used")],
    )


def normalised(field: str, value: str, *, max_length: int, required: bool = False) -> str:
    """``value`` as it is stored (NFC, trimmed), or a 422 naming ``field`` when that leaves it
    blank, or longer than allowed."""
    text = domain.normalised(value, max_length=max_length, required=required)
    if text is None:
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


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Retrying with the same key returns the first result (a submission as it was"
        " created; a request as it stands now) instead of doing it again.",
    ),
]


def answer_request(asked: Asked, response: Response) -> ChangeRequestOut:
    """A request tracking decides: ``202`` while it has not, ``200`` once it has; and where to
    follow it."""
    request = asked.request
    response.status_code = 202 if asked.pending else 200
    response.headers["Location"] = f"/v1/critiques/{request.critique_id}/requests/{request.id}"
    return request
