"""Tracking's gRPC API for agencies: translate protobuf to store calls and back, nothing more."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import asyncpg
import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import trace
from pydantic import ValidationError

from contracts.events import CritiqueKind, Disposition, PointAnswer
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform import cursor, telemetry, tokens
from services.tracking import store
from services.tracking.domain import AnswerProblem, CaseStatus, check_answer, is_late

tracer = trace.get_tracer(__name__)

_KINDS = {
    CritiqueKind.SOCIAL_CRITICISM: pb.CRITIQUE_KIND_SOCIAL_CRITICISM,
    CritiqueKind.SUPERVISION_RECOMMENDATION: pb.CRITIQUE_KIND_SUPERVISION_RECOMMENDATION,
    CritiqueKind.GOVERNMENT_BUILDING_OPINION: pb.CRITIQUE_KIND_GOVERNMENT_BUILDING_OPINION,
}
_STATUSES = {
    CaseStatus.AWAITING_ANSWER: pb.CASE_STATUS_AWAITING_ANSWER,
    CaseStatus.ACKNOWLEDGED: pb.CASE_STATUS_ACKNOWLEDGED,
    CaseStatus.ANSWERED: pb.CASE_STATUS_ANSWERED,
    CaseStatus.WITHDRAWN: pb.CASE_STATUS_WITHDRAWN,
}
_DISPOSITIONS = {
    Disposition.ACCEPTED: pb.DISPOSITION_ACCEPTED,
    Disposition.PARTLY_ACCEPTED: pb.DISPOSITION_PARTLY_ACCEPTED,
    Disposition.NOT_ACCEPTED: pb.DISPOSITION_NOT_ACCEPTED,
}
_DISPOSITIONS_IN = {wire: domain for domain, wire in _DISPOSITIONS.items()}
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def case_message(case: store.Case) -> pb.Case:
    message = pb.Case(
        case_id=str(case.id),
        critique_id=str(case.critique_id),
        agency_id=case.agency_id,
        organisation_id=case.organisation_id,
        organisation_name=case.organisation_name,
        kind=_KINDS[case.kind],
        title=case.title,
        points=[
            pb.Point(number=p.number, text=p.text, citation=p.citation or "") for p in case.points
        ],
        due_date=case.due_date.isoformat(),
        due_rule=pb.DueDateRule(
            days=case.due_rule.days,
            counting=case.due_rule.counting,
            start=case.due_rule.start.isoformat(),
            explanation=case.due_rule.explanation,
        ),
        status=_STATUSES[case.status],
        answers=[
            pb.PointAnswer(
                point_number=a.point_number,
                disposition=_DISPOSITIONS[a.disposition],
                explanation=a.explanation,
            )
            for a in case.answers
        ],
        answered_late=case.answered_late,
        version=case.version,
    )
    message.opened_at.FromDatetime(case.opened_at)
    if case.acknowledged_at is not None:
        message.acknowledged_at.FromDatetime(case.acknowledged_at)
    if case.answered_at is not None:
        message.answered_at.FromDatetime(case.answered_at)
    return message


async def _abort_invalid(
    context: grpc.aio.ServicerContext[Any, Any], problems: Sequence[AnswerProblem]
) -> NoReturn:
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


def _after(token: str) -> tuple[datetime, uuid.UUID] | None:
    if not token:
        return None
    try:
        return cursor.decode(token)
    except cursor.BadCursor as error:
        raise AnswerProblem("page_token", "not a token this server gave") from error


class AgencyService(pb_grpc.AgencyServiceServicer):
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def _agency(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
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
        context: grpc.aio.ServicerContext[Any, Any],
        executor: store.Executor,
        agency_id: str,
        case_id: str,
        *,
        for_update: bool = False,
    ) -> store.Case:
        try:
            case = await store.get_case(executor, uuid.UUID(case_id), for_update=for_update)
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

    async def ListCases(
        self, request: pb.ListCasesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCasesResponse:
        agency_id = await self._agency(context)
        if request.page_size > MAX_PAGE_SIZE:
            await _abort_invalid(context, [AnswerProblem("page_size", f"at most {MAX_PAGE_SIZE}")])
        try:
            after = _after(request.page_token)
        except AnswerProblem as problem:
            await _abort_invalid(context, [problem])
        limit = request.page_size or DEFAULT_PAGE_SIZE
        wanted = {wire: domain for domain, wire in _STATUSES.items()}.get(request.status)
        cases = await store.list_cases(
            self._pool, agency_id=agency_id, limit=limit + 1, after=after, status=wanted
        )
        page, more = cases[:limit], len(cases) > limit
        return pb.ListCasesResponse(
            cases=[case_message(case) for case in page],
            next_page_token=cursor.encode(page[-1].opened_at, page[-1].id) if more else "",
        )

    async def GetCase(
        self, request: pb.GetCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Case:
        agency_id = await self._agency(context)
        return case_message(await self._own_case(context, self._pool, agency_id, request.case_id))

    async def AcknowledgeCase(
        self, request: pb.AcknowledgeCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
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
                    await store.acknowledge(connection, case, at=datetime.now(UTC))
                case = await store.get_case(connection, case.id)
        return case_message(case)

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

    async def SubmitAnswer(
        self, request: pb.SubmitAnswerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SubmitAnswerResponse:
        agency_id = await self._agency(context)
        if not request.request_id.strip():
            await _abort_invalid(context, [AnswerProblem("request_id", "required")])
        answers: list[PointAnswer] = []
        problems: list[AnswerProblem] = []
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
            if not case.status.answerable:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, f"case {case.id} is {case.status.value}"
                )
            problems += check_answer({p.number for p in case.points}, answers)
            if problems:
                await _abort_invalid(context, problems)
            answered_at = datetime.now(UTC)
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
