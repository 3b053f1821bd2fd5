"""Submission's event handlers: the agency directory, and each case's progress at tracking."""

from __future__ import annotations

from contracts.events import (
    AgencyRegistered,
    CaseAcknowledged,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    DueDateChanged,
    ExtensionRequested,
    ReminderDue,
    Topic,
)
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Subscription
from services.submission import directory, progress


async def _on_agency(connection: db.Connection, _: Envelope, event: AgencyRegistered) -> None:
    await directory.remember_agency(connection, event)


async def _on_opened(connection: db.Connection, _: Envelope, event: CaseOpened) -> None:
    await progress.case_opened(connection, event)


async def _on_acknowledged(connection: db.Connection, _: Envelope, event: CaseAcknowledged) -> None:
    await progress.case_acknowledged(connection, event)


async def _on_answered(connection: db.Connection, _: Envelope, event: CaseAnswered) -> None:
    await progress.case_answered(connection, event)


async def _on_extension(connection: db.Connection, _: Envelope, event: ExtensionRequested) -> None:
    await progress.extension_requested(connection, event)


async def _on_due_date(connection: db.Connection, _: Envelope, event: DueDateChanged) -> None:
    await progress.due_date_changed(connection, event)


async def _on_reminder(connection: db.Connection, _: Envelope, event: ReminderDue) -> None:
    await progress.reminder_sent(connection, event)


async def _on_overdue(connection: db.Connection, _: Envelope, event: CaseOverdue) -> None:
    await progress.case_overdue(connection, event)


async def _on_escalated(connection: db.Connection, _: Envelope, event: CaseEscalated) -> None:
    await progress.escalated(connection, event)


SUBSCRIPTION = Subscription(
    name="submission",
    topics=(Topic.AGENCIES, Topic.CASES),
    handlers={
        AgencyRegistered: _on_agency,
        CaseOpened: _on_opened,
        CaseAcknowledged: _on_acknowledged,
        CaseAnswered: _on_answered,
        ExtensionRequested: _on_extension,
        DueDateChanged: _on_due_date,
        ReminderDue: _on_reminder,
        CaseOverdue: _on_overdue,
        CaseEscalated: _on_escalated,
    },
)
