"""Tracking's SQL: agencies, their tokens, cases, points and answers."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from opentelemetry import trace

from contracts.events import (
    AgencyKind,
    AgencyRegistered,
    CaseAcknowledged,
    CaseAnswered,
    CaseOpened,
    CritiqueAmended,
    CritiqueKind,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    Disposition,
    DueDateRule,
    Level,
    Point,
    PointAnswer,
)
from services.platform import db, outbox, telemetry, tokens
from services.tracking.domain import CaseStatus, DeadlinePolicy

SOURCE = "urn:vn:mttq:supervision:tracking"


@dataclass(frozen=True)
class Case:
    id: uuid.UUID
    critique_id: uuid.UUID
    agency_id: str
    organisation_id: str
    organisation_name: str
    kind: CritiqueKind
    title: str
    points: tuple[Point, ...]
    opened_at: datetime
    due_date: date
    due_rule: DueDateRule
    status: CaseStatus
    answers: tuple[PointAnswer, ...]
    answer_request_id: str | None
    answered_at: datetime | None
    answered_late: bool
    acknowledged_at: datetime | None
    version: int
    trace_headers: dict[str, str]


class NotFound(LookupError):
    """No such case."""


Executor = db.Executor


TOKENS = tokens.TokenStore(table="agency_tokens", owner_column="agency_id", owners="agencies")


async def agency_by_token(pool: db.Pool, token: str) -> str | None:
    return await TOKENS.owner(pool, token)


async def create_agency(
    pool: db.Pool,
    *,
    agency_id: str,
    name: str,
    level: Level,
    kind: AgencyKind,
    parent_id: str | None = None,
) -> None:
    """Add or update a directory entry and announce it, so submission accepts critiques to it."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            """
            INSERT INTO agencies (id, name, level, kind, parent_id) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level,
                                           kind = excluded.kind, parent_id = excluded.parent_id
            """,
            agency_id,
            name,
            level.value,
            kind.value,
            parent_id,
        )
        await outbox.record(
            connection,
            AgencyRegistered(
                agency_id=agency_id, name=name, level=level, kind=kind, parent_id=parent_id
            ),
            source=SOURCE,
        )


async def open_case(
    connection: db.Connection, submitted: CritiqueSubmitted, policy: DeadlinePolicy
) -> uuid.UUID:
    """Open the case for a submitted critique and record ``case.opened``, in the caller's
    transaction. The journey's trace context is kept so that the answer joins the same trace."""
    due_date, rule = policy.due(submitted.submitted_at)
    case_id = uuid.uuid4()
    journey = telemetry.inject_current()
    await connection.execute(
        """
        INSERT INTO cases (id, critique_id, agency_id, organisation_id, organisation_name,
                           organisation_level, kind, title, opened_at, due_date, due_rule, status,
                           traceparent, tracestate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $9, $10, $11, $12, $13)
        """,
        case_id,
        submitted.critique_id,
        submitted.agency_id,
        submitted.organisation.id,
        submitted.organisation.name,
        submitted.organisation.level.value,
        submitted.kind.value,
        submitted.title,
        due_date,
        rule.model_dump_json(),
        CaseStatus.AWAITING_ANSWER.value,
        journey.get("traceparent"),
        journey.get("tracestate"),
    )
    await connection.executemany(
        "INSERT INTO case_points (case_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(case_id, p.number, p.text, p.citation) for p in submitted.points],
    )
    opened_at = await connection.fetchval("SELECT opened_at FROM cases WHERE id = $1", case_id)
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CASE_ID, str(case_id))
    span.set_attribute(telemetry.ATTR_AGENCY_ID, submitted.agency_id)
    span.set_attribute(telemetry.ATTR_ORGANISATION_ID, submitted.organisation.id)
    await outbox.record(
        connection,
        CaseOpened(
            critique_id=submitted.critique_id,
            case_id=case_id,
            agency_id=submitted.agency_id,
            opened_at=opened_at,
            due_date=due_date,
            due_rule=rule,
        ),
        source=SOURCE,
        occurred_at=opened_at,
    )
    return case_id


def _case(row: asyncpg.Record, points: list[asyncpg.Record]) -> Case:
    answers = tuple(
        PointAnswer(
            point_number=p["number"],
            disposition=Disposition(p["disposition"]),
            explanation=p["explanation"] or "",
        )
        for p in points
        if p["disposition"] is not None
    )
    return Case(
        id=row["id"],
        critique_id=row["critique_id"],
        agency_id=row["agency_id"],
        organisation_id=row["organisation_id"],
        organisation_name=row["organisation_name"],
        kind=CritiqueKind(row["kind"]),
        title=row["title"],
        points=tuple(
            Point(number=p["number"], text=p["text"], citation=p["citation"]) for p in points
        ),
        opened_at=row["opened_at"],
        due_date=row["due_date"],
        due_rule=DueDateRule.model_validate(json.loads(row["due_rule"])),
        status=CaseStatus(row["status"]),
        answers=answers,
        answer_request_id=row["answer_request_id"],
        answered_at=row["answered_at"],
        answered_late=bool(row["answered_late"]),
        acknowledged_at=row["acknowledged_at"],
        version=row["version"],
        trace_headers={
            name: row[name] for name in ("traceparent", "tracestate") if row[name] is not None
        },
    )


async def _points(executor: Executor, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    rows = await executor.fetch(
        "SELECT * FROM case_points WHERE case_id = ANY($1::uuid[]) ORDER BY case_id, number",
        case_ids,
    )
    grouped: dict[uuid.UUID, list[Any]] = {case_id: [] for case_id in case_ids}
    for row in rows:
        grouped[row["case_id"]].append(row)
    return grouped


async def get_case(executor: Executor, case_id: uuid.UUID, *, for_update: bool = False) -> Case:
    row = await executor.fetchrow(
        "SELECT * FROM cases WHERE id = $1" + (" FOR UPDATE" if for_update else ""), case_id
    )
    if row is None:
        raise NotFound(case_id)
    return _case(row, (await _points(executor, [case_id]))[case_id])


async def list_cases(
    pool: asyncpg.Pool[Any],
    *,
    agency_id: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    status: CaseStatus | None,
) -> list[Case]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            """
            SELECT * FROM cases
            WHERE agency_id = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4::uuid))
            ORDER BY opened_at DESC, id DESC
            LIMIT $5
            """,
            agency_id,
            status.value if status else None,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        points = await _points(connection, [row["id"] for row in rows])
    return [_case(row, points[row["id"]]) for row in rows]


async def record_answer(
    connection: db.Connection,
    case: Case,
    *,
    request_id: str,
    answers: list[PointAnswer],
    answered_at: datetime,
    late: bool,
) -> None:
    """Store the answer and its ``case.answered`` event in the caller's transaction."""
    await connection.execute(
        """
        UPDATE cases SET status = $2, answer_request_id = $3, answered_at = $4, answered_late = $5
        WHERE id = $1
        """,
        case.id,
        CaseStatus.ANSWERED.value,
        request_id,
        answered_at,
        late,
    )
    await connection.executemany(
        "UPDATE case_points SET disposition = $3, explanation = $4"
        " WHERE case_id = $1 AND number = $2",
        [(case.id, a.point_number, a.disposition.value, a.explanation) for a in answers],
    )
    await outbox.record(
        connection,
        CaseAnswered(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            answered_at=answered_at,
            late=late,
            answers=tuple(sorted(answers, key=lambda a: a.point_number)),
        ),
        source=SOURCE,
        occurred_at=answered_at,
    )


async def amend_case(connection: db.Connection, amended: CritiqueAmended) -> None:
    """Replace the case's content with the organisation's amendment (a newer version only)."""
    case_id = await connection.fetchval(
        "UPDATE cases SET title = $2, version = $3 WHERE critique_id = $1 AND version < $3"
        " RETURNING id",
        amended.critique_id,
        amended.content.title,
        amended.version,
    )
    if case_id is None:
        return  # an older version, or a critique tracking never opened
    await connection.execute("DELETE FROM case_points WHERE case_id = $1", case_id)
    await connection.executemany(
        "INSERT INTO case_points (case_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(case_id, p.number, p.text, p.citation) for p in amended.content.points],
    )


async def withdraw_case(connection: db.Connection, withdrawn: CritiqueWithdrawn) -> None:
    await connection.execute(
        "UPDATE cases SET status = $2, withdrawn_at = $3 WHERE critique_id = $1 AND status <> $4",
        withdrawn.critique_id,
        CaseStatus.WITHDRAWN.value,
        withdrawn.withdrawn_at,
        CaseStatus.ANSWERED.value,
    )


async def acknowledge(connection: db.Connection, case: Case, *, at: datetime) -> None:
    """Record the agency's receipt and ``case.acknowledged``, in the caller's transaction."""
    await connection.execute(
        "UPDATE cases SET status = $2, acknowledged_at = $3 WHERE id = $1",
        case.id,
        CaseStatus.ACKNOWLEDGED.value,
        at,
    )
    await outbox.record(
        connection,
        CaseAcknowledged(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            acknowledged_at=at,
        ),
        source=SOURCE,
        occurred_at=at,
    )
