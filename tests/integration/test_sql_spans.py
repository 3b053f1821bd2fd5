"""The database in traces: a span per SQL statement, none for a transaction's BEGIN and COMMIT
or for the reset of a connection returned to the pool."""

from __future__ import annotations

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.platform import db
from services.platform.serve import instrument_database, uninstrument_database
from tests.support.engines import Engines


async def test_statements_have_spans_and_transaction_brackets_do_not(
    engines: Engines, spans: InMemorySpanExporter
) -> None:
    url = await engines.create_database("sqlspans")
    assert instrument_database(force=True)
    try:
        pool = await db.create_pool(url, min_size=1, max_size=1)
        try:
            tracer = trace.get_tracer(__name__)
            spans.clear()
            with tracer.start_as_current_span("request"):
                async with pool.acquire() as connection, connection.transaction():
                    await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
                    await connection.execute("INSERT INTO t VALUES ($1)", 1)
                    async with connection.transaction():  # a savepoint
                        await connection.fetchval("SELECT count(*) FROM t")
                with pytest.raises(asyncpg.UniqueViolationError):
                    async with pool.acquire() as connection, connection.transaction():
                        await connection.execute("INSERT INTO t VALUES ($1)", 1)
        finally:
            await pool.close()
    finally:
        uninstrument_database()
    names = [s.name for s in spans.get_finished_spans() if s.name != "request"]
    assert names == ["CREATE", "INSERT", "SELECT", "INSERT", "ROLLBACK;"]
    request = next(s for s in spans.get_finished_spans() if s.name == "request")
    assert all(
        s.parent is not None and s.parent.span_id == request.context.span_id
        for s in spans.get_finished_spans()
        if s.name != "request"
    )
