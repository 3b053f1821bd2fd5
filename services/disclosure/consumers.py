"""Disclosure's event handlers: each event updates the raw read model, then the record's public
document is refreshed (published, republished, or left as it is)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from contracts.events import (
    AgencyRegistered,
    CaseAcknowledged,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CritiqueAmended,
    CritiqueEvent,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    DueDateChanged,
    Event,
    Topic,
)
from services.disclosure import commands, store
from services.disclosure.domain import DisclosurePolicy
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Handler, Subscription

Apply = Callable[[db.Connection, uuid.UUID, Any], Awaitable[None]]

_APPLY: dict[type[CritiqueEvent], Apply] = {
    CritiqueSubmitted: store.apply_submitted,
    CritiqueAmended: store.apply_amended,
    CritiqueWithdrawn: store.apply_withdrawn,
    CaseOpened: store.apply_opened,
    CaseAcknowledged: store.apply_acknowledged,
    DueDateChanged: store.apply_due_date_changed,
    CaseOverdue: store.apply_overdue,
    CaseAnswered: store.apply_answered,
}


def subscription(policy: DisclosurePolicy, *, name: str = "disclosure") -> Subscription:
    def critique_handler(apply: Apply) -> Handler:
        async def handle(connection: db.Connection, envelope: Envelope, event: Any) -> None:
            await apply(connection, envelope.id, event)
            await commands.refresh(
                connection, event.critique_id, policy=policy, now=datetime.now(UTC)
            )

        return handle

    async def on_agency(connection: db.Connection, _: Envelope, event: AgencyRegistered) -> None:
        for critique_id in await store.apply_agency(connection, event):
            await commands.refresh(connection, critique_id, policy=policy, now=datetime.now(UTC))

    handlers: dict[type[Event], Handler] = {
        kind: critique_handler(apply) for kind, apply in _APPLY.items()
    }
    handlers[AgencyRegistered] = on_agency
    return Subscription(
        name=name,
        topics=(Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES),
        handlers=handlers,
    )
