"""The AgencyService RPCs: authenticate the agency, check the request, call the store."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date
from typing import Any, NoReturn, TypeAlias

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import trace
from pydantic import ValidationError

from contracts.agency_api import CHANGES, DISPOSITIONS, KINDS, STATUSES, inverse
from contracts.events import PointAnswer
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.lifecycle import CaseStatus, ExtensionStatus
from contracts.vocabulary import VIETNAM
from services.platform import cursor, db, telemetry, tokens
from services.tracking import store
from services.tracking.domain import (
    AnswerProblem,
    answerable,
    check_answer,
    extension_problems,
    is_late,
)
from services.tracking.feed import ChangeFeed
from services.tracking.grpc_api.messages import case_message, timestamp
from services.tracking.schedule import Clock

tracer = trace.get_tracer(__name__)

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
WATCH_POLL_SECONDS = 5.0
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

_DISPOSITIONS_IN = inverse(DISPOSITIONS)
_STATUSES_IN = inverse(STATUSES)
_KINDS_IN = inverse(KINDS)


async def _abort_invalid(context: Context, problems: Sequence[AnswerProblem]) -> NoReturn:
    """INVALID_ARGUMENT with a google.rpc.BadRequest naming every offending field."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=p.field, description=p.message)
            for p in problems
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    await context.abort_with_status(
        rpc_status.to_status(
            status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT,
                message="; ".join(str(p) for p in problems),
                details=[detail],
            )
        )
    )
    raise AssertionError("abort_with_status raises")


def _date(value: str, field: str, problems: list[AnswerProblem]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(AnswerProblem(field, "a date as YYYY-MM-DD"))
        return None


def _is_cursor(value: str) -> bool:
    """A change's id as this server writes it: ASCII digits, within a PostgreSQL bigint."""
    return value.isascii() and value.isdigit() and int(value) <= _MAX_CURSOR


_MAX_CURSOR = 2**63 - 1


class AgencyService(pb_grpc.AgencyServiceServicer):
    def __init__(self, pool: db.Pool, *, feed: ChangeFeed, clock: Clock) -> None:
        self._pool = pool
        self._feed = feed
        self._clock = clock

    async def _agency(self, context: Context) -> str:
        metadata = dict(context.invocation_metadata() or ())
        authorization = metadata.get("authorization")
        token = tokens.bearer(authorization if isinstance(authorization, str) else None)
        agency_id = None if token is None else await store.agency_by_token(self._pool, token)
        if agency_id is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "an agency token is required: metadata 'authorization: Bearer <token>'",
            )
        assert agency_id is not None
        trace.get_current_span().set_attribute(telemetry.ATTR_AGENCY_ID, agency_id)
        return agency_id

    async def _own_case(
        self,
        context: Context,
        executor: db.Executor,
        agency_id: str,
        case_id: str,
        *,
        for_update: bool = False,
        with_history: bool = False,
    ) -> store.Case:
        try:
            case = await store.get_case(
                executor, uuid.UUID(case_id), for_update=for_update, with_history=with_history
            )
        except ValueError:
            await _abort_invalid(context, [AnswerProblem("case_id", "not a UUID")])
        except store.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no case {case_id}")
        if case.agency_id != agency_id:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"case {case_id} is addressed to another agency"
            )
        span = trace.get_current_span()
        span.set_attribute(telemetry.ATTR_CASE_ID, str(case.id))
        span.set_attribute(telemetry.ATTR_CRITIQUE_ID, str(case.critique_id))
        return case

    @contextlib.contextmanager
    def _journey(self, step: str, case: store.Case, agency_id: str) -> Iterator[None]:
        """An agency's step belongs to the submission's journey: the events it causes continue
        that trace, and the agency's own call (its own trace) is linked to it both ways."""
        call = trace.get_current_span()
        with tracer.start_as_current_span(
            step,
            context=telemetry.extract(case.trace_headers),
            links=[trace.Link(call.get_span_context())],
            attributes={
                telemetry.ATTR_CASE_ID: str(case.id),
                telemetry.ATTR_CRITIQUE_ID: str(case.critique_id),
                telemetry.ATTR_AGENCY_ID: agency_id,
                telemetry.ATTR_ORGANISATION_ID: case.organisation_id,
            },
        ) as journey:
            call.add_link(journey.get_span_context())
            yield

    async def ListCases(
        self, request: pb.ListCasesRequest, context: Context
    ) -> pb.ListCasesResponse:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        if request.page_size > MAX_PAGE_SIZE:
            problems.append(AnswerProblem("page_size", f"at most {MAX_PAGE_SIZE}"))
        after = None
        if request.page_token:
            try:
                after = cursor.decode(request.page_token)
            except cursor.BadCursor:
                problems.append(AnswerProblem("page_token", "not a token this server gave"))
        if request.status and request.status not in _STATUSES_IN:
            problems.append(AnswerProblem("status", "not a case status this server knows"))
        if request.kind and request.kind not in _KINDS_IN:
            problems.append(AnswerProblem("kind", "not a kind of critique this server knows"))
        where = store.CaseFilter(
            status=_STATUSES_IN.get(request.status),
            overdue_only=request.overdue_only,
            due_before=_date(request.due_before, "due_before", problems),
            due_after=_date(request.due_after, "due_after", problems),
            kind=_KINDS_IN.get(request.kind),
        )
        if problems:
            await _abort_invalid(context, problems)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        cases = await store.list_cases(
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
        while not self._feed.closed:
            changes = await self._feed.after(agency_id, position)
            if not changes:
                await self._feed.wait(WATCH_POLL_SECONDS)
                continue
            for change in changes:
                case = await store.get_case(self._pool, change.case_id)
                yield pb.CaseChange(
                    cursor=str(change.cursor),
                    change=CHANGES[change.change],
                    at=timestamp(change.at),
                    case=case_message(case),
                )
                position = change.cursor

    async def GetCase(self, request: pb.GetCaseRequest, context: Context) -> pb.Case:
        agency_id = await self._agency(context)
        case = await self._own_case(
            context, self._pool, agency_id, request.case_id, with_history=True
        )
        return case_message(case)

    async def AcknowledgeCase(
        self, request: pb.AcknowledgeCaseRequest, context: Context
    ) -> pb.Case:
        agency_id = await self._agency(context)
        async with self._pool.acquire() as connection, connection.transaction():
            case = await self._own_case(
                context, connection, agency_id, request.case_id, for_update=True
            )
            if case.status is CaseStatus.WITHDRAWN:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"case {case.id} was withdrawn"
                )
            if case.acknowledged_at is None and case.status is CaseStatus.AWAITING_ANSWER:
                with self._journey("acknowledge case", case, agency_id):
                    await store.acknowledge(connection, case, at=self._clock())
            case = await store.get_case(connection, case.id, with_history=True)
        return case_message(case)

    async def RequestExtension(
        self, request: pb.RequestExtensionRequest, context: Context
    ) -> pb.Case:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        if not request.request_id.strip():
            problems.append(AnswerProblem("request_id", "required"))
        requested = _date(request.requested_due_date, "requested_due_date", problems)
        if requested is None and not problems:
            problems.append(AnswerProblem("requested_due_date", "required"))
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            case = await self._own_case(
                context, connection, agency_id, request.case_id, for_update=True
            )
            retry = any(e.request_id == request.request_id for e in case.extensions)
            if not retry:
                if not answerable(case.status):
                    await context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION, f"case {case.id} is {case.status}"
                    )
                if any(e.status is ExtensionStatus.PENDING for e in case.extensions):
                    await context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        "an extension request is already awaiting the organisation's decision",
                    )
                if requested is not None:
                    problems += extension_problems(
                        requested=requested,
                        current_due_date=case.due_date,
                        today=now.astimezone(VIETNAM).date(),
                        reason=request.reason,
                    )
                if problems:
                    await _abort_invalid(context, problems)
                assert requested is not None
                with self._journey("request extension", case, agency_id):
                    await store.request_extension(
                        connection,
                        case,
                        request_id=request.request_id,
                        reason=request.reason.strip(),
                        requested_due_date=requested,
                        at=now,
                    )
            case = await store.get_case(connection, case.id, with_history=True)
        return case_message(case)

    async def SubmitAnswer(
        self, request: pb.SubmitAnswerRequest, context: Context
    ) -> pb.SubmitAnswerResponse:
        agency_id = await self._agency(context)
        problems: list[AnswerProblem] = []
        if not request.request_id.strip():
            problems.append(AnswerProblem("request_id", "required"))
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
        async with self._pool.acquire() as connection, connection.transaction():
            case = await self._own_case(
                context, connection, agency_id, request.case_id, for_update=True
            )
            if case.status is CaseStatus.ANSWERED:
                if case.answer_request_id == request.request_id:
                    return pb.SubmitAnswerResponse(case=case_message(case))
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"case {case.id} is already answered"
                )
            if not answerable(case.status):
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"case {case.id} is {case.status.value}"
                )
            problems += check_answer({p.number for p in case.points}, answers)
            if problems:
                await _abort_invalid(context, problems)
            answered_at = self._clock()
            with self._journey("answer case", case, agency_id):
                await store.record_answer(
                    connection,
                    case,
                    request_id=request.request_id,
                    answers=answers,
                    answered_at=answered_at,
                    late=is_late(answered_at, case.due_date),
                )
            answered = await store.get_case(connection, case.id)
        return pb.SubmitAnswerResponse(case=case_message(answered))
