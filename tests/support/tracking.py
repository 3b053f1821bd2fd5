"""Tracking's store on a real PostgreSQL, for integration tests: a case opened as the critique
consumer opens one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.events import (
    AgencyKind,
    CritiqueKind,
    CritiqueSubmitted,
    Level,
    OrganisationRef,
    Point,
)
from services.platform import db
from services.tracking import commands, store
from services.tracking.deadlines import DeadlinePolicy
from services.tracking.domain import SchedulePolicy

AGENCY = "ubnd-phuong-kinh-bac-bac-ninh"
"""The agency every case here is addressed to, in tracking's directory."""


async def open_case(
    pool: db.Pool,
    *,
    received: datetime | None = None,
    parent: str | None = "mttq-tinh-bac-ninh",
) -> store.Case:
    """A commune committee's supervision recommendation to :data:`AGENCY`, received at
    ``received`` (now by default) and opened a second later."""
    at = received or datetime.now(UTC)
    submitted = CritiqueSubmitted(
        critique_id=uuid.uuid4(),
        organisation=OrganisationRef(
            id="mttq-phuong-kinh-bac-bac-ninh",
            name="Ủy ban MTTQ Việt Nam phường Kinh Bắc",
            level=Level.COMMUNE,
            parent_id=parent,
        ),
        agency_id=AGENCY,
        kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
        title="Kiến nghị sau giám sát việc thu phí chợ",
        points=(Point(number=1, text="Niêm yết công khai mức phí."),),
        submitted_at=at,
    )
    async with pool.acquire() as connection, connection.transaction():
        await store.save_agency(
            connection,
            agency_id=AGENCY,
            name="Ủy ban nhân dân phường Kinh Bắc",
            level=Level.COMMUNE,
            kind=AgencyKind.PEOPLES_COMMITTEE,
            parent_id=None,
        )
        case_id = await commands.open_case(
            connection,
            submitted,
            policy=DeadlinePolicy(),
            steps=SchedulePolicy(),
            now=at + timedelta(seconds=1),
        )
    assert case_id is not None
    return await store.get_case(pool, case_id)
