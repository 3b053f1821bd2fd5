"""What tracking reports about a submitted critique (delivered, acknowledged, reminders,
extension requests and the organisation's decisions, overdue, escalation, the answer), kept on
the submitting side so that an organisation follows its critiques without asking tracking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from contracts.events import (
    CaseAcknowledged,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    DueDateChanged,
    ExtensionDecided,
    ExtensionRequested,
    ReminderDue,
)
from contracts.submission_api import CritiqueStatus, HistoryStep
from services.platform import db, outbox
from services.submission import store
from services.submission.domain import advance


async def _report(
    connection: db.Connection,
    critique_id: uuid.UUID,
    reported: CritiqueStatus,
    step: HistoryStep,
    *,
    at: datetime,
    detail: dict[str, Any],
    columns: dict[str, Any],
) -> None:
    """Apply a step tracking reported: history always, status only forwards."""
    row = await connection.fetchrow(
        "SELECT status, version FROM critiques WHERE id = $1 FOR UPDATE", critique_id
    )
    if row is None:
        return  # not ours: another submission deployment's critique
    status = advance(CritiqueStatus(row["status"]), reported)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    await connection.execute(
        f"UPDATE critiques SET status = $2{', ' if columns else ''}{assignments} WHERE id = $1",
        critique_id,
        status.value,
        *columns.values(),
    )
    await store.record_history(
        connection, critique_id, step, at=at, version=row["version"], detail=detail
    )


async def case_opened(connection: db.Connection, event: CaseOpened) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.CASE_OPENED,
        at=event.opened_at,
        detail={"due_date": event.due_date.isoformat(), "due_rule": event.due_rule.explanation},
        columns={"case_id": event.case_id, "due_date": event.due_date},
    )


async def case_acknowledged(connection: db.Connection, event: CaseAcknowledged) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.ACKNOWLEDGED,
        HistoryStep.ACKNOWLEDGED,
        at=event.acknowledged_at,
        detail={},
        columns={"acknowledged_at": event.acknowledged_at},
    )


async def case_overdue(connection: db.Connection, event: CaseOverdue) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.OVERDUE,
        at=event.at,
        detail={"due_date": event.due_date.isoformat()},
        columns={"overdue_at": event.at},
    )


async def reminder_sent(connection: db.Connection, event: ReminderDue) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.REMINDER_SENT,
        at=event.at,
        detail={"days_left": event.days_left},
        columns={},
    )


async def due_date_changed(connection: db.Connection, event: DueDateChanged) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.DUE_DATE_CHANGED,
        at=event.changed_at,
        detail={"due_date": event.due_date.isoformat(), "due_rule": event.due_rule.explanation},
        columns={"due_date": event.due_date, "overdue_at": None},
    )


async def escalated(connection: db.Connection, event: CaseEscalated) -> None:
    """Note it on the critique, and address it to the committee one level up (which may be
    served by this deployment even when the critique is not)."""
    title = await connection.fetchval(
        "SELECT title FROM critiques WHERE id = $1", event.critique_id
    )
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.AWAITING_REPLY,
        HistoryStep.ESCALATED,
        at=event.at,
        detail={"escalated_to": event.escalated_to},
        columns={},
    )
    if event.escalated_to is not None:
        await connection.execute(
            """
            INSERT INTO escalations (critique_id, escalated_to, organisation_id, agency_id, title,
                                     due_date, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
            """,
            event.critique_id,
            event.escalated_to,
            event.organisation_id,
            event.agency_id,
            title or "",
            event.due_date,
            event.at,
        )


async def extension_requested(connection: db.Connection, event: ExtensionRequested) -> None:
    await _report(
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
        columns={},
    )
    await connection.execute(
        """
        INSERT INTO extensions (id, critique_id, reason, current_due_date, requested_due_date,
                                requested_at, status)
        SELECT $1, $2, $3, $4, $5, $6, 'pending'
        WHERE EXISTS (SELECT 1 FROM critiques WHERE id = $2)
        ON CONFLICT DO NOTHING
        """,
        event.extension_id,
        event.critique_id,
        event.reason,
        event.current_due_date,
        event.requested_due_date,
        event.requested_at,
    )


@dataclass(frozen=True)
class Extension:
    id: uuid.UUID
    critique_id: uuid.UUID
    reason: str
    current_due_date: date
    requested_due_date: date
    requested_at: datetime
    status: str
    decided_at: datetime | None
    note: str


async def extensions(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[Extension]:
    await store.critique(executor, critique_id=critique_id, organisation_id=organisation_id)
    rows = await executor.fetch(
        "SELECT * FROM extensions WHERE critique_id = $1 ORDER BY requested_at", critique_id
    )
    return [Extension(**dict(row)) for row in rows]


class AlreadyDecided(ValueError):
    """The extension was decided the other way already."""


async def decide_extension(
    connection: db.Connection,
    *,
    critique_id: uuid.UUID,
    extension_id: uuid.UUID,
    organisation_id: str,
    grant: bool,
    note: str,
) -> Extension:
    """Grant or refuse once; the same decision again changes nothing."""
    row = await store.lock(connection, critique_id, organisation_id)
    found = await connection.fetchrow(
        "SELECT * FROM extensions WHERE id = $1 AND critique_id = $2 FOR UPDATE",
        extension_id,
        critique_id,
    )
    if found is None:
        raise store.NotFound(extension_id)
    decision = "granted" if grant else "refused"
    if found["status"] != "pending":
        if found["status"] != decision:
            raise AlreadyDecided(found["status"])
        return Extension(**dict(found))
    now = datetime.now(UTC)
    decided = await connection.fetchrow(
        "UPDATE extensions SET status = $2, decided_at = $3, note = $4 WHERE id = $1 RETURNING *",
        extension_id,
        decision,
        now,
        note,
    )
    assert decided is not None
    await store.record_history(
        connection,
        critique_id,
        HistoryStep.EXTENSION_GRANTED if grant else HistoryStep.EXTENSION_REFUSED,
        at=now,
        version=row["version"],
        detail={"extension_id": str(extension_id), "note": note},
    )
    await outbox.record(
        connection,
        ExtensionDecided(
            critique_id=critique_id,
            extension_id=extension_id,
            granted=grant,
            note=note,
            decided_at=now,
        ),
        occurred_at=now,
    )
    return Extension(**dict(decided))


@dataclass(frozen=True)
class Escalation:
    critique_id: uuid.UUID
    organisation_id: str
    agency_id: str
    title: str
    due_date: date
    at: datetime


async def escalations_to(executor: db.Executor, organisation_id: str) -> list[Escalation]:
    rows = await executor.fetch(
        "SELECT critique_id, organisation_id, agency_id, title, due_date, at FROM escalations"
        " WHERE escalated_to = $1 ORDER BY at DESC LIMIT 500",
        organisation_id,
    )
    return [Escalation(**dict(row)) for row in rows]


async def case_answered(connection: db.Connection, event: CaseAnswered) -> None:
    await _report(
        connection,
        event.critique_id,
        CritiqueStatus.ANSWERED,
        HistoryStep.ANSWERED,
        at=event.answered_at,
        detail={"late": event.late},
        columns={"answered_at": event.answered_at, "answered_late": event.late},
    )
    await connection.executemany(
        """
        INSERT INTO critique_answers (critique_id, point_number, disposition, explanation)
        SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM critiques WHERE id = $1)
        ON CONFLICT (critique_id, point_number) DO UPDATE
            SET disposition = excluded.disposition, explanation = excluded.explanation
        """,
        [
            (event.critique_id, a.point_number, a.disposition.value, a.explanation)
            for a in event.answers
        ],
    )
