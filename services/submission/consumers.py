"""Submission's event handlers: the agency directory, and what tracking decided about each
critique (the organisation's pending requests among it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts.events import (
    AgencyRegistered,
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    DueDateChanged,
    Event,
    ExtensionDecided,
    ExtensionRequested,
    ReminderDue,
    RequestRefused,
    Topic,
)
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Handler, Subscription
from services.submission import directory
from services.submission.commands import decisions


def _applying(apply: Callable[[db.Connection, Any], Awaitable[None]]) -> Handler:
    async def handle(connection: db.Connection, _: Envelope, event: Any) -> None:
        await apply(connection, event)

    return handle


_APPLY: dict[type[Event], Callable[[db.Connection, Any], Awaitable[None]]] = {
    AgencyRegistered: directory.remember_agency,
    CaseOpened: decisions.case_opened,
    CaseAcknowledged: decisions.case_acknowledged,
    CaseAmended: decisions.case_amended,
    CaseWithdrawn: decisions.case_withdrawn,
    RequestRefused: decisions.request_refused,
    CaseAnswered: decisions.case_answered,
    ExtensionRequested: decisions.extension_requested,
    ExtensionDecided: decisions.extension_decided,
    DueDateChanged: decisions.due_date_changed,
    ReminderDue: decisions.reminder_sent,
    CaseOverdue: decisions.case_overdue,
    CaseEscalated: decisions.escalated,
}

SUBSCRIPTION = Subscription(
    name="submission",
    topics=(Topic.AGENCIES, Topic.CASES),
    handlers={kind: _applying(apply) for kind, apply in _APPLY.items()},
)
