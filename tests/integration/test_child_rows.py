"""A case or critique is read with its points and extensions (answers) in one statement, however
many are read at once (``db.child_rows``), and a locked one with two: counted by
pg_stat_statements on the real PostgreSQL; the children come back as the rows hold them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from contracts.events import CritiqueSubmitted, Disposition, Level, OrganisationRef, PointAnswer
from contracts.lifecycle import Change
from services.platform import db
from services.tracking import commands, store
from services.tracking.deadlines import DeadlinePolicy
from services.tracking.domain import SchedulePolicy
from services.tracking.main import MIGRATIONS as TRACKING
from tests.support import tracking
from tests.support.engines import Engines
from tests.support.plans import statement_calls


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("tracking", TRACKING, prefix="children", max_size=2) as pool:
        yield pool


async def statements(pool: db.Pool) -> int:
    return await statement_calls(pool, "%", top_level=True)


async def test_cases_come_with_their_points_and_extensions_in_one_statement(
    pool: db.Pool,
) -> None:
    cases = [await tracking.open_case(pool) for _ in range(3)]
    # Asked at 07:30 in Hà Nội: read back as the same moment, in UTC.
    asked = datetime(2026, 3, 2, 7, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=7)))
    async with pool.acquire() as connection, connection.transaction():
        for number, due in ((1, date(2026, 4, 1)), (2, date(2026, 4, 15))):
            await store.insert_extension(
                connection,
                cases[0],
                extension_id=uuid.uuid4(),
                request_id=f"request-{number}",
                reason=f"Cần thêm {number} tuần",
                requested_due_date=due,
                at=asked + timedelta(days=number),
            )
        await connection.execute(
            "UPDATE case_points SET disposition = 'accepted', explanation = 'Đã niêm yết'"
            " WHERE case_id = $1",
            cases[1].id,
        )

    before = await statements(pool)
    read = await store.cases_by_id(pool, [case.id for case in cases])
    assert await statements(pool) - before == 1

    first = read[cases[0].id]
    assert [e.requested_due_date for e in first.extensions] == [date(2026, 4, 1), date(2026, 4, 15)]
    assert [e.requested_at for e in first.extensions] == [
        asked + timedelta(days=1),
        asked + timedelta(days=2),
    ]
    assert all(e.requested_at.tzinfo == UTC for e in first.extensions)
    assert [e.request_id for e in first.extensions] == ["request-1", "request-2"]
    assert read[cases[1].id].answers == (
        PointAnswer(point_number=1, disposition=Disposition.ACCEPTED, explanation="Đã niêm yết"),
    )
    assert read[cases[2].id].points == cases[2].points
    assert not read[cases[2].id].extensions

    # Locked, it is the same case, read with two statements (counted once the transaction is
    # over: a one-row fetch's portal is closed, and counted, by the next statement or the end).
    before = await statements(pool)
    async with pool.acquire() as connection, connection.transaction():
        locked = await store.get_case(connection, cases[0].id, for_update=True)
    assert await statements(pool) - before == 2 + 2  # BEGIN and COMMIT
    assert locked == first


async def test_an_answer_is_one_statement_and_the_case_it_returns_is_the_one_stored(
    pool: db.Pool,
) -> None:
    case = await tracking.open_case(pool)
    answer = PointAnswer(point_number=1, disposition=Disposition.PARTLY_ACCEPTED, explanation="")
    before = await statements(pool)
    async with pool.acquire() as connection, connection.transaction():
        answered = await store.mark_answered(
            connection,
            case,
            request_id="answer-1",
            answers=[answer],
            answered_at=datetime.now(UTC),
            late=False,
        )
    assert await statements(pool) - before == 1 + 2  # BEGIN and COMMIT
    assert answered == await store.get_case(pool, case.id)


async def test_opening_a_case_is_five_statements(pool: db.Pool) -> None:
    """The agency known, the case with its 'opened' entry, its points, its deadline steps, its
    event: no read-back."""
    first = await tracking.open_case(pool)  # the agency saved, the driver's types used
    submitted = CritiqueSubmitted(
        critique_id=uuid.uuid4(),
        organisation=OrganisationRef(
            id=first.organisation_id, name=first.organisation_name, level=Level.COMMUNE
        ),
        agency_id=first.agency_id,
        kind=first.kind,
        title=first.title,
        points=first.points,
        submitted_at=datetime.now(UTC),
    )
    before = await statements(pool)
    async with pool.acquire() as connection, connection.transaction():
        case_id = await commands.open_case(
            connection,
            submitted,
            policy=DeadlinePolicy(),
            steps=SchedulePolicy(),
            now=datetime.now(UTC),
        )
    assert await statements(pool) - before == 5 + 2  # BEGIN and COMMIT
    assert case_id is not None
    case = await store.get_case(pool, case_id, with_history=True)
    assert [entry.change for entry in case.history] == [Change.OPENED]
    assert case.points == first.points
