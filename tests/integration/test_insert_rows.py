"""``db.insert_rows``: many rows, one statement (counted by pg_stat_statements on the real
PostgreSQL), NULLs and conflicts as a row-by-row insert would have them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.platform import db
from tests.support.engines import Engines
from tests.support.plans import statement_calls

COLUMNS = {"id": "integer", "text": "text", "citation": "text"}


@pytest.fixture
async def connection(engines: Engines) -> AsyncIterator[db.Connection]:
    import asyncpg

    connection = await asyncpg.connect(await engines.create_database("rows"))
    await connection.execute(
        "CREATE TABLE points (id integer PRIMARY KEY, text text, citation text)"
    )
    yield connection
    await connection.close()


async def _calls(connection: db.Connection) -> int:
    return await statement_calls(connection, "INSERT INTO points%")


async def test_many_rows_are_one_statement(connection: db.Connection) -> None:
    rows = [
        (number, f"Điểm {number}", None if number % 2 else f"Điều {number}")
        for number in range(1, 51)
    ]
    await db.insert_rows(connection, "points", COLUMNS, rows)
    assert await _calls(connection) == 1
    stored = await connection.fetch("SELECT id, text, citation FROM points ORDER BY id")
    assert [tuple(row) for row in stored] == rows


async def test_conflicts_are_handled_as_the_clause_says(connection: db.Connection) -> None:
    await db.insert_rows(connection, "points", COLUMNS, [(1, "cũ", None)])
    await db.insert_rows(
        connection,
        "points",
        COLUMNS,
        [(1, "mới", "Điều 1"), (2, "thêm", None)],
        then="ON CONFLICT (id) DO UPDATE SET text = excluded.text, citation = excluded.citation",
    )
    stored = await connection.fetch("SELECT id, text, citation FROM points ORDER BY id")
    assert [tuple(row) for row in stored] == [(1, "mới", "Điều 1"), (2, "thêm", None)]


async def test_no_rows_sends_nothing(connection: db.Connection) -> None:
    await db.insert_rows(connection, "points", COLUMNS, [])
    assert await _calls(connection) == 0
