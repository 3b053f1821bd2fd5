"""Tracking's event handlers: a submitted critique opens a case."""

from __future__ import annotations

from contracts.events import CritiqueSubmitted, Topic
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Subscription
from services.tracking import store
from services.tracking.domain import DeadlinePolicy


def subscription(policy: DeadlinePolicy) -> Subscription:
    async def on_submitted(
        connection: db.Connection, _: Envelope, event: CritiqueSubmitted
    ) -> None:
        await store.open_case(connection, event, policy)

    return Subscription(
        name="tracking",
        topics=(Topic.CRITIQUES,),
        handlers={CritiqueSubmitted: on_submitted},
    )
