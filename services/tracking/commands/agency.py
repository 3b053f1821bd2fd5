"""The agency's steps (acknowledge, ask for more time, answer), each on its own case, locked
for the transaction that records it."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime

from opentelemetry import trace

from contracts.events import (
    CaseAcknowledged,
    CaseAnswered,
    ExtensionRequested,
    PointAnswer,
)
from contracts.lifecycle import CaseStatus, Change, ExtensionStatus, RefusalReason
from contracts.vocabulary import VIETNAM
from services.platform import db, outbox, telemetry
from services.tracking import store
from services.tracking.domain import (
    AnswerProblem,
    InvalidRequest,
    NotYourCase,
    Refusal,
    Refused,
    answer_refusal,
    answerable,
    check_answer,
    extension_problems,
    is_late,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


async def _own_case(connection: db.Connection, agency_id: str, case_id: uuid.UUID) -> store.Case:
    """The agency's case, locked for this transaction."""
    case = await store.get_case(connection, case_id, for_update=True)
    if case.agency_id != agency_id:
        raise NotYourCase(case_id)
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CASE_ID, str(case.id))
    span.set_attribute(telemetry.ATTR_CRITIQUE_ID, str(case.critique_id))
    return case


@contextlib.contextmanager
def _journey(step: str, case: store.Case) -> Iterator[None]:
    """An agency's step belongs to the submission's journey: the events it causes continue that
    trace, and the agency's own call (its own trace) is linked to it both ways."""
    call = trace.get_current_span()
    with tracer.start_as_current_span(
        step,
        context=telemetry.extract(case.trace_headers),
        links=[trace.Link(call.get_span_context())],
        attributes={
            telemetry.ATTR_CASE_ID: str(case.id),
            telemetry.ATTR_CRITIQUE_ID: str(case.critique_id),
            telemetry.ATTR_AGENCY_ID: case.agency_id,
            telemetry.ATTR_ORGANISATION_ID: case.organisation_id,
        },
    ) as journey:
        call.add_link(journey.get_span_context())
        yield


async def acknowledge(
    pool: db.Pool, *, agency_id: str, case_id: uuid.UUID, now: datetime
) -> store.Case:
    """Confirm receipt: from then on the organisation can no longer amend or withdraw. Again,
    or after the answer, it changes nothing; a withdrawn case cannot be acknowledged."""
    async with pool.acquire() as connection, connection.transaction():
        case = await _own_case(connection, agency_id, case_id)
        if case.status is CaseStatus.WITHDRAWN:
            raise Refused(
                Refusal(RefusalReason.WITHDRAWN, f"case {case.id} was withdrawn", case.version)
            )
        if case.acknowledged_at is None and case.status is CaseStatus.AWAITING_ANSWER:
            with _journey("acknowledge case", case):
                await store.mark_acknowledged(connection, case, at=now)
                await store.record_history(connection, case, Change.ACKNOWLEDGED, at=now)
                await outbox.record(
                    connection,
                    CaseAcknowledged(
                        critique_id=case.critique_id,
                        case_id=case.id,
                        agency_id=case.agency_id,
                        acknowledged_at=now,
                    ),
                    occurred_at=now,
                )
        return await store.get_case(connection, case.id, with_history=True)


async def request_extension(
    pool: db.Pool,
    *,
    agency_id: str,
    case_id: uuid.UUID,
    request_id: str,
    reason: str,
    requested_due_date: date,
    now: datetime,
) -> store.Case:
    """Ask the organisation for a later due date, once per ``request_id``."""
    async with pool.acquire() as connection, connection.transaction():
        case = await _own_case(connection, agency_id, case_id)
        if not any(e.request_id == request_id for e in case.extensions):
            if not answerable(case.status):
                raise Refused(
                    Refusal(
                        _closed_reason(case.status),
                        f"case {case.id} is {case.status}",
                        case.version,
                    )
                )
            if any(e.status is ExtensionStatus.PENDING for e in case.extensions):
                raise Refused(
                    Refusal(
                        RefusalReason.EXTENSION_PENDING,
                        "an extension request is already awaiting the organisation's decision",
                        case.version,
                    )
                )
            problems = extension_problems(
                requested=requested_due_date,
                current_due_date=case.due_date,
                today=now.astimezone(VIETNAM).date(),
                reason=reason,
            )
            if problems:
                raise InvalidRequest(problems)
            with _journey("request extension", case):
                await _record_extension_request(
                    connection, case, request_id, reason.strip(), requested_due_date, now
                )
        return await store.get_case(connection, case.id, with_history=True)


def _closed_reason(status: CaseStatus) -> RefusalReason:
    return RefusalReason.WITHDRAWN if status is CaseStatus.WITHDRAWN else RefusalReason.ANSWERED


async def _record_extension_request(
    connection: db.Connection,
    case: store.Case,
    request_id: str,
    reason: str,
    requested_due_date: date,
    now: datetime,
) -> None:
    extension_id = uuid.uuid4()
    if not await store.insert_extension(
        connection,
        case,
        extension_id=extension_id,
        request_id=request_id,
        reason=reason,
        requested_due_date=requested_due_date,
        at=now,
    ):
        return
    await store.record_history(
        connection,
        case,
        Change.EXTENSION_REQUESTED,
        at=now,
        detail=f"{requested_due_date.isoformat()}: {reason}",
    )
    await outbox.record(
        connection,
        ExtensionRequested(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            extension_id=extension_id,
            reason=reason,
            current_due_date=case.due_date,
            requested_due_date=requested_due_date,
            requested_at=now,
        ),
        occurred_at=now,
    )


async def answer(
    pool: db.Pool,
    *,
    agency_id: str,
    case_id: uuid.UUID,
    request_id: str,
    version: int,
    answers: Sequence[PointAnswer],
    now: datetime,
    unread: Sequence[AnswerProblem] = (),
) -> store.Case:
    """Answer every point of the case at ``version``, at once. A retry of the same
    ``request_id`` returns the case as answered; no reminder follows an answer. ``unread``:
    what the entry point could not read of the answers, refused together with what breaks the
    rules."""
    async with pool.acquire() as connection, connection.transaction():
        case = await _own_case(connection, agency_id, case_id)
        if case.status is CaseStatus.ANSWERED and case.answer_request_id == request_id:
            return case
        if refusal := answer_refusal(
            status=case.status, version=case.version, answered_version=version
        ):
            raise Refused(refusal)
        problems = [*unread, *check_answer({p.number for p in case.points}, list(answers))]
        if problems:
            raise InvalidRequest(problems)
        late = is_late(now, case.due_date)
        ordered = tuple(sorted(answers, key=lambda a: a.point_number))
        with _journey("answer case", case):
            answered = await store.mark_answered(
                connection, case, request_id=request_id, answers=ordered, answered_at=now, late=late
            )
            await store.cancel_steps(connection, case.id)
            await store.record_history(
                connection, case, Change.ANSWERED, at=now, detail="late" if late else "on time"
            )
            await outbox.record(
                connection,
                CaseAnswered(
                    critique_id=case.critique_id,
                    case_id=case.id,
                    agency_id=case.agency_id,
                    answered_at=now,
                    late=late,
                    answers=ordered,
                    version=case.version,
                ),
                occurred_at=now,
            )
        log.info(
            "case answered",
            extra={
                "case_id": str(case.id),
                "critique_id": str(case.critique_id),
                "agency_id": case.agency_id,
                "late": late,
            },
        )
        return answered
