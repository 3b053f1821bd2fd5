"""Submission's SQL: organisations, their tokens, critiques and their points."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from contracts.events import CritiqueKind, CritiqueSubmitted, Level, OrganisationRef, Point
from services.platform import db, outbox, tokens
from services.submission.domain import CritiqueStatus

SOURCE = "urn:vn:mttq:supervision:submission"


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    level: Level


@dataclass(frozen=True)
class Critique:
    id: uuid.UUID
    organisation_id: str
    agency_id: str
    kind: CritiqueKind
    title: str
    status: CritiqueStatus
    points: tuple[Point, ...]
    submitted_at: datetime


class NotFound(LookupError):
    """No such critique for this organisation."""


async def organisation_by_token(pool: asyncpg.Pool[Any], token: str) -> Organisation | None:
    row = await pool.fetchrow(
        """
        UPDATE organisation_tokens t SET last_used_at = now()
        FROM organisations o
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND o.id = t.organisation_id
        RETURNING o.id, o.name, o.level
        """,
        tokens.digest(token),
    )
    return None if row is None else Organisation(row["id"], row["name"], Level(row["level"]))


async def create_organisation(
    connection: db.Executor,
    *,
    organisation_id: str,
    name: str,
    level: Level,
    parent_id: str | None = None,
) -> None:
    await connection.execute(
        """
        INSERT INTO organisations (id, name, level, parent_id) VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level,
                                       parent_id = excluded.parent_id
        """,
        organisation_id,
        name,
        level.value,
        parent_id,
    )


async def add_token(
    connection: db.Executor,
    *,
    organisation_id: str,
    token: str,
    label: str,
) -> None:
    await connection.execute(
        "INSERT INTO organisation_tokens (token_hash, organisation_id, label) VALUES ($1, $2, $3)"
        " ON CONFLICT (token_hash) DO NOTHING",
        tokens.digest(token),
        organisation_id,
        label,
    )


async def submit(
    pool: asyncpg.Pool[Any],
    *,
    organisation: Organisation,
    agency_id: str,
    kind: CritiqueKind,
    title: str,
    points: tuple[Point, ...],
) -> Critique:
    """Store a critique and its ``submitted`` event in one transaction."""
    now = datetime.now(UTC)
    critique = Critique(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        agency_id=agency_id,
        kind=kind,
        title=title,
        status=CritiqueStatus.SUBMITTED,
        points=points,
        submitted_at=now,
    )
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            """
            INSERT INTO critiques (id, organisation_id, agency_id, kind, title, status,
                                   submitted_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
            """,
            critique.id,
            organisation.id,
            agency_id,
            kind.value,
            title,
            critique.status.value,
            now,
        )
        await connection.executemany(
            "INSERT INTO critique_points (critique_id, number, text, citation)"
            " VALUES ($1, $2, $3, $4)",
            [(critique.id, p.number, p.text, p.citation) for p in points],
        )
        await outbox.record(
            connection,
            CritiqueSubmitted(
                critique_id=critique.id,
                organisation=OrganisationRef(
                    id=organisation.id, name=organisation.name, level=organisation.level
                ),
                agency_id=agency_id,
                kind=kind,
                title=title,
                points=points,
                submitted_at=now,
            ),
            source=SOURCE,
            occurred_at=now,
        )
    return critique


async def critique(
    pool: asyncpg.Pool[Any], *, critique_id: uuid.UUID, organisation_id: str
) -> Critique:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT * FROM critiques WHERE id = $1 AND organisation_id = $2",
            critique_id,
            organisation_id,
        )
        if row is None:
            raise NotFound(critique_id)
        points = await connection.fetch(
            "SELECT number, text, citation FROM critique_points WHERE critique_id = $1"
            " ORDER BY number",
            critique_id,
        )
    return Critique(
        id=row["id"],
        organisation_id=row["organisation_id"],
        agency_id=row["agency_id"],
        kind=CritiqueKind(row["kind"]),
        title=row["title"],
        status=CritiqueStatus(row["status"]),
        points=tuple(
            Point(number=p["number"], text=p["text"], citation=p["citation"]) for p in points
        ),
        submitted_at=row["submitted_at"],
    )
