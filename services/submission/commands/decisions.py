"""What tracking decided and reported about a submitted critique (delivered, acknowledged,
amended, withdrawn, requests refused, reminders, extension requests and their decisions,
overdue, escalation, the answer), applied to submission's view of the critique, so that an
organisation follows its critiques without asking tracking, and its pending requests learn their
outcome. Each runs in the consumer's transaction, with the inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.events import (
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    DueDateChanged,
    ExtensionDecided,
    ExtensionRequested,
    ReminderDue,
    RequestRefused,
)
from contracts.lifecycle import ExtensionStatus, RequestKind, RequestStatus
from contracts.submission_api import CritiqueStatus, HistoryStep
from services.platform import db
from services.submission import store
from services.submission.commands.citing import citations
from services.submission.domain import advance

_REFUSED_STEP = {
    RequestKind.AMENDMENT: HistoryStep.AMENDMENT_REFUSED,
    RequestKind.WITHDRAWAL: HistoryStep.WITHDRAWAL_REFUSED,
    RequestKind.EXTENSION_DECISION: HistoryStep.EXTENSION_DECISION_REFUSED,
}


async def _report(
    connection: db.Connection,
    critique_id: uuid.UUID,
    reported: CritiqueStatus,
    step: HistoryStep,
    *,
    at: datetime,
    detail: dict[str, Any],
    **columns: Any,
) -> store.Standing | None:
    """Apply a step tracking reported: history always, status only forwards. None when the
    critique is not this deployment's. Two statements: the lock, then the change."""
    critique = await store.lock_standing(connection, critique_id)
    if critique is None:
        return None
    await store.update_with_history(
        connection,
        critique_id,
        step,
        at=at,
        version=critique.version,
        detail=detail,
        status=advance(critique.status, reported).value,
        **columns,
    )
    return critique


async def case_opened(connection: db.Connection, event: CaseOpened) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.CASE_OPENED,
        at=event.opened_at,
        detail={"due_date": event.due_date.isoformat(), "due_rule": event.due_rule.explanation},
        case_id=event.case_id,
        due_date=event.due_date,
    )


async def case_acknowledged(connection: db.Connection, event: CaseAcknowledged) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.ACKNOWLEDGED,
        HistoryStep.ACKNOWLEDGED,
        at=event.acknowledged_at,
        detail={},
        acknowledged_at=event.acknowledged_at,
    )


async def case_amended(connection: db.Connection, event: CaseAmended) -> None:
    """The amendment tracking accepted: the critique's content and version are now its."""
    critique = await store.lock(connection, event.critique_id)
    if critique is None:
        return
    if event.version > critique.version:
        # Checked when the amendment was asked for, against the same immutable version.
        content, cited = await citations(connection, event.content, agency_id=critique.agency_id)
        await store.replace_content(
            connection,
            critique.id,
            content=content,
            cited=cited,
            version=event.version,
            at=event.amended_at,
        )
    await store.decide_request(
        connection,
        event.request_id,
        status=RequestStatus.ACCEPTED,
        at=event.amended_at,
        version=event.version,
    )
    await store.record_history(
        connection,
        critique.id,
        HistoryStep.AMENDED,
        at=event.amended_at,
        version=event.version,
        detail={
            "request_id": str(event.request_id),
            "content": event.content.model_dump(mode="json"),
        },
    )


async def case_withdrawn(connection: db.Connection, event: CaseWithdrawn) -> None:
    critique = await _report(
        connection,
        event.critique_id,
        CritiqueStatus.WITHDRAWN,
        HistoryStep.WITHDRAWN,
        at=event.withdrawn_at,
        detail={"request_id": str(event.request_id), "reason": event.reason},
        withdrawn_at=event.withdrawn_at,
        withdrawal_reason=event.reason,
        updated_at=event.withdrawn_at,
    )
    if critique is not None:
        await store.decide_request(
            connection,
            event.request_id,
            status=RequestStatus.ACCEPTED,
            at=event.withdrawn_at,
            version=critique.version,
        )


async def request_refused(connection: db.Connection, event: RequestRefused) -> None:
    critique = await store.lock(connection, event.critique_id)
    if critique is None:
        return
    await store.decide_request(
        connection,
        event.request_id,
        status=RequestStatus.REFUSED,
        at=event.refused_at,
        version=event.current_version,
        refusal_reason=event.reason,
        refusal_detail=event.detail,
    )
    await store.record_history(
        connection,
        critique.id,
        _REFUSED_STEP[event.request],
        at=event.refused_at,
        version=critique.version,
        detail={
            "request_id": str(event.request_id),
            "reason": event.reason.value,
            "detail": event.detail,
        },
    )


async def extension_requested(connection: db.Connection, event: ExtensionRequested) -> None:
    critique = await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.EXTENSION_REQUESTED,
        at=event.requested_at,
        detail={
            "extension_id": str(event.extension_id),
            "requested_due_date": event.requested_due_date.isoformat(),
            "reason": event.reason,
        },
    )
    if critique is not None:
        await store.insert_extension(
            connection,
            extension_id=event.extension_id,
            critique_id=event.critique_id,
            reason=event.reason,
            current_due_date=event.current_due_date,
            requested_due_date=event.requested_due_date,
            requested_at=event.requested_at,
        )


async def extension_decided(connection: db.Connection, event: ExtensionDecided) -> None:
    critique = await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.EXTENSION_GRANTED if event.granted else HistoryStep.EXTENSION_REFUSED,
        at=event.decided_at,
        detail={
            "request_id": str(event.request_id),
            "extension_id": str(event.extension_id),
            "note": event.note,
        },
    )
    if critique is None:
        return
    await store.decide_extension(
        connection,
        event.extension_id,
        status=ExtensionStatus.GRANTED if event.granted else ExtensionStatus.REFUSED,
        at=event.decided_at,
        note=event.note,
    )
    await store.decide_request(
        connection,
        event.request_id,
        status=RequestStatus.ACCEPTED,
        at=event.decided_at,
        version=critique.version,
    )


async def due_date_changed(connection: db.Connection, event: DueDateChanged) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.DUE_DATE_CHANGED,
        at=event.changed_at,
        detail={"due_date": event.due_date.isoformat(), "due_rule": event.due_rule.explanation},
        due_date=event.due_date,
        overdue_at=None,
    )


async def reminder_sent(connection: db.Connection, event: ReminderDue) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.REMINDER_SENT,
        at=event.at,
        detail={"days_left": event.days_left},
    )


async def case_overdue(connection: db.Connection, event: CaseOverdue) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.OVERDUE,
        at=event.at,
        detail={"due_date": event.due_date.isoformat()},
        overdue_at=event.at,
    )


async def escalated(connection: db.Connection, event: CaseEscalated) -> None:
    """Note it on the critique, and address it to the committee one level up (which may be
    served by this deployment even when the critique is not)."""
    critique = await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.ESCALATED,
        at=event.at,
        detail={"escalated_to": event.escalated_to},
    )
    if event.escalated_to is not None:
        await store.insert_escalation(
            connection,
            store.Escalation(
                critique_id=event.critique_id,
                organisation_id=event.organisation_id,
                agency_id=event.agency_id,
                title=critique.title if critique else "",
                due_date=event.due_date,
                at=event.at,
            ),
            event.escalated_to,
        )


async def case_answered(connection: db.Connection, event: CaseAnswered) -> None:
    critique = await _report(
        connection,
        event.critique_id,
        CritiqueStatus.ANSWERED,
        HistoryStep.ANSWERED,
        at=event.answered_at,
        detail={"late": event.late, "version": event.version},
        answered_at=event.answered_at,
        answered_late=event.late,
        answered_version=event.version,
    )
    if critique is not None:
        await store.save_answers(connection, event.critique_id, event.answers)
