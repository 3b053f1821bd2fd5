"""Submission's event handlers: the agency directory, the drafts and versions tracking
registered (to check citations against), and what tracking decided about each critique (the
organisation's pending requests among it)."""

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
    DraftRegistered,
    DraftVersionRegistered,
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
from services.submission import directory, store
from services.submission.commands import decisions


def _applying(apply: Callable[[db.Connection, Any], Awaitable[None]]) -> Handler:
    async def handle(connection: db.Connection, _: Envelope, event: Any) -> None:
        await apply(connection, event)

    return handle


async def _draft(connection: db.Connection, event: DraftRegistered) -> None:
    await store.remember_draft(
        connection, draft_id=event.draft_id, agency_id=event.agency_id, title=event.title
    )


async def _version(connection: db.Connection, event: DraftVersionRegistered) -> None:
    await store.remember_version(
        connection, draft_id=event.draft_id, version=event.version, parts=event.parts
    )


_APPLY: dict[type[Event], Callable[[db.Connection, Any], Awaitable[None]]] = {
    AgencyRegistered: directory.remember_agency,
    DraftRegistered: _draft,
    DraftVersionRegistered: _version,
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
    topics=(Topic.AGENCIES, Topic.DRAFTS, Topic.CASES),
    handlers={kind: _applying(apply) for kind, apply in _APPLY.items()},
)
