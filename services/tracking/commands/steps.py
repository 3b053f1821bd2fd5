"""The deadline steps whose time has come: reminders, overdue, escalation."""

from __future__ import annotations

from datetime import datetime

from opentelemetry import trace

from contracts.events import (
    CaseEscalated,
    CaseOverdue,
    ReminderDue,
)
from contracts.lifecycle import CaseStatus, Change
from services.platform import db, outbox, telemetry
from services.tracking import store
from services.tracking.domain import (
    Step,
    answerable,
    step_detail,
    step_of,
)

tracer = trace.get_tracer(__name__)


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
