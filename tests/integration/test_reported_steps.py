"""A step tracking reports (a case opened, answered, overdue…) costs submission two statements
per critique, the lock and the change with its history entry (the answers one more): counted by
pg_stat_statements on the real PostgreSQL, the critique's row and history as the steps leave
them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.events import (
    AgencyKind,
    AgencyRegistered,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CritiqueContent,
    CritiqueKind,
    Disposition,
    DueDateRule,
    Level,
    Point,
    PointAnswer,
)
from contracts.submission_api import CritiqueStatus, OrganisationKind
from services.platform import db
from services.submission import directory, store
from services.submission.commands import decisions
from services.submission.main import MIGRATIONS
from tests.support.engines import Engines
from tests.support.plans import statement_calls

ORGANISATION = "mttq-xa-tan-lap"
AGENCY = "ubnd-xa-tan-lap"
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULE = DueDateRule(days=30, counting="calendar", start=date(2026, 3, 2), explanation="30 ngày")


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    url = await engines.migrated_database("submission", MIGRATIONS, prefix="steps")
    pool = await db.create_pool(url, min_size=1, max_size=1)
    await directory.save_organisation(
        pool,
        organisation_id=ORGANISATION,
        name="Ủy ban MTTQ xã Tân Lập",
        level=Level.COMMUNE,
        kind=OrganisationKind.FRONT_COMMITTEE,
    )
    async with pool.acquire() as connection:
        await directory.remember_agency(
            connection,
            AgencyRegistered(
                agency_id=AGENCY,
                name="Ủy ban nhân dân xã Tân Lập",
                level=Level.COMMUNE,
                kind=AgencyKind.PEOPLES_COMMITTEE,
            ),
        )
    yield pool
    await pool.close()


async def submitted(pool: db.Pool) -> uuid.UUID:
    critique_id = uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        stored = await store.insert_critique(
            connection,
            critique_id=critique_id,
            organisation_id=ORGANISATION,
            agency_id=AGENCY,
            kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
            content=CritiqueContent(
                title="Kiến nghị về quy hoạch", points=(Point(number=1, text="Công khai."),)
            ),
            cited={},
            at=AT,
        )
    assert stored is not None
    return critique_id


async def test_each_step_tracking_reports_is_two_statements(pool: db.Pool) -> None:
    async def statements(apply: Callable[[db.Connection, Any], Awaitable[None]], event: Any) -> int:
        before = await statement_calls(pool, "%", top_level=True)
        async with pool.acquire() as connection, connection.transaction():
            await apply(connection, event)
        return await statement_calls(pool, "%", top_level=True) - before - 2  # BEGIN, COMMIT

    case_id = uuid.uuid4()
    for critique_id in (await submitted(pool), await submitted(pool)):  # the first warms up
        opened = CaseOpened(
            critique_id=critique_id,
            case_id=case_id,
            agency_id=AGENCY,
            opened_at=AT + timedelta(minutes=1),
            due_date=date(2026, 4, 1),
            due_rule=RULE,
        )
        overdue = CaseOverdue(
            critique_id=critique_id,
            case_id=case_id,
            agency_id=AGENCY,
            due_date=date(2026, 4, 1),
            at=AT + timedelta(days=31),
        )
        answered = CaseAnswered(
            critique_id=critique_id,
            case_id=case_id,
            agency_id=AGENCY,
            answered_at=AT + timedelta(days=32),
            late=True,
            version=1,
            answers=(PointAnswer(point_number=1, disposition=Disposition.ACCEPTED),),
        )
        counts = [
            await statements(decisions.case_opened, opened),
            await statements(decisions.case_overdue, overdue),
            await statements(decisions.case_answered, answered),
        ]
    assert counts == [2, 2, 3]  # and the answers, one statement

    row = await pool.fetchrow("SELECT * FROM critiques WHERE id = $1", critique_id)
    assert row is not None
    assert (row["status"], row["case_id"], row["due_date"], row["answered_late"]) == (
        CritiqueStatus.ANSWERED.value,
        case_id,
        date(2026, 4, 1),
        True,
    )
    assert row["overdue_at"] == AT + timedelta(days=31)
    history = await pool.fetch(
        "SELECT step, version FROM critique_history WHERE critique_id = $1 ORDER BY at", critique_id
    )
    assert [(h["step"], h["version"]) for h in history][-3:] == [
        ("case_opened", 1),
        ("overdue", 1),
        ("answered", 1),
    ]


async def test_a_critique_to_an_agency_not_in_the_directory_is_not_stored(pool: db.Pool) -> None:
    """The directory is asked in the statement that stores the critique (and its first history
    entry): nothing is stored for an agency tracking never announced."""
    critique_id = uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        stored = await store.insert_critique(
            connection,
            critique_id=critique_id,
            organisation_id=ORGANISATION,
            agency_id="ubnd-xa-khong-co",
            kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
            content=CritiqueContent(title="Kiến nghị", points=(Point(number=1, text="Một."),)),
            cited={},
            at=AT,
        )
    assert stored is None
    assert not await pool.fetchval("SELECT count(*) FROM critiques WHERE id = $1", critique_id)
    assert not await pool.fetchval(
        "SELECT count(*) FROM critique_history WHERE critique_id = $1", critique_id
    )
