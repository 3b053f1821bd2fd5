"""The AgencyService RPCs: authenticate the agency, read the request off the wire, call the use
case (``commands``) or the read (``queries``), and translate the answer or the refusal back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TypeAlias

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import trace
from pydantic import ValidationError

from contracts.agency_api import (
    CHANGES,
    DISPOSITIONS,
    DRAFT_FORMATS,
    DRAFT_TYPES,
    KINDS,
    STATUSES,
    DraftRefusalReason,
    inverse,
)
from contracts.events import DraftFormat, PointAnswer
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.lifecycle import RefusalReason
from services.platform import certificates, cursor, db, telemetry, tokens
from services.tracking import commands, queries, store
from services.tracking.commands.drafts import Link
from services.tracking.criticism_window import WindowPolicy
from services.tracking.domain import (
    NONE_PRESENTED,
    AnswerProblem,
    Credential,
    CredentialsDisagree,
    DraftRefused,
    InvalidRequest,
    NotAuthenticated,
    NotYourCase,
    NotYourDraft,
    Refused,
    calling_agency,
)
from services.tracking.feed import ChangeFeed, TooManyWatchers
from services.tracking.grpc_api.messages import (
    case_message,
    draft_message,
    timestamp,
    version_message,
)
from services.tracking.schedule import Clock

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
WATCH_POLL_SECONDS = 5.0
ERROR_DOMAIN = "supervision.mttq.vn"
"""The ``domain`` of the google.rpc.ErrorInfo of a refusal."""
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

_DISPOSITIONS_IN = inverse(DISPOSITIONS)
_STATUSES_IN = inverse(STATUSES)
_KINDS_IN = inverse(KINDS)
_DRAFT_TYPES_IN = inverse(DRAFT_TYPES)
_DRAFT_FORMATS_IN = inverse(DRAFT_FORMATS)


async def _abort(context: Context, code: int, message: str, details: Sequence[Message]) -> NoReturn:
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    await context.abort_with_status(
        rpc_status.to_status(status_pb2.Status(code=code, message=message, details=packed))
    )
    raise AssertionError("abort_with_status raises")


async def _abort_invalid(context: Context, problems: Sequence[AnswerProblem]) -> NoReturn:
    """INVALID_ARGUMENT with a google.rpc.BadRequest naming every offending field."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=p.field, description=p.message)
            for p in problems
        ]
    )
    await _abort(
        context, code_pb2.INVALID_ARGUMENT, "; ".join(str(p) for p in problems), [bad_request]
    )


async def _abort_precondition(
    context: Context,
    *,
    reason: str,
    detail: str,
    current_version: int,
    stale_version_of: str | None,
) -> NoReturn:
    """FAILED_PRECONDITION saying why, machine-readably: a google.rpc.ErrorInfo with the
    reason and the current version, and, when the version named is not the current one of
    ``stale_version_of`` ("cases/<id>", "drafts/<id>"), a google.rpc.PreconditionFailure."""
    details: list[Message] = [
        error_details_pb2.ErrorInfo(
            reason=reason,
            domain=ERROR_DOMAIN,
            metadata={"current_version": str(current_version)},
        )
    ]
    if stale_version_of is not None:
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type="VERSION", subject=stale_version_of, description=detail
                    )
                ]
            )
        )
    await _abort(context, code_pb2.FAILED_PRECONDITION, detail, details)


async def _abort_refused(context: Context, case_id: str, refused: Refused) -> NoReturn:
    refusal = refused.refusal
    await _abort_precondition(
        context,
        reason=refusal.reason.name,
        detail=refusal.detail,
        current_version=refusal.current_version,
        stale_version_of=(
            f"cases/{case_id}" if refusal.reason is RefusalReason.VERSION_MISMATCH else None
        ),
    )


async def _abort_exhausted(context: Context, refused: TooManyWatchers) -> NoReturn:
    """RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure naming the agency."""
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=f"agency:{refused.agency_id}", description=str(refused)
    )
    await _abort(
        context,
        code_pb2.RESOURCE_EXHAUSTED,
        str(refused),
        [error_details_pb2.QuotaFailure(violations=[violation])],
    )


@contextlib.asynccontextmanager
async def _refusals(context: Context, case_id: str) -> AsyncIterator[None]:
    """A use case's refusals as the agency API's status codes. Another agency's case is not
    found, word for word as a case that does not exist: whether it does is not the caller's to
    learn (as the submission API answers 404 for another organisation's critique)."""
    try:
        yield
    except (store.NotFound, NotYourCase):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no case {case_id}")
    except InvalidRequest as invalid:
        await _abort_invalid(context, invalid.problems)
    except Refused as refused:
        await _abort_refused(context, case_id, refused)


@contextlib.asynccontextmanager
async def _draft_refusals(context: Context, draft_id: str) -> AsyncIterator[None]:
    """A draft use case's refusals as status codes; another agency's draft is not found, as
    one that does not exist."""
    try:
        yield
    except (store.NotFound, NotYourDraft):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no draft {draft_id}")
    except InvalidRequest as invalid:
        await _abort_invalid(context, invalid.problems)
    except DraftRefused as refused:
        await _abort_precondition(
            context,
            reason=refused.reason.name,
            detail=refused.detail,
            current_version=refused.current_version,
            stale_version_of=(
                f"drafts/{draft_id}"
                if refused.reason is DraftRefusalReason.VERSION_MISMATCH
                else None
            ),
        )


def _uuid(value: str, field: str, problems: list[AnswerProblem]) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        problems.append(AnswerProblem(field, "not a UUID"))
        return uuid.UUID(int=0)


def _request_id(value: str, problems: list[AnswerProblem]) -> str:
    if not value.strip():
        problems.append(AnswerProblem("request_id", "required"))
    return value


def _format(value: pb.DraftFormat.ValueType, problems: list[AnswerProblem]) -> DraftFormat:
    found = _DRAFT_FORMATS_IN.get(value)
    if found is None:
        problems.append(AnswerProblem("format", "DRAFT_FORMAT_DOCX or DRAFT_FORMAT_TEXT"))
        return DraftFormat.TEXT
    return found


def _links(request: pb.AddDraftVersionRequest, problems: list[AnswerProblem]) -> list[Link]:
    links: list[Link] = []
    for index, link in enumerate(request.links):
        case_id = _uuid(link.case_id, f"links[{index}].case_id", problems)
        if not link.part_ids:
            problems.append(AnswerProblem(f"links[{index}].part_ids", "at least one part"))
        links.append(Link(case_id, link.point_number, tuple(link.part_ids)))
    return links


def _page(
    page_size: int, page_token: str, problems: list[AnswerProblem]
) -> tuple[datetime, uuid.UUID] | None:
    """A list's page size checked, and where its page starts (the token another page gave)."""
    if page_size > MAX_PAGE_SIZE:
        problems.append(AnswerProblem("page_size", f"at most {MAX_PAGE_SIZE}"))
    if not page_token:
        return None
    try:
        return cursor.decode(page_token)
    except cursor.BadCursor:
        problems.append(AnswerProblem("page_token", "not a token this server gave"))
        return None


def _date(value: str, field: str, problems: list[AnswerProblem]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(AnswerProblem(field, "a date as YYYY-MM-DD"))
        return None


def _case_id(value: str, problems: list[AnswerProblem]) -> uuid.UUID:
    return _uuid(value, "case_id", problems)


def _answers(request: pb.SubmitAnswerRequest, problems: list[AnswerProblem]) -> list[PointAnswer]:
    answers: list[PointAnswer] = []
    for index, answer in enumerate(request.answers):
        disposition = _DISPOSITIONS_IN.get(answer.disposition)
        if disposition is None:
            problems.append(
                AnswerProblem(f"answers[{index}].disposition", "accepted, partly or not")
            )
            continue
        try:
            answers.append(
                PointAnswer(
                    point_number=answer.point_number,
                    disposition=disposition,
                    explanation=answer.explanation,
                )
            )
        except ValidationError as error:
            problems += [
                AnswerProblem(f"answers[{index}].{item['loc'][0]}", item["msg"])
                for item in error.errors()
            ]
    return answers


def _is_cursor(value: str) -> bool:
    """A change's id as this server writes it: ASCII digits, within a PostgreSQL bigint."""
    return value.isascii() and value.isdigit() and int(value) <= _MAX_CURSOR


_MAX_CURSOR = 2**63 - 1


_UNAUTHENTICATED: dict[str | None, str] = {
    None: "an agency token is required: metadata 'authorization: Bearer <token>'"
    " (or, where tracking asks for them, the agency's client certificate)",
    "token": "the token is unknown, expired or revoked",
    "certificate": "the client certificate is not registered to an agency, has expired or"
    " was revoked",
}


class AgencyService(pb_grpc.AgencyServiceServicer):
    def __init__(
        self,
        pool: db.Pool,
        *,
        feed: ChangeFeed,
        clock: Clock,
        window_policy: WindowPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._feed = feed
        self._clock = clock
        self._window_policy = window_policy or WindowPolicy()

    async def _agency(self, context: Context) -> str:
        """Who calls: the agency its client certificate (mutual TLS) or its token acts for, or
        both when it presents both; the call is aborted otherwise."""
        metadata = dict(context.invocation_metadata() or ())
        authorization = metadata.get("authorization")
        token = tokens.bearer(authorization if isinstance(authorization, str) else None)
        by_token = (
            NONE_PRESENTED
            if token is None
            else Credential(True, await store.agency_by_token(self._pool, token))
        )
        peer = (context.auth_context() or {}).get("x509_pem_cert") or ()
        by_certificate = NONE_PRESENTED
        for pem in peer:
            fingerprint = certificates.facts(pem).fingerprint
            by_certificate = Credential(
                True, await store.agency_by_certificate(self._pool, fingerprint)
            )
        try:
            agency_id = calling_agency(certificate=by_certificate, token=by_token)
        except NotAuthenticated as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED[error.dead])
        except CredentialsDisagree:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "the client certificate and the token belong to different agencies: a"
                " certificate acts only for the agency it is registered to",
            )
        trace.get_current_span().set_attribute(telemetry.ATTR_AGENCY_ID, agency_id)
        return agency_id

    async def ListCases(
        self, request: pb.ListCasesRequest, context: Context
    ) -> pb.ListCasesResponse:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        after = _page(request.page_size, request.page_token, problems)
        if request.status and request.status not in _STATUSES_IN:
            problems.append(AnswerProblem("status", "not a case status this server knows"))
        if request.kind and request.kind not in _KINDS_IN:
            problems.append(AnswerProblem("kind", "not a kind of critique this server knows"))
        where = queries.CaseFilter(
            status=_STATUSES_IN.get(request.status),
            overdue_only=request.overdue_only,
            due_before=_date(request.due_before, "due_before", problems),
            due_after=_date(request.due_after, "due_after", problems),
            kind=_KINDS_IN.get(request.kind),
        )
        if problems:
            await _abort_invalid(context, problems)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        cases = await queries.list_cases(
            self._pool, agency_id=agency_id, limit=limit + 1, after=after, where=where
        )
        page, more = cases[:limit], len(cases) > limit
        return pb.ListCasesResponse(
            cases=[case_message(case) for case in page],
            next_page_token=cursor.encode(page[-1].opened_at, page[-1].id) if more else "",
        )

    async def WatchCases(
        self, request: pb.WatchCasesRequest, context: Context
    ) -> AsyncIterator[pb.CaseChange]:
        agency_id = await self._agency(context)
        if request.cursor:
            if not _is_cursor(request.cursor):
                await _abort_invalid(
                    context, [AnswerProblem("cursor", "not a cursor this server gave")]
                )
            position = int(request.cursor)
        elif request.from_beginning:
            position = 0
        else:
            position = await self._feed.latest(agency_id)
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self._feed.watching(agency_id))
            except TooManyWatchers as refused:
                await _abort_exhausted(context, refused)
            # The watch is on: every change committed from now on will come.
            await context.send_initial_metadata(())
            while not self._feed.closed:
                changes = await self._feed.after(agency_id, position)
                if not changes:
                    await self._feed.wait(WATCH_POLL_SECONDS)
                    continue
                # The cases of the whole page of changes at once, not three queries per change.
                cases = await store.cases_by_id(self._pool, {c.case_id for c in changes})
                for change in changes:
                    case = cases[change.case_id]
                    yield pb.CaseChange(
                        cursor=str(change.cursor),
                        change=CHANGES[change.change],
                        at=timestamp(change.at),
                        case=case_message(case),
                    )
                    position = change.cursor

    async def GetCase(self, request: pb.GetCaseRequest, context: Context) -> pb.Case:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        case_id = _case_id(request.case_id, problems)
        if problems:
            await _abort_invalid(context, problems)
        async with _refusals(context, request.case_id):
            case = await queries.own_case(self._pool, agency_id=agency_id, case_id=case_id)
        return case_message(case)

    async def AcknowledgeCase(
        self, request: pb.AcknowledgeCaseRequest, context: Context
    ) -> pb.Case:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        case_id = _case_id(request.case_id, problems)
        if problems:
            await _abort_invalid(context, problems)
        async with _refusals(context, request.case_id):
            case = await commands.acknowledge(
                self._pool, agency_id=agency_id, case_id=case_id, now=self._clock()
            )
        return case_message(case)

    async def RequestExtension(
        self, request: pb.RequestExtensionRequest, context: Context
    ) -> pb.Case:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        case_id = _case_id(request.case_id, problems)
        if not request.request_id.strip():
            problems.append(AnswerProblem("request_id", "required"))
        requested = _date(request.requested_due_date, "requested_due_date", problems)
        if requested is None and not problems:
            problems.append(AnswerProblem("requested_due_date", "required"))
        if problems:
            await _abort_invalid(context, problems)
        assert requested is not None
        async with _refusals(context, request.case_id):
            case = await commands.request_extension(
                self._pool,
                agency_id=agency_id,
                case_id=case_id,
                request_id=request.request_id,
                reason=request.reason,
                requested_due_date=requested,
                now=self._clock(),
            )
        return case_message(case)

    async def SubmitAnswer(
        self, request: pb.SubmitAnswerRequest, context: Context
    ) -> pb.SubmitAnswerResponse:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        case_id = _case_id(request.case_id, problems)
        if not request.request_id.strip():
            problems.append(AnswerProblem("request_id", "required"))
        if request.version == 0:
            problems.append(
                AnswerProblem(
                    "version", "required: the version of the case answered (Case.version)"
                )
            )
        if problems:
            await _abort_invalid(context, problems)
        unread: list[AnswerProblem] = []
        answers = _answers(request, unread)
        async with _refusals(context, request.case_id):
            case = await commands.answer(
                self._pool,
                agency_id=agency_id,
                case_id=case_id,
                request_id=request.request_id,
                version=request.version,
                answers=answers,
                unread=unread,
                now=self._clock(),
            )
        return pb.SubmitAnswerResponse(case=case_message(case))

    async def RegisterDraft(self, request: pb.RegisterDraftRequest, context: Context) -> pb.Draft:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        _request_id(request.request_id, problems)
        draft_type = _DRAFT_TYPES_IN.get(request.type)
        if draft_type is None:
            problems.append(AnswerProblem("type", "a draft type this server knows"))
        if problems:
            await _abort_invalid(context, problems)
        assert draft_type is not None
        async with _draft_refusals(context, ""):
            draft = await commands.register_draft(
                self._pool,
                agency_id=agency_id,
                request_id=request.request_id,
                draft_type=draft_type,
                title=request.title,
                issuing_authority=request.issuing_authority,
                now=self._clock(),
            )
        return draft_message(draft)

    async def AddDraftVersion(
        self, request: pb.AddDraftVersionRequest, context: Context
    ) -> pb.DraftVersion:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        draft_id = _uuid(request.draft_id, "draft_id", problems)
        _request_id(request.request_id, problems)
        file_format = _format(request.format, problems)
        planned = _date(request.planned_submission_date, "planned_submission_date", problems)
        if planned is None and not request.planned_submission_date:
            problems.append(AnswerProblem("planned_submission_date", "required"))
        links = _links(request, problems)
        if problems:
            await _abort_invalid(context, problems)
        assert planned is not None
        async with _draft_refusals(context, request.draft_id):
            version = await commands.add_version(
                self._pool,
                agency_id=agency_id,
                draft_id=draft_id,
                request_id=request.request_id,
                follows_version=request.follows_version,
                file=request.file,
                format=file_format,
                file_name=request.file_name,
                planned_on=planned,
                now=self._clock(),
                policy=self._window_policy,
                links=links,
            )
        return version_message(version)

    async def GetDraft(self, request: pb.GetDraftRequest, context: Context) -> pb.Draft:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        draft_id = _uuid(request.draft_id, "draft_id", problems)
        if problems:
            await _abort_invalid(context, problems)
        async with _draft_refusals(context, request.draft_id):
            draft = await queries.own_draft(self._pool, agency_id=agency_id, draft_id=draft_id)
        return draft_message(draft)

    async def ListDrafts(
        self, request: pb.ListDraftsRequest, context: Context
    ) -> pb.ListDraftsResponse:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        after = _page(request.page_size, request.page_token, problems)
        if problems:
            await _abort_invalid(context, problems)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        drafts = await store.agency_drafts(self._pool, agency_id, limit=limit + 1, after=after)
        page, more = drafts[:limit], len(drafts) > limit
        last = page[-1].registered if more else None
        return pb.ListDraftsResponse(
            drafts=[draft_message(draft) for draft in page],
            next_page_token=cursor.encode(last.registered_at, last.draft_id) if last else "",
        )

    async def RecordSubmissionToAuthority(
        self, request: pb.RecordSubmissionToAuthorityRequest, context: Context
    ) -> pb.Draft:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        draft_id = _uuid(request.draft_id, "draft_id", problems)
        _request_id(request.request_id, problems)
        file_format = _format(request.format, problems)
        sent_on = _date(request.sent_on, "sent_on", problems)
        if problems:
            await _abort_invalid(context, problems)
        async with _draft_refusals(context, request.draft_id):
            draft = await commands.record_submission(
                self._pool,
                agency_id=agency_id,
                draft_id=draft_id,
                request_id=request.request_id,
                sent_on=sent_on,
                file=request.file,
                format=file_format,
                now=self._clock(),
                policy=self._window_policy,
            )
        return draft_message(draft)
