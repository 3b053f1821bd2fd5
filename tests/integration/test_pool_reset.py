"""The pool gives a connection back without a reset round trip, except one that holds session
state (a LISTEN, a session advisory lock), which it resets whole: on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.platform import db
from tests.support.engines import Engines


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    url = await engines.create_database("pool")
    pool = await db.create_pool(url, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def test_a_connection_goes_back_without_a_reset_round_trip(pool: db.Pool) -> None:
    async with pool.acquire() as connection:
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        # Session state the services never leave, set here only to see whether the pool's
        # release sent RESET ALL: it did not, so the setting survives.
        await connection.execute("SET work_mem = '7MB'")
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT pg_backend_pid()") == backend
        assert await connection.fetchval("SHOW work_mem") == "7MB"


async def test_an_open_transaction_is_still_rolled_back(pool: db.Pool) -> None:
    async with pool.acquire() as connection:
        await connection.execute("CREATE TABLE kept (id int)")
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("INSERT INTO kept VALUES (1)")
    async with pool.acquire() as connection:
        assert not await connection.fetchval("SELECT txid_current_if_assigned() IS NOT NULL")
        assert await connection.fetchval("SELECT count(*) FROM kept") == 0


@pytest.mark.filterwarnings("ignore:.*active notification listener")
async def test_a_connection_that_keeps_session_state_is_reset_whole(pool: db.Pool) -> None:
    async with pool.acquire() as connection:
        db.keeps_session_state(connection)
        await connection.add_listener("somewhere", lambda *_: None)
        assert await connection.fetchval("SELECT pg_try_advisory_lock(42)")
        await connection.execute("SET work_mem = '7MB'")
    async with pool.acquire() as connection:
        assert await connection.fetch("SELECT pg_listening_channels()") == []
        assert not await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert await connection.fetchval("SHOW work_mem") != "7MB"
    # Once reset, it is an ordinary connection again.
    async with pool.acquire() as connection:
        await connection.execute("SET work_mem = '9MB'")
    async with pool.acquire() as connection:
        assert await connection.fetchval("SHOW work_mem") == "9MB"
