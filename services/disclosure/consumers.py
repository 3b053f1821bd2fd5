"""Disclosure's event handlers: every event updates the public read model."""

from __future__ import annotations

from contracts.events import (
    CaseAcknowledged,
    CaseAnswered,
    CaseOpened,
    CritiqueAmended,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    Topic,
)
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


async def _on_amended(
    connection: db.Connection, envelope: Envelope, event: CritiqueAmended
) -> None:
    await store.apply_amended(connection, envelope.id, event)


async def _on_withdrawn(
    connection: db.Connection, envelope: Envelope, event: CritiqueWithdrawn
) -> None:
    await store.apply_withdrawn(connection, envelope.id, event)


async def _on_acknowledged(
    connection: db.Connection, envelope: Envelope, event: CaseAcknowledged
) -> None:
    await store.apply_acknowledged(connection, envelope.id, event)


SUBSCRIPTION = Subscription(
    name="disclosure",
    topics=(Topic.CRITIQUES, Topic.CASES),
    handlers={
        CritiqueSubmitted: _on_submitted,
        CritiqueAmended: _on_amended,
        CritiqueWithdrawn: _on_withdrawn,
        CaseOpened: _on_opened,
        CaseAcknowledged: _on_acknowledged,
        CaseAnswered: _on_answered,
    },
)
