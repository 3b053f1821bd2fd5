"""Submitting, following, amending and withdrawing critiques."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from opentelemetry import trace
from pydantic import ValidationError

from contracts.events import (
    CritiqueContent,
    CritiqueKind,
)
from contracts.problems import FieldViolation
from contracts.submission_api import (
    Classification,
    ContentIn,
    CritiqueIn,
    CritiqueOut,
    CritiquePage,
    CritiqueStatus,
    HistoryOut,
    WithdrawalIn,
)
from services.platform import cursor, db, idempotency, telemetry
from services.platform.http import (
    DatabasePool,
    ProblemError,
    field_path,
    page_after,
)
from services.submission import directory, store
from services.submission.api.common import (
    CurrentOrganisation,
    critique_out,
    normalised,
    not_found,
    problems,
    unchangeable,
)
from services.submission.domain import (
    classification_stamps,
    needs_draft,
    repeated_point_numbers,
)

router = APIRouter()


def _content(body: ContentIn, kind: CritiqueKind) -> CritiqueContent:
    """The critique's content, or a problem naming every field that breaks a rule."""
    stamps = classification_stamps(
        [body.title, body.legal_basis or "", *(p.text for p in body.points)]
    )
    if body.classification is not Classification.UNCLASSIFIED or stamps:
        raise ProblemError(
            422,
            "classified-material-refused",
            "Classified material cannot be submitted here",
            detail=(
                "State-secret material (Mật, Tối mật, Tuyệt mật) may not be drafted or stored on a"
                " networked computer (State Secrets Law art. 5). Nothing was stored."
            ),
            errors=[
                FieldViolation(
                    field="classification",
                    message=f"marked {body.classification.value}"
                    if body.classification is not Classification.UNCLASSIFIED
                    else f"the text carries the stamp {stamps[0]}",
                )
            ],
        )
    violations = []
    repeated = repeated_point_numbers(body.points)
    violations += [
        FieldViolation(field=f"points[{index}].number", message="this number is used twice")
        for index, point in enumerate(body.points)
        if point.number in repeated
    ]
    if needs_draft(kind) and body.draft is None:
        violations.append(
            FieldViolation(field="draft", message="social criticism must name the draft")
        )
    if body.draft is not None and not (body.draft.version or body.draft.url):
        violations.append(
            FieldViolation(field="draft.version", message="give the draft's version or a link")
        )
    if violations:
        raise ProblemError(
            422,
            "invalid-critique",
            "The critique breaks a rule",
            detail="; ".join(f"{v.field}: {v.message}" for v in violations),
            errors=violations,
        )
    try:
        content = CritiqueContent.model_validate(
            {
                "title": body.title,
                "points": [point.model_dump() for point in body.points],
                "draft": body.draft.model_dump() if body.draft else None,
                "legal_basis": body.legal_basis,
                "redact_names": body.redact_names,
            }
        )
    except ValidationError as invalid:
        # The texts were normalised (NFC, trimmed) after their lengths were checked: some become
        # blank, a few grow longer than the critique's events allow. (A bad point also makes
        # `points` too short; only the point is named.)
        errors = invalid.errors()
        violations = [
            FieldViolation(
                field=field_path(("body", *error["loc"])),
                message=f"{error['msg']} once normalised (Unicode NFC, trimmed)",
            )
            for error in errors
            if not any(
                len(other["loc"]) > len(error["loc"])
                and other["loc"][: len(error["loc"])] == error["loc"]
                for other in errors
            )
        ]
        raise ProblemError(
            422,
            "invalid-critique",
            "The critique breaks a rule",
            detail="; ".join(f"{v.field}: {v.message}" for v in violations),
            errors=violations,
        ) from None
    return content.model_copy(
        update={"points": tuple(sorted(content.points, key=lambda p: p.number))}
    )


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


async def _known_agency(executor: db.Executor, agency_id: str) -> None:
    if await directory.agency(executor, agency_id) is None:
        raise ProblemError(
            422,
            "unknown-agency",
            "No agency with this id",
            detail=f"{agency_id!r} is not in tracking's directory; see GET /v1/agencies.",
            errors=[FieldViolation(field="agency_id", message="unknown agency")],
        )


@router.post(
    "/v1/critiques",
    status_code=201,
    response_model=CritiqueOut,
    responses=problems(400, 401, 413, 415, 422, 429),
    tags=["critiques"],
    summary="Submit a critique",
)
async def submit_critique(
    body: CritiqueIn,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=idempotency.MAX_KEY_LENGTH,
            description="Retrying with the same key returns the first result.",
        ),
    ] = None,
) -> Any:
    content = _content(body, body.kind)
    await _known_agency(pool, body.agency_id)

    async def work(connection: db.Connection) -> idempotency.Response:
        critique_id = await store.submit(
            connection,
            organisation=organisation,
            agency_id=body.agency_id,
            kind=body.kind,
            content=content,
        )
        created = await store.critique(
            connection, critique_id=critique_id, organisation_id=organisation.id
        )
        return idempotency.Response(201, critique_out(created).model_dump(mode="json"))

    try:
        result = await idempotency.once(
            pool,
            scope=f"critiques:{organisation.id}",
            key=idempotency_key,
            request=idempotency.fingerprint(body.model_dump_json()),
            work=work,
        )
    except idempotency.KeyReused:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for a different request",
            errors=[FieldViolation(field="Idempotency-Key", message="already used")],
        ) from None
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CRITIQUE_ID, str(result.body["id"]))
    span.set_attribute(telemetry.ATTR_AGENCY_ID, body.agency_id)
    response.status_code = result.status_code
    response.headers["Location"] = f"/v1/critiques/{result.body['id']}"
    response.headers["ETag"] = f'"{result.body["version"]}"'
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result.body


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
    found = await store.critiques(
        pool,
        organisation_id=organisation.id,
        status=status,
        limit=limit + 1,
        after=page_after(cursor_),
    )
    page = found[:limit]
    return CritiquePage(
        items=[critique_out(c) for c in page],
        next_cursor=(
            cursor.encode(page[-1].submitted_at, page[-1].id) if len(found) > limit else None
        ),
    )


@router.get(
    "/v1/critiques/{critique_id}",
    response_model=CritiqueOut,
    responses=problems(401, 404, 429),
    tags=["critiques"],
    summary="One of the organisation's critiques, with its status and answers",
)
async def get_critique(
    critique_id: uuid.UUID,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    response: Response,
) -> CritiqueOut:
    try:
        found = await store.critique(pool, critique_id=critique_id, organisation_id=organisation.id)
    except store.NotFound:
        raise not_found(critique_id) from None
    response.headers["ETag"] = f'"{found.version}"'
    return critique_out(found)


@router.put(
    "/v1/critiques/{critique_id}",
    response_model=CritiqueOut,
    responses=problems(400, 401, 404, 409, 412, 413, 415, 422, 429),
    tags=["critiques"],
    summary="Amend a critique (until the agency acknowledges it)",
)
async def amend_critique(
    critique_id: uuid.UUID,
    body: ContentIn,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="The ETag you amended, to refuse lost updates."),
    ] = None,
) -> CritiqueOut:
    expected = _version_precondition(if_match)
    async with pool.acquire() as connection, connection.transaction():
        try:
            current = await store.critique(
                connection, critique_id=critique_id, organisation_id=organisation.id
            )
            await store.amend(
                connection,
                critique_id=critique_id,
                organisation_id=organisation.id,
                content=_content(body, current.kind),
                expected_version=expected,
            )
            amended = await store.critique(
                connection, critique_id=critique_id, organisation_id=organisation.id
            )
        except store.NotFound:
            raise not_found(critique_id) from None
        except store.Unchangeable as locked:
            raise unchangeable(locked.status) from None
        except store.VersionMismatch as mismatch:
            raise ProblemError(
                412,
                "version-mismatch",
                "The critique changed since you read it",
                detail=f"the current version is {mismatch.current}",
            ) from None
    response.headers["ETag"] = f'"{amended.version}"'
    return critique_out(amended)


@router.post(
    "/v1/critiques/{critique_id}/withdrawal",
    response_model=CritiqueOut,
    responses=problems(400, 401, 404, 409, 413, 415, 422, 429),
    tags=["critiques"],
    summary="Withdraw a critique (until the agency acknowledges it)",
)
async def withdraw_critique(
    critique_id: uuid.UUID,
    body: WithdrawalIn,
    organisation: CurrentOrganisation,
    pool: DatabasePool,
) -> CritiqueOut:
    reason = normalised("reason", body.reason, max_length=2000)
    async with pool.acquire() as connection, connection.transaction():
        try:
            await store.withdraw(
                connection,
                critique_id=critique_id,
                organisation_id=organisation.id,
                reason=reason,
            )
            withdrawn = await store.critique(
                connection, critique_id=critique_id, organisation_id=organisation.id
            )
        except store.NotFound:
            raise not_found(critique_id) from None
        except store.Unchangeable as locked:
            raise unchangeable(locked.status) from None
    return critique_out(withdrawn)


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
        entries = await store.history(
            pool, critique_id=critique_id, organisation_id=organisation.id
        )
    except store.NotFound:
        raise not_found(critique_id) from None
    return [HistoryOut(at=e.at, step=e.step, version=e.version, detail=e.detail) for e in entries]
