"""Disclosure's entry point for events: each event goes to its command, in the transaction the
consumer opens for its batch (services.platform.consumer), which also records it in the inbox;
the records the batch's events touched are then published once each (``commands.publish``)."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime
from typing import cast

from contracts.events import (
    AgencyRegistered,
    CritiqueEvent,
    DraftRegistered,
    DraftSentToAuthority,
    DraftVersionRegistered,
    Event,
    Topic,
)
from services.disclosure import commands
from services.disclosure.domain import DisclosurePolicy
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Handler, Subscription


def subscription(policy: DisclosurePolicy, *, name: str = "disclosure") -> Subscription:
    async def on_critique(
        connection: db.Connection, envelope: Envelope, event: CritiqueEvent
    ) -> list[uuid.UUID]:
        return [await commands.apply_event(connection, envelope.id, event)]

    async def on_agency(
        connection: db.Connection, _: Envelope, event: AgencyRegistered
    ) -> list[commands.Touched]:
        return await commands.register_agency(connection, event)

    async def on_draft(
        connection: db.Connection,
        _: Envelope,
        event: DraftRegistered | DraftVersionRegistered | DraftSentToAuthority,
    ) -> list[commands.Touched]:
        return await commands.apply_draft_event(connection, event)

    async def publish(connection: db.Connection, touched: Sequence[Hashable]) -> None:
        # What the handlers returned: critique ids, and drafts.
        named = cast("Sequence[commands.Touched]", touched)
        await commands.publish(
            connection,
            [t for t in named if isinstance(t, uuid.UUID)],
            drafts=[t.id for t in named if isinstance(t, commands.DraftId)],
            policy=policy,
            now=datetime.now(UTC),
        )

    handlers: dict[type[Event], Handler] = {kind: on_critique for kind in commands.CRITIQUE_EVENTS}
    handlers[AgencyRegistered] = on_agency
    for kind in (DraftRegistered, DraftVersionRegistered, DraftSentToAuthority):
        handlers[kind] = on_draft
    return Subscription(
        name=name,
        topics=(Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS),
        handlers=handlers,
        settle=publish,
    )
