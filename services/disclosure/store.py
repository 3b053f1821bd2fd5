"""Disclosure's SQL: the public read model, upserted from events in any order."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from contracts.events import (
    CaseAcknowledged,
    CaseAnswered,
    CaseOpened,
    CritiqueAmended,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    DueDateRule,
)
from services.disclosure.domain import RecordStatus, Step, is_publishable, status
from services.platform import db

Connection = db.Connection


async def _timeline(
    connection: Connection, *, event_id: uuid.UUID, critique_id: uuid.UUID, at: datetime, step: Step
) -> None:
    await connection.execute(
        "INSERT INTO record_timeline (event_id, critique_id, at, step) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id,
        critique_id,
        at,
        step.value,
    )


async def _publish_if_due(connection: Connection, critique_id: uuid.UUID) -> None:
    row = await connection.fetchrow(
        "SELECT title IS NOT NULL AS has_content, answered_at IS NOT NULL AS answered,"
        " withdrawn_at IS NOT NULL AS withdrawn, published_at FROM records WHERE critique_id = $1",
        critique_id,
    )
    assert row is not None, "the caller has just upserted the record"
    if row["published_at"] is None and is_publishable(
        has_content=row["has_content"], answered=row["answered"], withdrawn=row["withdrawn"]
    ):
        await connection.execute(
            "UPDATE records SET published_at = now() WHERE critique_id = $1", critique_id
        )


async def apply_submitted(
    connection: Connection, event_id: uuid.UUID, event: CritiqueSubmitted
) -> None:
    await connection.execute(
        """
        INSERT INTO records (critique_id, organisation_id, organisation_name, organisation_level,
                             agency_id, kind, title, submitted_at, version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)
        ON CONFLICT (critique_id) DO UPDATE SET
            organisation_id = excluded.organisation_id,
            organisation_name = excluded.organisation_name,
            organisation_level = excluded.organisation_level,
            agency_id = excluded.agency_id, kind = excluded.kind, title = excluded.title,
            submitted_at = excluded.submitted_at, version = 1, updated_at = now()
        """,
        event.critique_id,
        event.organisation.id,
        event.organisation.name,
        event.organisation.level.value,
        event.agency_id,
        event.kind.value,
        event.title,
        event.submitted_at,
    )
    await connection.execute("DELETE FROM record_points WHERE critique_id = $1", event.critique_id)
    await connection.executemany(
        "INSERT INTO record_points (critique_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(event.critique_id, p.number, p.text, p.citation) for p in event.points],
    )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.submitted_at,
        step=Step.SUBMITTED,
    )
    await _publish_if_due(connection, event.critique_id)


async def _ensure(connection: Connection, critique_id: uuid.UUID) -> None:
    await connection.execute(
        "INSERT INTO records (critique_id) VALUES ($1) ON CONFLICT DO NOTHING", critique_id
    )


async def apply_amended(
    connection: Connection, event_id: uuid.UUID, event: CritiqueAmended
) -> None:
    """Take the newer content only: amendments may be re-delivered after a later one."""
    await _ensure(connection, event.critique_id)
    newer = await connection.fetchval(
        "UPDATE records SET title = $2, version = $3, updated_at = now()"
        " WHERE critique_id = $1 AND version < $3 RETURNING true",
        event.critique_id,
        event.content.title,
        event.version,
    )
    if newer:
        await connection.execute(
            "DELETE FROM record_points WHERE critique_id = $1", event.critique_id
        )
        await connection.executemany(
            "INSERT INTO record_points (critique_id, number, text, citation)"
            " VALUES ($1, $2, $3, $4)",
            [(event.critique_id, p.number, p.text, p.citation) for p in event.content.points],
        )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.amended_at,
        step=Step.AMENDED,
    )


async def apply_withdrawn(
    connection: Connection, event_id: uuid.UUID, event: CritiqueWithdrawn
) -> None:
    await _ensure(connection, event.critique_id)
    await connection.execute(
        "UPDATE records SET withdrawn_at = $2, updated_at = now() WHERE critique_id = $1",
        event.critique_id,
        event.withdrawn_at,
    )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.withdrawn_at,
        step=Step.WITHDRAWN,
    )


async def apply_acknowledged(
    connection: Connection, event_id: uuid.UUID, event: CaseAcknowledged
) -> None:
    await _ensure(connection, event.critique_id)
    await connection.execute(
        "UPDATE records SET acknowledged_at = $2, updated_at = now() WHERE critique_id = $1",
        event.critique_id,
        event.acknowledged_at,
    )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.acknowledged_at,
        step=Step.ACKNOWLEDGED,
    )


async def apply_opened(connection: Connection, event_id: uuid.UUID, event: CaseOpened) -> None:
    await connection.execute(
        """
        INSERT INTO records (critique_id, agency_id, case_id, due_date, due_rule)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (critique_id) DO UPDATE SET
            case_id = excluded.case_id, due_date = excluded.due_date,
            due_rule = excluded.due_rule, updated_at = now()
        """,
        event.critique_id,
        event.agency_id,
        event.case_id,
        event.due_date,
        event.due_rule.model_dump_json(),
    )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.opened_at,
        step=Step.CASE_OPENED,
    )


async def apply_answered(connection: Connection, event_id: uuid.UUID, event: CaseAnswered) -> None:
    await connection.execute(
        """
        INSERT INTO records (critique_id, agency_id, case_id, answered_at, answered_late)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (critique_id) DO UPDATE SET
            answered_at = excluded.answered_at, answered_late = excluded.answered_late,
            updated_at = now()
        """,
        event.critique_id,
        event.agency_id,
        event.case_id,
        event.answered_at,
        event.late,
    )
    await connection.executemany(
        """
        INSERT INTO record_answers (critique_id, point_number, disposition, explanation)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (critique_id, point_number) DO UPDATE SET
            disposition = excluded.disposition, explanation = excluded.explanation
        """,
        [
            (event.critique_id, a.point_number, a.disposition.value, a.explanation)
            for a in event.answers
        ],
    )
    await _timeline(
        connection,
        event_id=event_id,
        critique_id=event.critique_id,
        at=event.answered_at,
        step=Step.ANSWERED,
    )
    await _publish_if_due(connection, event.critique_id)


@dataclass(frozen=True)
class PublicPoint:
    number: int
    text: str
    citation: str | None
    disposition: str | None
    explanation: str | None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    step: Step

    @property
    def label(self) -> str:
        return self.step.label


@dataclass(frozen=True)
class PublicRecord:
    critique_id: uuid.UUID
    organisation_id: str
    organisation_name: str
    organisation_level: str
    agency_id: str
    kind: str
    title: str
    status: RecordStatus
    submitted_at: datetime
    due_date: date | None
    due_rule: DueDateRule | None
    answered_at: datetime | None
    published_at: datetime
    points: tuple[PublicPoint, ...]
    timeline: tuple[TimelineEntry, ...]


class NotPublished(LookupError):
    """No such record, or not (yet) public."""


async def published_record(pool: asyncpg.Pool[Any], critique_id: uuid.UUID) -> PublicRecord:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT * FROM records WHERE critique_id = $1 AND published_at IS NOT NULL",
            critique_id,
        )
        if row is None:
            raise NotPublished(critique_id)
        points = await connection.fetch(
            """
            SELECT p.number, p.text, p.citation, a.disposition, a.explanation
            FROM record_points p
            LEFT JOIN record_answers a
                ON a.critique_id = p.critique_id AND a.point_number = p.number
            WHERE p.critique_id = $1 ORDER BY p.number
            """,
            critique_id,
        )
        timeline = await connection.fetch(
            "SELECT at, step FROM record_timeline WHERE critique_id = $1 ORDER BY at, step",
            critique_id,
        )
    return PublicRecord(
        critique_id=row["critique_id"],
        organisation_id=row["organisation_id"],
        organisation_name=row["organisation_name"],
        organisation_level=row["organisation_level"],
        agency_id=row["agency_id"],
        kind=row["kind"],
        title=row["title"],
        status=status(answered_at=row["answered_at"], late=row["answered_late"]),
        submitted_at=row["submitted_at"],
        due_date=row["due_date"],
        due_rule=(
            DueDateRule.model_validate(json.loads(row["due_rule"])) if row["due_rule"] else None
        ),
        answered_at=row["answered_at"],
        published_at=row["published_at"],
        points=tuple(PublicPoint(**dict(point)) for point in points),
        timeline=tuple(TimelineEntry(at=t["at"], step=Step(t["step"])) for t in timeline),
    )
