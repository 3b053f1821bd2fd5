"""The deadline scheduler: reminders before the due date, overdue when it passes, escalation
one Front level up.

Steps are rows (``deadline_steps``) planned in the transaction that opens a case or moves its
due date. A step fires in one transaction with its event (outbox), its history entry and its
``fired_at``: a crash before the commit leaves it to fire again, a crash after it cannot repeat
it. ``FOR UPDATE SKIP LOCKED`` lets several instances share the work without firing one step
twice. Time is a parameter, so tests move it at will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime

from opentelemetry import trace

from contracts.events import CaseEscalated, CaseOverdue, ReminderDue
from contracts.lifecycle import Change
from services.platform import db, outbox, telemetry
from services.tracking.domain import ScheduledStep

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


async def plan(
    connection: db.Connection, case_id: uuid.UUID, due_date: date, steps: Sequence[ScheduledStep]
) -> None:
    await connection.executemany(
        "INSERT INTO deadline_steps (case_id, step, due_date, fire_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        [(case_id, step.key, due_date, step.fire_at) for step in steps],
    )


async def cancel(connection: db.Connection, case_id: uuid.UUID) -> None:
    """Drop the steps not yet fired (the case was answered, withdrawn, or its date moved)."""
    await connection.execute(
        "DELETE FROM deadline_steps WHERE case_id = $1 AND fired_at IS NULL", case_id
    )


async def fire_due(pool: db.Pool, *, now: datetime, limit: int = 100) -> int:
    """Fire the steps whose time has come; return how many fired."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(
            """
            SELECT s.case_id, s.step, s.due_date, c.critique_id, c.agency_id, c.organisation_id,
                   c.organisation_parent_id, c.traceparent, c.tracestate
            FROM deadline_steps s JOIN cases c ON c.id = s.case_id
            WHERE s.fired_at IS NULL AND s.fire_at <= $1
            ORDER BY s.fire_at
            LIMIT $2
            FOR UPDATE OF s SKIP LOCKED
            """,
            now,
            limit,
        )
        for row in rows:
            await _fire(connection, row, now)
        return len(rows)


async def _fire(connection: db.Connection, row: db.Record, now: datetime) -> None:
    step: str = row["step"]
    journey = {name: row[name] for name in ("traceparent", "tracestate") if row[name]}
    with tracer.start_as_current_span(
        f"deadline {step.split('-')[0]}",
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
        if step.startswith("reminder-"):
            days_left = int(step.removeprefix("reminder-"))
            event: ReminderDue | CaseOverdue | CaseEscalated = ReminderDue(
                **common, days_left=days_left
            )
            change, detail = Change.REMINDER, f"{days_left} ngày / days left"
        elif step == "overdue":
            event = CaseOverdue(**common)
            change, detail = Change.OVERDUE, f"quá hạn {row['due_date']:%d/%m/%Y} / overdue"
            await connection.execute(
                "UPDATE cases SET overdue_at = $2 WHERE id = $1", row["case_id"], now
            )
        else:
            parent = row["organisation_parent_id"]
            event = CaseEscalated(
                **common, organisation_id=row["organisation_id"], escalated_to=parent
            )
            change = Change.ESCALATED
            detail = parent or "không có cấp trên / no higher Front level"
            await connection.execute(
                "UPDATE cases SET escalated_at = $2 WHERE id = $1", row["case_id"], now
            )
        await connection.execute(
            "UPDATE deadline_steps SET fired_at = $4"
            " WHERE case_id = $1 AND step = $2 AND due_date = $3",
            row["case_id"],
            step,
            row["due_date"],
            now,
        )
        await connection.execute(
            "INSERT INTO case_history (case_id, agency_id, at, change, detail)"
            " VALUES ($1, $2, $3, $4, $5)",
            row["case_id"],
            row["agency_id"],
            now,
            change.value,
            detail,
        )
        await outbox.record(connection, event, occurred_at=now)


class Scheduler:
    """Fires due steps every ``interval`` seconds until cancelled."""

    def __init__(self, pool: db.Pool, *, clock: Clock = system_clock, interval: float) -> None:
        self._pool = pool
        self._clock = clock
        self._interval = interval

    async def run(self) -> None:
        while True:
            try:
                while await fire_due(self._pool, now=self._clock()):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "deadline scheduler interrupted; retrying", extra={"error": repr(error)}
                )
            await asyncio.sleep(self._interval)


@contextlib.asynccontextmanager
async def running(pool: db.Pool, *, clock: Clock, interval: float) -> AsyncIterator[None]:
    task = asyncio.create_task(Scheduler(pool, clock=clock, interval=interval).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
