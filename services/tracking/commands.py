"""Tracking's use cases. Tracking decides every step of a critique after its submission
(contracts/transitions.py): the agency's (acknowledge, ask for more time, answer), the
organisation's requests that reach it through submission (amend, withdraw, decide an
extension), and the deadlines'. Each is decided here, on tracking's own case, locked for the
transaction that records the step, its history entry and its event (outbox): no step is ever
decided on a copy, and none is undone by a request decided later.

The gRPC entry point and the deadline scheduler call the functions taking a pool (each opens its
transaction); the consumer calls those taking a connection, in its batch transaction with the
inbox.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime

from opentelemetry import trace

from contracts.events import (
    AgencyKind,
    AgencyRegistered,
    AmendmentRequested,
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    CritiqueEvent,
    CritiqueSubmitted,
    DueDateChanged,
    ExtensionDecided,
    ExtensionDecisionRequested,
    ExtensionRequested,
    Level,
    PointAnswer,
    ReminderDue,
    RequestRefused,
    WithdrawalRequested,
)
from contracts.lifecycle import CaseStatus, Change, ExtensionStatus, RefusalReason, RequestKind
from contracts.vocabulary import VIETNAM
from services.platform import db, outbox, telemetry
from services.tracking import store
from services.tracking.deadlines import DeadlinePolicy, compute_due
from services.tracking.domain import (
    AnswerProblem,
    InvalidRequest,
    NotYourCase,
    Refusal,
    Refused,
    SchedulePolicy,
    Step,
    answer_refusal,
    answerable,
    change_refusal,
    check_answer,
    extended_rule,
    extension_decision_refusal,
    extension_problems,
    is_late,
    overdue_ends,
    step_detail,
    step_of,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


# --- the directory -------------------------------------------------------------------------------


async def register_agency(
    pool: db.Pool,
    *,
    agency_id: str,
    name: str,
    level: Level,
    kind: AgencyKind,
    parent_id: str | None = None,
) -> None:
    """Add or update a directory entry and announce it, so submission accepts critiques to it."""
    async with pool.acquire() as connection, connection.transaction():
        await store.save_agency(
            connection, agency_id=agency_id, name=name, level=level, kind=kind, parent_id=parent_id
        )
        await outbox.record(
            connection,
            AgencyRegistered(
                agency_id=agency_id, name=name, level=level, kind=kind, parent_id=parent_id
            ),
        )


# --- opening a case ------------------------------------------------------------------------------


async def open_case(
    connection: db.Connection,
    submitted: CritiqueSubmitted,
    *,
    policy: DeadlinePolicy,
    steps: SchedulePolicy,
    now: datetime,
) -> uuid.UUID | None:
    """Open the case for a submitted critique, with its due date, deadline steps and
    ``case.opened``; None if it is open already. The journey's trace context is kept so that
    the agency's steps join it."""
    rule, source = policy.rule_for(submitted.kind, submitted.organisation.level)
    due = compute_due(submitted.submitted_at, rule, source=source)
    case_id = uuid.uuid4()
    opened = await store.insert_case(
        connection,
        submitted,
        case_id=case_id,
        opened_at=now,
        due_date=due.due_date,
        due_rule=due.rule_record,
        journey=telemetry.inject_current(),
    )
    if not opened:
        return None  # the same critique heard again through another event id
    case = await store.get_case(connection, case_id)
    await store.record_history(connection, case, Change.OPENED, at=now, detail=due.explanation)
    await store.plan_steps(connection, case_id, due.due_date, steps.steps(due.due_date, after=now))
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CASE_ID, str(case_id))
    span.set_attribute(telemetry.ATTR_AGENCY_ID, submitted.agency_id)
    span.set_attribute(telemetry.ATTR_ORGANISATION_ID, submitted.organisation.id)
    await outbox.record(
        connection,
        CaseOpened(
            critique_id=submitted.critique_id,
            case_id=case_id,
            agency_id=submitted.agency_id,
            opened_at=now,
            due_date=due.due_date,
            due_rule=due.rule_record,
        ),
        occurred_at=now,
    )
    log.info(
        "case opened",
        extra={
            "case_id": str(case_id),
            "critique_id": str(submitted.critique_id),
            "agency_id": submitted.agency_id,
            "due_date": due.due_date.isoformat(),
        },
    )
    return case_id


# --- the agency's steps ----------------------------------------------------------------------


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
            await store.mark_answered(
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
        return await store.get_case(connection, case.id)


# --- the organisation's requests, heard from submission --------------------------------------


async def _refuse(
    connection: db.Connection,
    request: CritiqueEvent,
    *,
    request_id: uuid.UUID,
    kind: RequestKind,
    case: store.Case | None,
    refusal: Refusal,
    now: datetime,
) -> None:
    await store.record_decision(
        connection,
        request_id=request_id,
        critique_id=request.critique_id,
        case_id=case.id if case else None,
        kind=kind,
        accepted=False,
        reason=refusal.reason.value,
        at=now,
    )
    await outbox.record(
        connection,
        RequestRefused(
            critique_id=request.critique_id,
            case_id=case.id if case else None,
            request_id=request_id,
            request=kind,
            reason=refusal.reason,
            detail=refusal.detail,
            current_version=refusal.current_version,
            refused_at=now,
        ),
        occurred_at=now,
    )
    log.info(
        "request refused",
        extra={
            "critique_id": str(request.critique_id),
            "request": kind.value,
            "reason": refusal.reason.value,
        },
    )


_NO_CASE = Refusal(
    RefusalReason.NO_CASE,
    "Chưa có hồ sơ cho văn bản này / Tracking has no case for this critique",
    0,
)


async def _accept(
    connection: db.Connection,
    request: CritiqueEvent,
    *,
    request_id: uuid.UUID,
    kind: RequestKind,
    case: store.Case,
    now: datetime,
) -> None:
    await store.record_decision(
        connection,
        request_id=request_id,
        critique_id=request.critique_id,
        case_id=case.id,
        kind=kind,
        accepted=True,
        reason=None,
        at=now,
    )


async def decide_amendment(
    connection: db.Connection, request: AmendmentRequested, *, now: datetime
) -> None:
    """Replace the case's content with the organisation's, unless the agency has acknowledged
    or answered it, it was withdrawn, or it is no longer at the version the organisation
    amended."""
    kind = RequestKind.AMENDMENT
    if await store.decided(connection, request.request_id):
        return  # the same request heard again
    case = await store.lock_case_of_critique(connection, request.critique_id)
    refusal = (
        _NO_CASE
        if case is None
        else change_refusal(
            status=case.status,
            acknowledged=case.acknowledged_at is not None,
            version=case.version,
            expected_version=request.expected_version,
        )
    )
    if refusal is not None:
        await _refuse(
            connection,
            request,
            request_id=request.request_id,
            kind=kind,
            case=case,
            refusal=refusal,
            now=now,
        )
        return
    assert case is not None
    version = case.version + 1
    await store.replace_content(
        connection,
        case,
        title=request.content.title,
        version=version,
        points=request.content.points,
    )
    await store.record_history(
        connection, case, Change.AMENDED, at=now, detail=f"version {version}"
    )
    await _accept(connection, request, request_id=request.request_id, kind=kind, case=case, now=now)
    await outbox.record(
        connection,
        CaseAmended(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            request_id=request.request_id,
            version=version,
            content=request.content,
            amended_at=now,
        ),
        occurred_at=now,
    )


async def decide_withdrawal(
    connection: db.Connection, request: WithdrawalRequested, *, now: datetime
) -> None:
    """Withdraw the case, unless the agency has acknowledged or answered it (or it is
    withdrawn already)."""
    kind = RequestKind.WITHDRAWAL
    if await store.decided(connection, request.request_id):
        return  # the same request heard again
    case = await store.lock_case_of_critique(connection, request.critique_id)
    refusal = (
        _NO_CASE
        if case is None
        else change_refusal(
            status=case.status, acknowledged=case.acknowledged_at is not None, version=case.version
        )
    )
    if refusal is not None:
        await _refuse(
            connection,
            request,
            request_id=request.request_id,
            kind=kind,
            case=case,
            refusal=refusal,
            now=now,
        )
        return
    assert case is not None
    await store.mark_withdrawn(connection, case, at=now)
    await store.cancel_steps(connection, case.id)
    await store.record_history(connection, case, Change.WITHDRAWN, at=now, detail=request.reason)
    await _accept(connection, request, request_id=request.request_id, kind=kind, case=case, now=now)
    await outbox.record(
        connection,
        CaseWithdrawn(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            request_id=request.request_id,
            reason=request.reason,
            withdrawn_at=now,
        ),
        occurred_at=now,
    )


async def decide_extension(
    connection: db.Connection,
    request: ExtensionDecisionRequested,
    *,
    steps: SchedulePolicy,
    now: datetime,
) -> None:
    """Apply the organisation's decision on a pending extension of a case still open; a
    granted extension moves the due date, and with it the deadline steps, and announces it."""
    kind = RequestKind.EXTENSION_DECISION
    if await store.decided(connection, request.request_id):
        return  # the same request heard again
    case = await store.lock_case_of_critique(connection, request.critique_id)
    extension = case.extension(request.extension_id) if case is not None else None
    refusal = (
        _NO_CASE
        if case is None
        else extension_decision_refusal(
            status=case.status,
            version=case.version,
            extension=extension.status if extension else None,
        )
    )
    if refusal is not None:
        await _refuse(
            connection,
            request,
            request_id=request.request_id,
            kind=kind,
            case=case,
            refusal=refusal,
            now=now,
        )
        return
    assert case is not None
    assert extension is not None
    granted = ExtensionStatus.GRANTED if request.grant else ExtensionStatus.REFUSED
    await store.decide_extension(
        connection, extension.id, status=granted, at=now, note=request.note
    )
    await _accept(connection, request, request_id=request.request_id, kind=kind, case=case, now=now)
    await outbox.record(
        connection,
        ExtensionDecided(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            request_id=request.request_id,
            extension_id=extension.id,
            granted=request.grant,
            note=request.note,
            decided_at=now,
        ),
        occurred_at=now,
    )
    if not request.grant:
        await store.record_history(
            connection, case, Change.EXTENSION_REFUSED, at=now, detail=request.note
        )
        return
    new_due = extension.requested_due_date
    rule = extended_rule(case.due_rule, new_due)
    await store.move_due_date(
        connection,
        case,
        due_date=new_due,
        due_rule=rule,
        overdue_ends=overdue_ends(overdue=case.overdue_at is not None, new_due=new_due, now=now),
    )
    await store.cancel_steps(connection, case.id)
    await store.plan_steps(connection, case.id, new_due, steps.steps(new_due, after=now))
    await store.record_history(
        connection, case, Change.EXTENSION_GRANTED, at=now, detail=new_due.isoformat()
    )
    await outbox.record(
        connection,
        DueDateChanged(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            extension_id=extension.id,
            due_date=new_due,
            due_rule=rule,
            changed_at=now,
        ),
        occurred_at=now,
    )


# --- the deadlines -------------------------------------------------------------------------------


async def fire_due(pool: db.Pool, *, now: datetime, limit: int = 100) -> int:
    """Fire the deadline steps whose time has come, each in this one transaction with its
    event, its history entry and its ``fired_at``: a crash before the commit leaves them to fire
    again, after it none fires twice. Return how many were taken (fired, or dropped because
    their case is no longer open)."""
    async with pool.acquire() as connection, connection.transaction():
        due = await store.lock_due_steps(connection, now=now, limit=limit)
        for step in due:
            await _fire(connection, step, now)
        return len(due)


async def _fire(connection: db.Connection, row: db.Record, now: datetime) -> None:
    if not answerable(CaseStatus(row["status"])):
        # Answered or withdrawn since it was planned (its steps are cancelled in that
        # transaction; this one was read before it committed): nothing is due any more.
        await store.drop_step(connection, row)
        return
    step, days_before = step_of(row["step"])
    journey = {name: row[name] for name in ("traceparent", "tracestate") if row[name]}
    with tracer.start_as_current_span(
        f"deadline {step.value}",
        context=telemetry.extract(journey),
        attributes={
            telemetry.ATTR_CASE_ID: str(row["case_id"]),
            telemetry.ATTR_CRITIQUE_ID: str(row["critique_id"]),
            telemetry.ATTR_AGENCY_ID: row["agency_id"],
        },
    ):
        common = {
            "critique_id": row["critique_id"],
            "case_id": row["case_id"],
            "agency_id": row["agency_id"],
            "due_date": row["due_date"],
            "at": now,
        }
        event: ReminderDue | CaseOverdue | CaseEscalated
        parent: str | None = row["organisation_parent_id"]
        if step is Step.REMINDER:
            event, change = ReminderDue(**common, days_left=days_before), Change.REMINDER
        elif step is Step.OVERDUE:
            event, change = CaseOverdue(**common), Change.OVERDUE
            await store.mark_overdue(connection, row["case_id"], at=now)
        else:
            event = CaseEscalated(
                **common, organisation_id=row["organisation_id"], escalated_to=parent
            )
            change = Change.ESCALATED
            await store.mark_escalated(connection, row["case_id"], at=now)
        await store.mark_fired(
            connection,
            row,
            at=now,
            agency_id=row["agency_id"],
            change=change,
            detail=step_detail(
                step, days_before=days_before, due_date=row["due_date"], escalated_to=parent
            ),
        )
        await outbox.record(connection, event, occurred_at=now)
