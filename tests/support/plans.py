"""What a statement reads, counted by PostgreSQL itself: the executed plans of everything a
connection runs, as ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` gives them.

``auto_explain`` (a contrib module of PostgreSQL, loaded into the one session; the tests' user
is a superuser) sends the plan of each statement the code under test runs, nested ones included
(foreign-key checks, triggers), to the client as a notice, so a test measures the statements the
store really runs rather than a copy of their SQL. Tests compare counts (index entries and rows
read, buffers touched), never times.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.platform import db

_SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Index Scan", "Tid Scan")


@dataclass(frozen=True)
class Plan:
    """One executed statement."""

    query: str
    root: dict[str, Any]

    def nodes(self) -> Iterator[dict[str, Any]]:
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.get("Plans", ()))

    @property
    def rows_read(self) -> int:
        """Rows and index entries the scans looked at: those they returned and those a filter
        removed (a bitmap index scan's entries are all returned to its heap scan)."""
        return sum(
            int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
            + int(node.get("Rows Removed by Filter", 0))
            + int(node.get("Rows Removed by Index Recheck", 0))
            for node in self.nodes()
            if node["Node Type"] in _SCANS
        )

    @property
    def buffers(self) -> int:
        """Shared buffers the statement touched (hit or read), the root's count."""
        return int(self.root.get("Shared Hit Blocks", 0)) + int(
            self.root.get("Shared Read Blocks", 0)
        )

    @property
    def scans(self) -> list[str]:
        """Each scan, as ``Seq Scan on t`` or ``Index Scan using i``, for messages."""
        return [
            f"{node['Node Type']} "
            + (
                f"using {node['Index Name']}"
                if "Index Name" in node
                else f"on {node.get('Relation Name')}"
            )
            for node in self.nodes()
            if node["Node Type"] in _SCANS
        ]


@dataclass
class Plans:
    found: list[Plan] = field(default_factory=list)

    def of(self, words: str) -> list[Plan]:
        """The plans of the statements whose text contains ``words``."""
        return [plan for plan in self.found if words in plan.query]

    def one(self, words: str) -> Plan:
        matching = self.of(words)
        assert len(matching) == 1, f"{len(matching)} statements with {words!r}: {self.found}"
        return matching[0]


@asynccontextmanager
async def explained(connection: db.Connection) -> AsyncIterator[Plans]:
    """Collect the executed plans of every statement ``connection`` runs inside the block."""
    plans = Plans()

    def noted(_: object, message: asyncpg.PostgresLogMessage) -> None:
        text = str(message.message)
        if not text.startswith("duration:"):
            return
        explained = json.loads(text.partition("plan:")[2])
        plans.found.append(Plan(query=explained["Query Text"], root=explained["Plan"]))

    await connection.execute(
        """
        LOAD 'auto_explain';
        SET auto_explain.log_min_duration = 0;
        SET auto_explain.log_analyze = on;
        SET auto_explain.log_buffers = on;
        SET auto_explain.log_timing = off;
        SET auto_explain.log_nested_statements = on;
        SET auto_explain.log_format = json;
        SET auto_explain.log_level = notice;
        """
    )
    connection.add_log_listener(noted)
    try:
        yield plans
    finally:
        connection.remove_log_listener(noted)
        await connection.execute("RESET auto_explain.log_min_duration")


async def statement_calls(executor: db.Executor, like: str, *, top_level: bool = False) -> int:
    """How many times the current database has run statements whose text is ``LIKE`` ``like``
    (``pg_stat_statements``, which every PostgreSQL the project starts loads; the extension is
    created here if need be); ``top_level``: only those a client sent (its round trips), not
    those run inside triggers and foreign-key checks."""
    await executor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    calls: int = await executor.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND query LIKE $1 AND query NOT LIKE '%pg_stat_statements%' AND (toplevel OR NOT $2)",
        like,
        top_level,
    )
    return calls
