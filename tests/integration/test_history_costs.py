"""A journey's statements read the rows of its own case or record, however much history the
tables hold: counted by PostgreSQL (rows and index entries read, buffers), never timed.

Each table is left as a young database leaves it, its statistics behind its rows (autovacuum off
on the test's own tables), since that is when the planner chose plans that read everything."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.disclosure import commands as disclosure
from services.disclosure.domain import DisclosurePolicy
from services.disclosure.main import MIGRATIONS as DISCLOSURE
from services.platform import db
from services.tracking import store as tracking_store
from services.tracking.main import MIGRATIONS as TRACKING
from tests.integration.test_delivery import submitted
from tests.support import tracking
from tests.support.engines import Engines
from tests.support.plans import Plan, Plans, explained

HISTORY = 50_000


@pytest.fixture
async def tracking_pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("tracking", TRACKING, prefix="tracking", max_size=3) as pool:
        await pool.execute("ALTER TABLE deadline_steps SET (autovacuum_enabled = off)")
        await pool.execute("ALTER TABLE cases SET (autovacuum_enabled = off)")
        yield pool


@pytest.fixture
async def disclosure_pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool(
        "disclosure", DISCLOSURE, prefix="disclosure", max_size=3
    ) as pool:
        for table in ("records", "record_points", "record_timeline"):
            await pool.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        yield pool


def reads(plans: Plans) -> list[tuple[str, int]]:
    return [(" ".join(plan.query.split())[:60], plan.rows_read) for plan in plans.found]


def bounded(few: Plan, many: Plan, *, rows: int) -> None:
    assert many.rows_read <= rows, (many.query, many.scans, many.rows_read)
    assert many.buffers <= few.buffers + 6, (many.query, many.scans, few.buffers, many.buffers)


async def add_pending_steps(pool: db.Pool, cases: int) -> None:
    """Other cases awaiting their answer, five steps each still to fire."""
    await pool.execute(
        """
        WITH opened AS (
            INSERT INTO cases (id, critique_id, agency_id, organisation_id, organisation_name,
                               organisation_level, kind, title, opened_at, due_date, due_rule,
                               status)
            SELECT gen_random_uuid(), gen_random_uuid(), $2, 'o', 'O', 'commune',
                   'supervision_recommendation', 't', now(), current_date + 30, '{}',
                   'awaiting_answer'
            FROM generate_series(1, $1)
            RETURNING id, due_date
        )
        INSERT INTO deadline_steps (case_id, step, due_date, fire_at)
        SELECT id, step, due_date, now() + interval '20 days'
        FROM opened, unnest(ARRAY['reminder:7', 'reminder:3', 'reminder:1', 'overdue',
                                  'escalation']) step
        """,
        cases,
        tracking.AGENCY,
    )


async def cancel_steps(pool: db.Pool) -> Plan:
    case = await tracking.open_case(pool)
    own = await pool.fetchval(
        "SELECT count(*) FROM deadline_steps WHERE case_id = $1 AND fired_at IS NULL", case.id
    )
    assert own > 0
    async with (
        pool.acquire() as connection,
        explained(connection) as plans,
        connection.transaction(),
    ):
        await tracking_store.cancel_steps(connection, case.id)
    assert not await pool.fetchval(
        "SELECT count(*) FROM deadline_steps WHERE case_id = $1", case.id
    )
    return plans.one("DELETE FROM deadline_steps")


async def test_cancelling_a_cases_steps_reads_only_that_cases_steps(
    tracking_pool: db.Pool,
) -> None:
    few = await cancel_steps(tracking_pool)
    await add_pending_steps(tracking_pool, HISTORY // 5)
    many = await cancel_steps(tracking_pool)

    assert many.scans == ["Index Scan using deadline_steps_pending_by_case"]
    bounded(few, many, rows=few.rows_read)


async def add_records(pool: db.Pool, records: int) -> None:
    """Other critiques disclosure has heard of, two points each."""
    await pool.execute(
        """
        WITH heard AS (
            INSERT INTO records (critique_id, title, version, submitted_at)
            SELECT gen_random_uuid(), 't', 1, now() FROM generate_series(1, $1)
            RETURNING critique_id
        )
        INSERT INTO record_points (critique_id, number, text)
        SELECT critique_id, number, 'p' FROM heard, generate_series(1, 2) number
        """,
        records,
    )


async def test_taking_in_a_submission_reads_only_its_own_record_on_a_long_lived_connection(
    disclosure_pool: db.Pool,
) -> None:
    """The consumer's connections live long and keep their statements' plans: those planned
    while the tables were small must not read everything once they have grown."""
    policy = DisclosurePolicy()

    async def take_in(connection: db.Connection) -> Plans:
        async with explained(connection) as plans, connection.transaction():
            touched = await disclosure.apply_event(connection, uuid.uuid4(), submitted())
            await disclosure.publish(connection, [touched], policy=policy, now=datetime.now(UTC))
        return plans

    async with disclosure_pool.acquire() as connection:
        await add_records(disclosure_pool, 20)
        for _ in range(10):  # past the plan cache's five custom plans
            few = await take_in(connection)
        await add_records(disclosure_pool, HISTORY // 2)
        many = await take_in(connection)

    assert len(many.found) == len(few.found), (reads(few), reads(many))
    for small, large in zip(few.found, many.found, strict=True):
        bounded(small, large, rows=max(small.rows_read, 2))
    points = await disclosure_pool.fetchval("SELECT count(*) FROM record_points")
    assert points == 2 * (20 + HISTORY // 2) + 11
