"""``idempotency.once`` on the real PostgreSQL: the key is stored with the work in one statement,
and a retry's work is rolled back, its first response replayed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from services.platform import db, idempotency
from tests.support.engines import Engines
from tests.support.plans import statement_calls


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    url = await engines.create_database("keys")
    pool = await db.create_pool(url, min_size=1, max_size=3)
    await db.migrate(url, component="keys", folder=db.PLATFORM_MIGRATIONS / "none")
    await pool.execute("CREATE TABLE done (n serial PRIMARY KEY)")
    yield pool
    await pool.close()


async def _work(connection: db.Connection) -> idempotency.Response:
    number = await connection.fetchval("INSERT INTO done DEFAULT VALUES RETURNING n")
    return idempotency.Response(201, {"n": number})


async def test_a_retry_replays_the_first_response_and_keeps_nothing_of_its_own(
    pool: db.Pool,
) -> None:
    request = idempotency.fingerprint("the same body")
    first = await idempotency.once(pool, scope="s", key="k", request=request, work=_work)
    again = await idempotency.once(pool, scope="s", key="k", request=request, work=_work)
    assert (first.body, first.replayed) == ({"n": 1}, False)
    assert (again.body, again.replayed) == ({"n": 1}, True)
    assert await pool.fetchval("SELECT count(*) FROM done") == 1
    with pytest.raises(idempotency.KeyReused):
        await idempotency.once(
            pool, scope="s", key="k", request=idempotency.fingerprint("another"), work=_work
        )
    assert await pool.fetchval("SELECT count(*) FROM done") == 1
    other = await idempotency.once(pool, scope="t", key="k", request=request, work=_work)
    assert not other.replayed
    assert await pool.fetchval("SELECT count(*) FROM done") == 2


async def _key_statements(pool: db.Pool) -> int:
    return await statement_calls(pool, "%idempotency_keys%")


async def test_a_first_request_costs_one_statement_beside_its_work(pool: db.Pool) -> None:
    before = await _key_statements(pool)
    done = await idempotency.once(
        pool, scope="s", key="new", request=idempotency.fingerprint("x"), work=_work
    )
    assert await _key_statements(pool) - before == 1  # the INSERT; no claim, no UPDATE
    stored = await pool.fetchrow(
        "SELECT status_code, response FROM idempotency_keys WHERE key = 'new'"
    )
    assert stored is not None
    assert stored["status_code"] == 201
    assert json.loads(stored["response"]) == done.body
