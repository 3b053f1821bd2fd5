"""PostgreSQL: the connection pool and plain-SQL migrations.

Each service owns its database. Its migrations are the platform's own (outbox, inbox), then the
service's ``migrations/NNN_name.sql`` files, applied in order, each once, each in a transaction,
under an advisory lock so that two instances starting together do not race.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

TRANSIENT_ERRORS: Final = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    # A pooled connection whose server went away mid-transaction can come back in a state its
    # protocol cannot leave ("cannot switch to state 15; another operation is in progress",
    # MagicStack/asyncpg#784): the connection is broken, not the request or the event.
    asyncpg.InternalClientError,
    # Two transactions took the same rows in opposite orders (e.g. two consumer instances' batches
    # touching the same records): PostgreSQL aborted one; the same work succeeds when retried.
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    # The server is a standby (still replaying a restore, or a replica after a failover): writes
    # succeed once a primary serves again.
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)
"""Failures of the infrastructure (the database or the network away), not of the request or the
event: consumers retry them without end and never dead-letter them; APIs answer 503 or
UNAVAILABLE."""

log = logging.getLogger(__name__)

Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
"""A connection, whether opened alone or borrowed from the pool."""
Pool: TypeAlias = "asyncpg.Pool[Any]"
Executor: TypeAlias = "Connection | Pool"
Record: TypeAlias = asyncpg.Record
"""Anything that runs a statement: a connection, or the pool for a one-statement transaction."""

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x5355_5045_5256  # "SUPERV": one lock id for every service's migrator


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """An applied migration was edited afterwards, or the files are misnumbered."""


def read_migrations(component: str, folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        if not number.isdigit():
            raise MigrationError(f"{path}: migration files are named NNN_description.sql")
        migrations.append(Migration(component, int(number), name, path.read_text("utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{folder}: two migrations share a number")
    return migrations


async def migrate(dsn: str, *, component: str, folder: Path) -> list[Migration]:
    """Apply the platform's and then the component's pending migrations; return those applied."""
    pending = read_migrations("platform", PLATFORM_MIGRATIONS) + read_migrations(component, folder)
    applied: list[Migration] = []
    connection: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component text NOT NULL,
                version integer NOT NULL,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        done = {
            (row["component"], row["version"]): row["checksum"]
            for row in await connection.fetch(
                "SELECT component, version, checksum FROM schema_migrations"
            )
        }
        for migration in pending:
            key = (migration.component, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.component}/{migration.version:03d}_{migration.name}"
                        " was changed after it was applied; add a new migration instead"
                    )
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (component, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    migration.component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info(
                "migration applied",
                extra={"component": migration.component, "version": migration.version},
            )
            applied.append(migration)
    finally:
        await connection.close()
    return applied


async def children(
    executor: Executor, table: str, *, parent: str, order: str, ids: list[Any]
) -> dict[Any, list[Record]]:
    """The rows of ``table`` belonging to each of ``ids`` (by the ``parent`` column), in order:
    one query for a whole page of parents."""
    rows = await executor.fetch(
        f"SELECT * FROM {table} WHERE {parent} = ANY($1) ORDER BY {parent}, {order}", ids
    )
    grouped: dict[Any, list[Record]] = {parent_id: [] for parent_id in ids}
    for row in rows:
        grouped[row[parent]].append(row)
    return grouped


def child_rows(table: str, *, parent: str, key: str, order: str, alias: str) -> str:
    """A select-list item: the rows of ``table`` whose ``parent`` column is ``key`` (an
    expression of the outer query), in ``order``, as a JSON array named ``alias`` (``[]`` when
    none), so that parents and their children are read with one statement. Read it back with
    ``json.loads``: numbers and strings as they are, dates and moments as ISO 8601 text."""
    return (
        f"coalesce((SELECT json_agg(child ORDER BY child.{order}) FROM {table} child"
        f" WHERE child.{parent} = {key}), '[]') AS {alias}"
    )


async def insert_rows(
    connection: Connection,
    table: str,
    columns: Mapping[str, str],
    rows: Sequence[Sequence[Any]],
    *,
    then: str = "",
) -> None:
    """Insert ``rows`` into ``table`` with one statement, however many they are: ``unnest`` of
    one array per column, each typed as ``columns`` (name → SQL type) says, then ``then`` (an
    ``ON CONFLICT`` clause). Not ``executemany``, which runs the statement once per row."""
    if not rows:
        return
    arrays = ", ".join(f"${number}::{kind}[]" for number, kind in enumerate(columns.values(), 1))
    await connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {then}",
        *(list(column) for column in zip(*rows, strict=True)),
    )


_SESSION_STATE: Final[weakref.WeakSet[asyncpg.Connection[Any]]] = weakref.WeakSet()


def keeps_session_state(connection: Connection) -> None:
    """Note that the pooled ``connection`` now holds session state (a LISTEN, a session-level
    advisory lock): when it goes back to the pool, the pool resets the whole session."""
    # A borrowed connection is a proxy; the pool resets the connection behind it.
    raw: asyncpg.Connection[Any] = (
        getattr(connection, "_con") if isinstance(connection, PoolConnectionProxy) else connection  # noqa: B009
    )
    _SESSION_STATE.add(raw)


async def _reset(connection: asyncpg.Connection[Any]) -> None:
    """What the pool does to a connection given back, after rolling back any open transaction.

    asyncpg's default runs ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on
    every release: one more round trip, and four statements, per transaction (a third of the
    statements the services sent). Their statements leave nothing behind in the session (no
    ``SET``, no cursor outside a transaction, no session lock) except where
    :func:`keeps_session_state` says so: only those connections get the full reset."""
    if connection in _SESSION_STATE:
        _SESSION_STATE.discard(connection)
        await connection.execute(connection.get_reset_query())


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool[Any]:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_reset)
    assert pool is not None
    return pool
