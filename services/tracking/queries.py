"""Tracking's reads: the agencies' lists of cases, their change feed, and the counts the metrics
show. SQL only; a case is read with :func:`store.load`, the same way it is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from contracts.events import CritiqueKind, Level
from contracts.lifecycle import CaseStatus, Change
from services.platform import db
from services.tracking import store
from services.tracking.domain import NotYourCase, NotYourDraft, answerable


async def own_case(pool: db.Pool, *, agency_id: str, case_id: uuid.UUID) -> store.Case:
    """One of the agency's cases, with its history (store.NotFound, NotYourCase)."""
    case = await store.get_case(pool, case_id, with_history=True)
    if case.agency_id != agency_id:
        raise NotYourCase(case_id)
    return case


async def own_draft(pool: db.Pool, *, agency_id: str, draft_id: uuid.UUID) -> store.Draft:
    """One of the agency's drafts, every version's text in (store.NotFound, NotYourDraft)."""
    draft = await store.get_draft(pool, draft_id)
    if draft.registered.agency_id != agency_id:
        raise NotYourDraft(draft_id)
    return draft


@dataclass(frozen=True)
class CaseFilter:
    status: CaseStatus | None = None
    overdue_only: bool = False
    due_before: date | None = None
    due_after: date | None = None
    kind: CritiqueKind | None = None


async def list_cases(
    pool: db.Pool,
    *,
    agency_id: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    where: CaseFilter,
) -> list[store.Case]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            store.SELECT_CASES
            + """
            WHERE agency_id = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4::uuid))
              AND (NOT $5 OR overdue_at IS NOT NULL AND answered_at IS NULL)
              AND ($6::date IS NULL OR due_date <= $6)
              AND ($7::date IS NULL OR due_date >= $7)
              AND ($8::text IS NULL OR kind = $8)
            ORDER BY opened_at DESC, id DESC
            LIMIT $9
            """,
            agency_id,
            where.status.value if where.status else None,
            after[0] if after else None,
            after[1] if after else None,
            where.overdue_only,
            where.due_before,
            where.due_after,
            where.kind.value if where.kind else None,
            limit,
        )
        return await store.load(connection, rows)


_ANSWERABLE: Final = [status.value for status in CaseStatus if answerable(status)]


async def open_by_level(executor: db.Executor) -> dict[str, tuple[int, int]]:
    """Cases awaiting an answer and, of them, the overdue ones, by organisation level (every
    level, zero included), in one query."""
    rows = await executor.fetch(
        """
        SELECT organisation_level AS level, count(*) AS open,
               count(*) FILTER (WHERE overdue_at IS NOT NULL) AS overdue
        FROM cases WHERE status = ANY($1::text[])
        GROUP BY organisation_level
        """,
        _ANSWERABLE,
    )
    counts = {level.value: (0, 0) for level in Level}
    counts.update({row["level"]: (int(row["open"]), int(row["overdue"])) for row in rows})
    return counts


@dataclass(frozen=True)
class Overdue:
    """Cases past their due date and still to be answered."""

    by_level: dict[str, int]
    """By the level of the agency that owes the answer (``unknown agency``: not in the
    directory)."""
    escalated: int


async def overdue_by_agency_level(executor: db.Executor) -> Overdue:
    """The overdue cases, in one query (``supervision ops status`` shows them)."""
    rows = await executor.fetch(
        """
        SELECT coalesce(a.level, 'unknown agency') AS level, count(*) AS cases,
               count(*) FILTER (WHERE c.escalated_at IS NOT NULL) AS escalated
        FROM cases c LEFT JOIN agencies a ON a.id = c.agency_id
        WHERE c.overdue_at IS NOT NULL AND c.answered_at IS NULL AND c.status = ANY($1::text[])
        GROUP BY 1
        """,
        _ANSWERABLE,
    )
    return Overdue({r["level"]: r["cases"] for r in rows}, sum(r["escalated"] for r in rows))


@dataclass(frozen=True)
class CaseChange:
    """One entry of an agency's change feed: its history id is the cursor."""

    cursor: int
    case_id: uuid.UUID
    change: Change
    at: datetime


async def latest_change(executor: db.Executor, agency_id: str) -> int:
    cursor: int | None = await executor.fetchval(
        "SELECT max(id) FROM case_history WHERE agency_id = $1", agency_id
    )
    return cursor or 0


async def changes_after(
    executor: db.Executor, agency_id: str, cursor: int, limit: int = 100
) -> list[CaseChange]:
    rows = await executor.fetch(
        "SELECT id, case_id, change, at FROM case_history"
        " WHERE agency_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        agency_id,
        cursor,
        limit,
    )
    return [
        CaseChange(cursor=r["id"], case_id=r["case_id"], change=Change(r["change"]), at=r["at"])
        for r in rows
    ]
