"""The agencies' change feed (WatchCases) on a real PostgreSQL: a watcher that resumes from the
last cursor it saw misses no change, even when transactions commit out of id order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from contracts.lifecycle import Change
from services.platform import db
from services.tracking import store
from services.tracking.feed import ChangeFeed
from services.tracking.main import MIGRATIONS
from tests.support.engines import Engines
from tests.support.tracking import AGENCY, open_case


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("tracking", MIGRATIONS, prefix="tracking", max_size=4) as pool:
        yield pool


async def test_a_change_committed_after_a_later_one_is_not_skipped(pool: db.Pool) -> None:
    """Transaction A writes a change first (the smaller id) but commits after transaction B: a
    watcher that has seen B's change and resumes after it must still get A's."""
    first, second = await open_case(pool), await open_case(pool)
    feed = ChangeFeed(pool)
    cursor = await feed.latest(AGENCY)
    seen: list[uuid.UUID] = []

    async def read() -> None:
        nonlocal cursor
        for change in await feed.after(AGENCY, cursor):
            seen.append(change.case_id)
            cursor = change.cursor

    async with pool.acquire() as slow:
        transaction = slow.transaction()
        await transaction.start()
        await store.record_history(slow, first, Change.ACKNOWLEDGED, at=datetime.now(UTC))

        async def quick() -> None:
            async with pool.acquire() as connection, connection.transaction():
                await store.record_history(
                    connection, second, Change.ACKNOWLEDGED, at=datetime.now(UTC)
                )

        other = asyncio.create_task(quick())
        await asyncio.sleep(0.5)
        await read()  # while A is still open
        await transaction.commit()
    await asyncio.wait_for(other, 10)
    await read()
    assert seen == [first.id, second.id]
