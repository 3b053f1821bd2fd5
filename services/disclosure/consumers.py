"""Disclosure's event handlers: every event updates the public read model."""

from __future__ import annotations

from contracts.events import CaseAnswered, CaseOpened, CritiqueSubmitted, Topic
from services.disclosure import store
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Subscription


async def _on_submitted(
    connection: db.Connection, envelope: Envelope, event: CritiqueSubmitted
) -> None:
    await store.apply_submitted(connection, envelope.id, event)


async def _on_opened(connection: db.Connection, envelope: Envelope, event: CaseOpened) -> None:
    await store.apply_opened(connection, envelope.id, event)


async def _on_answered(connection: db.Connection, envelope: Envelope, event: CaseAnswered) -> None:
    await store.apply_answered(connection, envelope.id, event)


SUBSCRIPTION = Subscription(
    name="disclosure",
    topics=(Topic.CRITIQUES, Topic.CASES),
    handlers={
        CritiqueSubmitted: _on_submitted,
        CaseOpened: _on_opened,
        CaseAnswered: _on_answered,
    },
)
