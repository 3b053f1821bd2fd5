"""Tracking's event handlers: a submitted critique opens a case; amendments, withdrawal and the
organisation's decisions on extensions change it."""

from __future__ import annotations

from contracts.events import (
    CritiqueAmended,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    ExtensionDecided,
    Topic,
)
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Subscription
from services.tracking import store
from services.tracking.deadlines import DeadlinePolicy
from services.tracking.domain import SchedulePolicy
from services.tracking.schedule import Clock


def subscription(policy: DeadlinePolicy, steps: SchedulePolicy, *, clock: Clock) -> Subscription:
    async def on_submitted(
        connection: db.Connection, _: Envelope, event: CritiqueSubmitted
    ) -> None:
        await store.open_case(connection, event, policy=policy, steps=steps, now=clock())

    async def on_amended(connection: db.Connection, _: Envelope, event: CritiqueAmended) -> None:
        await store.amend_case(connection, event)

    async def on_withdrawn(
        connection: db.Connection, _: Envelope, event: CritiqueWithdrawn
    ) -> None:
        await store.withdraw_case(connection, event)

    async def on_decided(connection: db.Connection, _: Envelope, event: ExtensionDecided) -> None:
        await store.decide_extension(connection, event, steps=steps, now=clock())

    return Subscription(
        name="tracking",
        topics=(Topic.CRITIQUES,),
        handlers={
            CritiqueSubmitted: on_submitted,
            CritiqueAmended: on_amended,
            CritiqueWithdrawn: on_withdrawn,
            ExtensionDecided: on_decided,
        },
    )
