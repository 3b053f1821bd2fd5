"""Submission's event handlers: the agency directory, and each case's progress at tracking."""

from __future__ import annotations

from contracts.events import AgencyRegistered, CaseAcknowledged, CaseAnswered, CaseOpened, Topic
from services.platform import db
from services.platform.cloudevents import Envelope
from services.platform.consumer import Subscription
from services.submission import directory, store


async def _on_agency(connection: db.Connection, _: Envelope, event: AgencyRegistered) -> None:
    await directory.remember_agency(connection, event)


async def _on_opened(connection: db.Connection, _: Envelope, event: CaseOpened) -> None:
    await store.case_opened(connection, event)


async def _on_acknowledged(connection: db.Connection, _: Envelope, event: CaseAcknowledged) -> None:
    await store.case_acknowledged(connection, event)


async def _on_answered(connection: db.Connection, _: Envelope, event: CaseAnswered) -> None:
    await store.case_answered(connection, event)


SUBSCRIPTION = Subscription(
    name="submission",
    topics=(Topic.AGENCIES, Topic.CASES),
    handlers={
        AgencyRegistered: _on_agency,
        CaseOpened: _on_opened,
        CaseAcknowledged: _on_acknowledged,
        CaseAnswered: _on_answered,
    },
)
