"""A token's use is a read: accepting a request writes nothing, and ``last_used_at`` is written
later for many requests in one statement (on the real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import Level
from contracts.submission_api import OrganisationKind
from services.platform import db, tokens
from services.submission import directory
from services.submission.main import MIGRATIONS
from tests.support.engines import Engines


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    url = await engines.migrated_database("submission", MIGRATIONS, prefix="tokens")
    pool = await db.create_pool(url, min_size=1, max_size=2)
    await directory.save_organisation(
        pool,
        organisation_id="mttq-tinh-ha-nam",
        name="Ủy ban MTTQ Việt Nam tỉnh Hà Nam",
        level=Level.PROVINCIAL,
        kind=OrganisationKind.FRONT_COMMITTEE,
    )
    yield pool
    await pool.close()


async def _last_used(pool: db.Pool) -> datetime | None:
    (row,) = await directory.TOKENS.list(pool, "mttq-tinh-ha-nam")
    return row.last_used_at


async def test_a_token_is_accepted_with_one_read_and_its_use_written_later(pool: db.Pool) -> None:
    # Uses noted by earlier tests of this process, for other databases: written (to nothing) now.
    await directory.TOKENS.note_uses(pool)
    token = tokens.issue("sv_org")
    await directory.TOKENS.add(pool, owner_id="mttq-tinh-ha-nam", token=token, label="văn phòng")
    async with pool.acquire() as connection:
        before = await connection.fetchval("SELECT pg_current_wal_insert_lsn()")
        for _ in range(20):
            found = await directory.organisation_by_token(connection, token)
            assert found is not None
            assert found.name == "Ủy ban MTTQ Việt Nam tỉnh Hà Nam"
        # Nothing was written: twenty requests, no WAL (an UPDATE per request wrote twenty).
        assert await connection.fetchval("SELECT pg_current_wal_insert_lsn()") == before
    assert await _last_used(pool) is None
    accepted = datetime.now(UTC)
    assert await directory.TOKENS.note_uses(pool) == 1
    last_used = await _last_used(pool)
    assert last_used is not None
    assert accepted - timedelta(seconds=5) < last_used <= accepted
    assert await directory.TOKENS.note_uses(pool) == 0  # written once


async def test_a_refused_token_is_not_noted(pool: db.Pool) -> None:
    token = tokens.issue("sv_org")
    token_id = await directory.TOKENS.add(
        pool, owner_id="mttq-tinh-ha-nam", token=token, label="cũ"
    )
    assert await directory.TOKENS.revoke(pool, token_id)
    await directory.TOKENS.note_uses(pool)  # what earlier tests of this process noted
    assert await directory.organisation_by_token(pool, token) is None
    assert await directory.TOKENS.note_uses(pool) == 0
    assert await _last_used(pool) is None


async def test_uses_are_written_in_the_background_and_at_the_end(pool: db.Pool) -> None:
    token = tokens.issue("sv_org")
    await directory.TOKENS.add(pool, owner_id="mttq-tinh-ha-nam", token=token, label="văn phòng")
    noting = asyncio.create_task(tokens.keep_noting_uses(pool, interval=0.1))
    try:
        assert await directory.organisation_by_token(pool, token) is not None
        async with asyncio.timeout(10):
            while await _last_used(pool) is None:
                await asyncio.sleep(0.05)
        first = await _last_used(pool)
        await asyncio.sleep(0.01)
        assert await directory.organisation_by_token(pool, token) is not None
    finally:
        noting.cancel()  # a service stopping: what is noted is written before it ends
        with pytest.raises(asyncio.CancelledError):
            await noting
    last = await _last_used(pool)
    assert first is not None
    assert last is not None
    assert last > first
