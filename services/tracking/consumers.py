"""Tracking's event handlers: a submitted critique opens a case; the organisation's requests
(amend, withdraw, decide an extension), asked of submission, are decided here."""

from __future__ import annotations

from contracts.events import (
    AmendmentRequested,
    CritiqueSubmitted,
    ExtensionDecisionRequested,
    Topic,
    WithdrawalRequested,
)
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Inapplicable, Subscription
from services.tracking import commands
from services.tracking.deadlines import DeadlinePolicy
from services.tracking.domain import SchedulePolicy, UncitableCritique, UnknownAgency
from services.tracking.schedule import Clock


def subscription(policy: DeadlinePolicy, steps: SchedulePolicy, *, clock: Clock) -> Subscription:
    async def on_submitted(
        connection: db.Connection, _: Envelope, event: CritiqueSubmitted
    ) -> None:
        try:
            await commands.open_case(connection, event, policy=policy, steps=steps, now=clock())
        except (UnknownAgency, UncitableCritique) as unknown:
            raise Inapplicable(str(unknown)) from unknown

    async def on_amendment(
        connection: db.Connection, _: Envelope, event: AmendmentRequested
    ) -> None:
        await commands.decide_amendment(connection, event, now=clock())

    async def on_withdrawal(
        connection: db.Connection, _: Envelope, event: WithdrawalRequested
    ) -> None:
        await commands.decide_withdrawal(connection, event, now=clock())

    async def on_decision(
        connection: db.Connection, _: Envelope, event: ExtensionDecisionRequested
    ) -> None:
        await commands.decide_extension(connection, event, steps=steps, now=clock())

    return Subscription(
        name="tracking",
        topics=(Topic.CRITIQUES,),
        handlers={
            CritiqueSubmitted: on_submitted,
            AmendmentRequested: on_amendment,
            WithdrawalRequested: on_withdrawal,
            ExtensionDecisionRequested: on_decision,
        },
    )
