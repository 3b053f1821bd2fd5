"""Submission's directory SQL: organisations, their tokens, and the agencies tracking announced."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.events import AgencyRegistered, Level
from contracts.submission_api import OrganisationKind
from services.platform import db, tokens


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    level: Level
    kind: OrganisationKind
    parent_id: str | None


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    level: Level
    kind: str
    parent_id: str | None


def _organisation(row: db.Record) -> Organisation:
    return Organisation(
        id=row["id"],
        name=row["name"],
        level=Level(row["level"]),
        kind=OrganisationKind(row["kind"]),
        parent_id=row["parent_id"],
    )


TOKENS = tokens.TokenStore(
    table="organisation_tokens", owner_column="organisation_id", owners="organisations"
)


async def organisation_by_token(pool: db.Executor, token: str) -> Organisation | None:
    row = await TOKENS.owner_row(pool, token)
    return None if row is None else _organisation(row)


async def organisation(executor: db.Executor, organisation_id: str) -> Organisation | None:
    row = await executor.fetchrow("SELECT * FROM organisations WHERE id = $1", organisation_id)
    return None if row is None else _organisation(row)


async def save_organisation(
    executor: db.Executor,
    *,
    organisation_id: str,
    name: str,
    level: Level,
    kind: OrganisationKind,
    parent_id: str | None = None,
) -> None:
    """Create or update an organisation (its parent must exist: commune → province → central)."""
    await executor.execute(
        """
        INSERT INTO organisations (id, name, level, kind, parent_id) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level,
                                       kind = excluded.kind, parent_id = excluded.parent_id
        """,
        organisation_id,
        name,
        level.value,
        kind.value,
        parent_id,
    )


async def organisations(executor: db.Executor) -> list[Organisation]:
    rows = await executor.fetch("SELECT * FROM organisations ORDER BY level, id")
    return [_organisation(row) for row in rows]


async def remember_agency(connection: db.Connection, event: AgencyRegistered) -> None:
    await connection.execute(
        """
        INSERT INTO known_agencies (id, name, level, kind, parent_id) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level,
            kind = excluded.kind, parent_id = excluded.parent_id, updated_at = now()
        """,
        event.agency_id,
        event.name,
        event.level.value,
        event.kind.value,
        event.parent_id,
    )


def _agency(row: db.Record) -> Agency:
    return Agency(
        id=row["id"],
        name=row["name"],
        level=Level(row["level"]),
        kind=row["kind"],
        parent_id=row["parent_id"],
    )


async def agency(executor: db.Executor, agency_id: str) -> Agency | None:
    row = await executor.fetchrow("SELECT * FROM known_agencies WHERE id = $1", agency_id)
    return None if row is None else _agency(row)


async def agencies(executor: db.Executor) -> list[Agency]:
    rows = await executor.fetch("SELECT * FROM known_agencies ORDER BY level, id")
    return [_agency(row) for row in rows]
