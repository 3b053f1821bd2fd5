"""Disclosure's entry point for events: each event goes to its command, in the transaction the
consumer opens for it (services.platform.consumer), which also records it in the inbox."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import AgencyRegistered, CritiqueEvent, Event, Topic
from services.disclosure import commands
from services.disclosure.domain import DisclosurePolicy
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Handler, Subscription


def subscription(policy: DisclosurePolicy, *, name: str = "disclosure") -> Subscription:
    async def on_critique(
        connection: db.Connection, envelope: Envelope, event: CritiqueEvent
    ) -> None:
        await commands.apply_event(
            connection, envelope.id, event, policy=policy, now=datetime.now(UTC)
        )

    async def on_agency(connection: db.Connection, _: Envelope, event: AgencyRegistered) -> None:
        await commands.register_agency(connection, event, policy=policy, now=datetime.now(UTC))

    handlers: dict[type[Event], Handler] = {kind: on_critique for kind in commands.CRITIQUE_EVENTS}
    handlers[AgencyRegistered] = on_agency
    return Subscription(
        name=name,
        topics=(Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES),
        handlers=handlers,
    )
