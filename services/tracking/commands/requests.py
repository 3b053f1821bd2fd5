"""The organisation's requests, asked of submission and heard here as request events: each is
decided once, on tracking's own case, and the decision published (accepted, or refused with
the reason)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from contracts.events import (
    AmendmentRequested,
    CaseAmended,
    CaseWithdrawn,
    CritiqueEvent,
    DueDateChanged,
    ExtensionDecided,
    ExtensionDecisionRequested,
    RequestRefused,
    WithdrawalRequested,
)
from contracts.lifecycle import Change, ExtensionStatus, RefusalReason, RequestKind
from services.platform import db, outbox
from services.tracking import store
from services.tracking.domain import (
    Refusal,
    SchedulePolicy,
    change_refusal,
    extended_rule,
    extension_decision_refusal,
    overdue_ends,
)

log = logging.getLogger(__name__)


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
