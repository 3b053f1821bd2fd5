"""Submission's HTTP API: translate requests to store calls and results to JSON, nothing more."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from opentelemetry import trace

from contracts.events import (
    CritiqueContent,
    CritiqueKind,
    DraftReference,
    Point,
)
from contracts.submission_api import (
    AgencyOut,
    AttachmentOut,
    Classification,
    ContentIn,
    CritiqueIn,
    CritiqueOut,
    CritiquePage,
    CritiqueStatus,
    DraftOut,
    HistoryOut,
    OrganisationOut,
    WithdrawalIn,
)
from services.platform import db, idempotency, telemetry, tokens
from services.platform.http import (
    BodyLimit,
    DatabasePool,
    FieldViolation,
    Problem,
    ProblemError,
    install_problem_handlers,
)
from services.platform.ratelimit import RateLimiter, retry_after
from services.submission import directory, store
from services.submission.domain import (
    classification_stamps,
    needs_draft,
    normalise,
    repeated_point_numbers,
)

MAX_JSON_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
_BINARY = {"type": "string", "format": "binary"}
_ATTACHMENTS_PATH = re.compile(r"^/v1/critiques/[^/]+/attachments$")


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in statuses
    }


def _nfc(value: str | None) -> str | None:
    return None if value is None else normalise(value)


def critique_out(critique: store.Critique) -> CritiqueOut:
    content = critique.content
    return CritiqueOut(
        id=critique.id,
        organisation_id=critique.organisation_id,
        agency_id=critique.agency_id,
        kind=critique.kind,
        version=critique.version,
        status=critique.status,
        status_label=critique.status.label,
        changeable=critique.status.changeable,
        title=content.title,
        points=list(content.points),
        draft=DraftOut(**content.draft.model_dump()) if content.draft else None,
        legal_basis=content.legal_basis,
        submitted_at=critique.submitted_at,
        updated_at=critique.updated_at,
        due_date=critique.due_date,
        acknowledged_at=critique.acknowledged_at,
        answered_at=critique.answered_at,
        answered_late=critique.answered_late,
        withdrawn_at=critique.withdrawn_at,
        answers=list(critique.answers),
    )


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


async def _organisation(
    pool: DatabasePool,
    limiter: Annotated[RateLimiter, Depends(_limiter)],
    authorization: Annotated[str | None, Header()] = None,
) -> directory.Organisation:
    token = tokens.bearer(authorization)
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
    return CritiqueContent(
        title=body.title,
        points=tuple(
            Point(number=p.number, text=p.text, citation=p.citation)
            for p in sorted(body.points, key=lambda p: p.number)
        ),
        draft=DraftReference(**body.draft.model_dump()) if body.draft else None,
        legal_basis=body.legal_basis,
    )


def _not_found(critique_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "not-found", "No such critique", detail=f"critique {critique_id}")


def _unchangeable(status: CritiqueStatus) -> ProblemError:
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


def _cursor(critique: store.Critique) -> str:
    raw = f"{critique.submitted_at.isoformat()}|{critique.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        when, _, critique_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), uuid.UUID(critique_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ProblemError(
            422,
            "invalid-cursor",
            "The cursor is not one this API gave",
            errors=[FieldViolation(field="cursor", message="not a cursor from a previous page")],
        ) from None


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


def add_routes(app: FastAPI) -> None:
    @app.get("/v1/me", response_model=OrganisationOut, responses=_problems(401, 429), tags=["me"])
    async def me(organisation: CurrentOrganisation) -> OrganisationOut:
        """The organisation the token belongs to."""
        return OrganisationOut.model_validate(organisation)

    @app.get("/v1/agencies", response_model=list[AgencyOut], tags=["agencies"])
    async def list_agencies(pool: DatabasePool) -> list[AgencyOut]:
        """The agencies critiques can be addressed to (tracking's directory)."""
        return [AgencyOut.model_validate(a) for a in await directory.agencies(pool)]

    @app.get(
        "/v1/agencies/{agency_id}",
        response_model=AgencyOut,
        responses=_problems(404),
        tags=["agencies"],
    )
    async def get_agency(agency_id: str, pool: DatabasePool) -> AgencyOut:
        found = await directory.agency(pool, agency_id)
        if found is None:
            raise ProblemError(404, "not-found", "No such agency", detail=agency_id)
        return AgencyOut.model_validate(found)

    @app.post(
        "/v1/critiques",
        status_code=201,
        response_model=CritiqueOut,
        responses=_problems(401, 413, 422, 429),
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

    @app.get(
        "/v1/critiques",
        response_model=CritiquePage,
        responses=_problems(401, 422, 429),
        tags=["critiques"],
        summary="The organisation's critiques, newest first",
    )
    async def list_critiques(
        organisation: CurrentOrganisation,
        pool: DatabasePool,
        status: CritiqueStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> CritiquePage:
        found = await store.critiques(
            pool,
            organisation_id=organisation.id,
            status=status,
            limit=limit + 1,
            after=_after(cursor),
        )
        page = found[:limit]
        return CritiquePage(
            items=[critique_out(c) for c in page],
            next_cursor=_cursor(page[-1]) if len(found) > limit else None,
        )

    @app.get(
        "/v1/critiques/{critique_id}",
        response_model=CritiqueOut,
        responses=_problems(401, 404, 429),
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
            found = await store.critique(
                pool, critique_id=critique_id, organisation_id=organisation.id
            )
        except store.NotFound:
            raise _not_found(critique_id) from None
        response.headers["ETag"] = f'"{found.version}"'
        return critique_out(found)

    @app.put(
        "/v1/critiques/{critique_id}",
        response_model=CritiqueOut,
        responses=_problems(401, 404, 409, 412, 413, 422, 429),
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
            str | None, Header(description="The ETag you amended, to refuse lost updates.")
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
                raise _not_found(critique_id) from None
            except store.Unchangeable as locked:
                raise _unchangeable(locked.status) from None
            except store.VersionMismatch as mismatch:
                raise ProblemError(
                    412,
                    "version-mismatch",
                    "The critique changed since you read it",
                    detail=f"the current version is {mismatch.current}",
                ) from None
        response.headers["ETag"] = f'"{amended.version}"'
        return critique_out(amended)

    @app.post(
        "/v1/critiques/{critique_id}/withdrawal",
        response_model=CritiqueOut,
        responses=_problems(401, 404, 409, 422, 429),
        tags=["critiques"],
        summary="Withdraw a critique (until the agency acknowledges it)",
    )
    async def withdraw_critique(
        critique_id: uuid.UUID,
        body: WithdrawalIn,
        organisation: CurrentOrganisation,
        pool: DatabasePool,
    ) -> CritiqueOut:
        async with pool.acquire() as connection, connection.transaction():
            try:
                await store.withdraw(
                    connection,
                    critique_id=critique_id,
                    organisation_id=organisation.id,
                    reason=normalise(body.reason),
                )
                withdrawn = await store.critique(
                    connection, critique_id=critique_id, organisation_id=organisation.id
                )
            except store.NotFound:
                raise _not_found(critique_id) from None
            except store.Unchangeable as locked:
                raise _unchangeable(locked.status) from None
        return critique_out(withdrawn)

    @app.get(
        "/v1/critiques/{critique_id}/history",
        response_model=list[HistoryOut],
        responses=_problems(401, 404, 429),
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
            raise _not_found(critique_id) from None
        return [
            HistoryOut(at=e.at, step=e.step.value, version=e.version, detail=e.detail)
            for e in entries
        ]

    @app.post(
        "/v1/critiques/{critique_id}/attachments",
        status_code=201,
        response_model=AttachmentOut,
        responses=_problems(401, 404, 409, 413, 415, 422, 429),
        tags=["attachments"],
        summary="Attach a PDF (the body is the file, Content-Type: application/pdf)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/pdf": {"schema": _BINARY}},
            }
        },
    )
    async def add_attachment(
        critique_id: uuid.UUID,
        request: Request,
        organisation: CurrentOrganisation,
        pool: DatabasePool,
        filename: Annotated[str, Query(min_length=1, max_length=255)],
    ) -> AttachmentOut:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/pdf":
            raise ProblemError(
                415,
                "unsupported-media-type",
                "Attachments are PDF files",
                detail="Send the file as the body with Content-Type: application/pdf.",
            )
        content = await request.body()
        if not content.startswith(PDF_MAGIC):
            raise ProblemError(
                422,
                "not-a-pdf",
                "The body is not a PDF file",
                errors=[FieldViolation(field="body", message="does not start with %PDF-")],
            )
        async with pool.acquire() as connection, connection.transaction():
            try:
                attachment = await store.add_attachment(
                    connection,
                    critique_id=critique_id,
                    organisation_id=organisation.id,
                    filename=normalise(filename),
                    media_type=media_type,
                    content=content,
                )
            except store.NotFound:
                raise _not_found(critique_id) from None
            except store.Unchangeable as locked:
                raise _unchangeable(locked.status) from None
        return AttachmentOut.model_validate(attachment)

    @app.get(
        "/v1/critiques/{critique_id}/attachments",
        response_model=list[AttachmentOut],
        responses=_problems(401, 404, 429),
        tags=["attachments"],
    )
    async def list_attachments(
        critique_id: uuid.UUID, organisation: CurrentOrganisation, pool: DatabasePool
    ) -> list[AttachmentOut]:
        try:
            found = await store.attachments(
                pool, critique_id=critique_id, organisation_id=organisation.id
            )
        except store.NotFound:
            raise _not_found(critique_id) from None
        return [AttachmentOut.model_validate(a) for a in found]

    @app.get(
        "/v1/critiques/{critique_id}/attachments/{attachment_id}",
        response_class=Response,
        responses={
            200: {"content": {"application/pdf": {"schema": _BINARY}}},
            **_problems(401, 404, 429),
        },
        tags=["attachments"],
        summary="The attached file itself",
    )
    async def get_attachment(
        critique_id: uuid.UUID,
        attachment_id: uuid.UUID,
        organisation: CurrentOrganisation,
        pool: DatabasePool,
    ) -> Response:
        try:
            attachment, content = await store.attachment_content(
                pool,
                critique_id=critique_id,
                attachment_id=attachment_id,
                organisation_id=organisation.id,
            )
        except store.NotFound:
            raise ProblemError(404, "not-found", "No such attachment") from None
        ascii_name = attachment.filename.encode("ascii", "replace").decode().replace('"', "'")
        return Response(
            content,
            media_type=attachment.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{ascii_name}"',
                "Digest": f"sha-256={base64.b64encode(bytes.fromhex(attachment.sha256)).decode()}",
                "ETag": f'"{attachment.sha256}"',
            },
        )


def body_limit(path: str) -> int:
    return MAX_ATTACHMENT_BYTES if _ATTACHMENTS_PATH.match(path) else MAX_JSON_BYTES


def build_app(limiter: RateLimiter) -> FastAPI:
    app = FastAPI(
        title="Supervision — submission API",
        version="1.0.0",
        description=(
            "Front committees and member organisations submit critiques (phản biện xã hội),"
            " supervision recommendations and opinions to state agencies, and follow them."
        ),
    )
    app.state.limiter = limiter
    install_problem_handlers(app)
    add_routes(app)
    app.add_middleware(BodyLimit, limit_for=body_limit)
    return app
