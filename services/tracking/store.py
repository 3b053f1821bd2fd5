"""Tracking's SQL: agencies, cases with their points, history, extensions and answers.

Every change to a case is written with its history entry (the agencies' change feed), its
deadline steps and its event (outbox) in the caller's transaction.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

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
    DueDateChanged,
    DueDateRule,
    ExtensionDecided,
    ExtensionRequested,
    Level,
    Point,
    PointAnswer,
    SkippedDay,
)
from contracts.lifecycle import CaseStatus, Change, ExtensionStatus
from contracts.vocabulary import VIETNAM
from services.platform import db, outbox, telemetry, tokens
from services.tracking import schedule
from services.tracking.deadlines import DeadlinePolicy, compute_due
from services.tracking.domain import SchedulePolicy, answerable

log = logging.getLogger(__name__)
TOKENS = tokens.TokenStore(table="agency_tokens", owner_column="agency_id", owners="agencies")
_ANSWERABLE: Final = [status.value for status in CaseStatus if answerable(status)]


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: datetime
    change: Change
    detail: str


@dataclass(frozen=True)
class Extension:
    id: uuid.UUID
    request_id: str
    reason: str
    requested_due_date: date
    requested_at: datetime
    status: ExtensionStatus
    decision_note: str


@dataclass(frozen=True)
class Case:
    id: uuid.UUID
    critique_id: uuid.UUID
    agency_id: str
    organisation_id: str
    organisation_name: str
    organisation_parent_id: str | None
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
    overdue_at: datetime | None
    version: int
    trace_headers: dict[str, str]
    extensions: tuple[Extension, ...] = ()
    history: tuple[HistoryEntry, ...] = field(default=())


class NotFound(LookupError):
    """No such case."""


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
        )


async def record_history(
    connection: db.Connection, case: Case, change: Change, *, at: datetime, detail: str = ""
) -> None:
    await connection.execute(
        "INSERT INTO case_history (case_id, agency_id, at, change, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        case.id,
        case.agency_id,
        at,
        change.value,
        detail,
    )


async def open_case(
    connection: db.Connection,
    submitted: CritiqueSubmitted,
    *,
    policy: DeadlinePolicy,
    steps: SchedulePolicy,
    now: datetime,
) -> uuid.UUID | None:
    """Open the case for a submitted critique, with its due date, deadline steps and
    ``case.opened``. The journey's trace context is kept so that the agency's steps join it."""
    rule, source = policy.rule_for(submitted.kind, submitted.organisation.level)
    due = compute_due(submitted.submitted_at, rule, source=source)
    due_rule = DueDateRule(
        days=due.rule.days,
        counting=due.rule.counting.value,
        start=due.start,
        explanation=due.explanation,
        source=due.source,
        skipped=tuple(SkippedDay(day=day.day, reason=day.reason) for day in due.skipped),
    )
    case_id = uuid.uuid4()
    journey = telemetry.inject_current()
    opened = await connection.fetchval(
        """
        INSERT INTO cases (id, critique_id, agency_id, organisation_id, organisation_name,
                           organisation_level, organisation_parent_id, kind, title, opened_at,
                           due_date, due_rule, status, traceparent, tracestate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (critique_id) DO NOTHING RETURNING true
        """,
        case_id,
        submitted.critique_id,
        submitted.agency_id,
        submitted.organisation.id,
        submitted.organisation.name,
        submitted.organisation.level.value,
        submitted.organisation.parent_id,
        submitted.kind.value,
        submitted.title,
        now,
        due.due_date,
        due_rule.model_dump_json(),
        CaseStatus.AWAITING_ANSWER.value,
        journey.get("traceparent"),
        journey.get("tracestate"),
    )
    if not opened:
        return None  # already open: the same critique submitted through another event id
    await connection.executemany(
        "INSERT INTO case_points (case_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(case_id, p.number, p.text, p.citation) for p in submitted.points],
    )
    case = await get_case(connection, case_id)
    await record_history(connection, case, Change.OPENED, at=now, detail=due_rule.explanation)
    await schedule.plan(connection, case_id, due.due_date, steps.steps(due.due_date, after=now))
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
            opened_at=now,
            due_date=due.due_date,
            due_rule=due_rule,
        ),
        occurred_at=now,
    )
    log.info(
        "case opened",
        extra={
            "case_id": str(case_id),
            "critique_id": str(submitted.critique_id),
            "agency_id": submitted.agency_id,
            "due_date": due.due_date.isoformat(),
        },
    )
    return case_id


def _case(
    row: db.Record,
    points: list[db.Record],
    extensions: list[db.Record],
    history: list[db.Record] | None = None,
) -> Case:
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
        organisation_parent_id=row["organisation_parent_id"],
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
        overdue_at=row["overdue_at"],
        version=row["version"],
        trace_headers={
            name: row[name] for name in ("traceparent", "tracestate") if row[name] is not None
        },
        extensions=tuple(
            Extension(
                id=e["id"],
                request_id=e["request_id"],
                reason=e["reason"],
                requested_due_date=e["requested_due_date"],
                requested_at=e["requested_at"],
                status=ExtensionStatus(e["status"]),
                decision_note=e["decision_note"],
            )
            for e in extensions
        ),
        history=tuple(
            HistoryEntry(id=h["id"], at=h["at"], change=Change(h["change"]), detail=h["detail"])
            for h in history or ()
        ),
    )


async def _load(
    executor: db.Executor, rows: list[db.Record], *, with_history: bool = False
) -> list[Case]:
    ids = [row["id"] for row in rows]
    points = await db.children(executor, "case_points", parent="case_id", order="number", ids=ids)
    extensions = await db.children(
        executor, "extensions", parent="case_id", order="requested_at", ids=ids
    )
    history = (
        await db.children(executor, "case_history", parent="case_id", order="id", ids=ids)
        if with_history
        else {}
    )
    return [
        _case(row, points[row["id"]], extensions[row["id"]], history.get(row["id"])) for row in rows
    ]


async def get_case(
    executor: db.Executor,
    case_id: uuid.UUID,
    *,
    for_update: bool = False,
    with_history: bool = False,
) -> Case:
    row = await executor.fetchrow(
        "SELECT * FROM cases WHERE id = $1" + (" FOR UPDATE" if for_update else ""), case_id
    )
    if row is None:
        raise NotFound(case_id)
    return (await _load(executor, [row], with_history=with_history))[0]


async def case_of_critique(executor: db.Executor, critique_id: uuid.UUID) -> Case | None:
    row = await executor.fetchrow(
        "SELECT * FROM cases WHERE critique_id = $1 FOR UPDATE", critique_id
    )
    return None if row is None else (await _load(executor, [row]))[0]


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
) -> list[Case]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            """
            SELECT * FROM cases
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
        return await _load(connection, list(rows))


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


async def record_answer(
    connection: db.Connection,
    case: Case,
    *,
    request_id: str,
    answers: list[PointAnswer],
    answered_at: datetime,
    late: bool,
) -> None:
    """Store the answer and its ``case.answered`` event; no reminder follows an answer."""
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
    await schedule.cancel(connection, case.id)
    await record_history(
        connection, case, Change.ANSWERED, at=answered_at, detail="late" if late else "on time"
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
        occurred_at=answered_at,
    )
    log.info(
        "case answered",
        extra={
            "case_id": str(case.id),
            "critique_id": str(case.critique_id),
            "agency_id": case.agency_id,
            "late": late,
        },
    )


async def amend_case(connection: db.Connection, amended: CritiqueAmended) -> None:
    """Replace the case's content with the organisation's amendment (a newer version only)."""
    case = await case_of_critique(connection, amended.critique_id)
    if case is None or case.version >= amended.version:
        return  # an older version, or a critique tracking never opened
    await connection.execute(
        "UPDATE cases SET title = $2, version = $3 WHERE id = $1",
        case.id,
        amended.content.title,
        amended.version,
    )
    await connection.execute("DELETE FROM case_points WHERE case_id = $1", case.id)
    await connection.executemany(
        "INSERT INTO case_points (case_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(case.id, p.number, p.text, p.citation) for p in amended.content.points],
    )
    await record_history(
        connection,
        case,
        Change.AMENDED,
        at=amended.amended_at,
        detail=f"version {amended.version}",
    )


async def withdraw_case(connection: db.Connection, withdrawn: CritiqueWithdrawn) -> None:
    case = await case_of_critique(connection, withdrawn.critique_id)
    if case is None or case.status in {CaseStatus.ANSWERED, CaseStatus.WITHDRAWN}:
        return
    await connection.execute(
        "UPDATE cases SET status = $2, withdrawn_at = $3 WHERE id = $1",
        case.id,
        CaseStatus.WITHDRAWN.value,
        withdrawn.withdrawn_at,
    )
    await schedule.cancel(connection, case.id)
    await record_history(
        connection, case, Change.WITHDRAWN, at=withdrawn.withdrawn_at, detail=withdrawn.reason
    )


async def acknowledge(connection: db.Connection, case: Case, *, at: datetime) -> None:
    """Record the agency's receipt and ``case.acknowledged``, in the caller's transaction."""
    await connection.execute(
        "UPDATE cases SET status = $2, acknowledged_at = $3 WHERE id = $1",
        case.id,
        CaseStatus.ACKNOWLEDGED.value,
        at,
    )
    await record_history(connection, case, Change.ACKNOWLEDGED, at=at)
    await outbox.record(
        connection,
        CaseAcknowledged(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            acknowledged_at=at,
        ),
        occurred_at=at,
    )


async def request_extension(
    connection: db.Connection,
    case: Case,
    *,
    request_id: str,
    reason: str,
    requested_due_date: date,
    at: datetime,
) -> None:
    """Record the agency's request and ``case.extension_requested`` (once per request id)."""
    extension_id = uuid.uuid4()
    created = await connection.fetchval(
        """
        INSERT INTO extensions (id, case_id, request_id, reason, requested_due_date,
                                requested_at, status)
        VALUES ($1, $2, $3, $4, $5, $6, 'pending')
        ON CONFLICT (case_id, request_id) DO NOTHING RETURNING true
        """,
        extension_id,
        case.id,
        request_id,
        reason,
        requested_due_date,
        at,
    )
    if not created:
        return
    await record_history(
        connection,
        case,
        Change.EXTENSION_REQUESTED,
        at=at,
        detail=f"{requested_due_date.isoformat()}: {reason}",
    )
    await outbox.record(
        connection,
        ExtensionRequested(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            extension_id=extension_id,
            reason=reason,
            current_due_date=case.due_date,
            requested_due_date=requested_due_date,
            requested_at=at,
        ),
        occurred_at=at,
    )


async def decide_extension(
    connection: db.Connection, decided: ExtensionDecided, *, steps: SchedulePolicy, now: datetime
) -> None:
    """Apply the organisation's decision; a granted extension moves the due date, and with it
    the reminders, and announces the new date."""
    row = await connection.fetchrow(
        "UPDATE extensions SET status = $2, decided_at = $3, decision_note = $4"
        " WHERE id = $1 AND status = 'pending' RETURNING case_id, requested_due_date",
        decided.extension_id,
        "granted" if decided.granted else "refused",
        decided.decided_at,
        decided.note,
    )
    if row is None:
        return  # unknown, or decided already
    case = await get_case(connection, row["case_id"], for_update=True)
    if not decided.granted:
        await record_history(
            connection, case, Change.EXTENSION_REFUSED, at=decided.decided_at, detail=decided.note
        )
        return
    new_due: date = row["requested_due_date"]
    rule = case.due_rule.model_copy(
        update={
            "source": "extension granted",
            "explanation": (
                f"Gia hạn đến {new_due:%d/%m/%Y} theo đề nghị của cơ quan, được tổ chức gửi kiến"
                f" nghị chấp thuận / Extended to {new_due.isoformat()} at the agency's request,"
                " granted by the submitting organisation"
            ),
            "skipped": (),
        }
    )
    overdue_ends = case.overdue_at is not None and new_due >= now.astimezone(VIETNAM).date()
    await connection.execute(
        "UPDATE cases SET due_date = $2, due_rule = $3,"
        " overdue_at = CASE WHEN $4 THEN NULL ELSE overdue_at END WHERE id = $1",
        case.id,
        new_due,
        rule.model_dump_json(),
        overdue_ends,
    )
    await schedule.cancel(connection, case.id)
    if answerable(case.status):
        await schedule.plan(connection, case.id, new_due, steps.steps(new_due, after=now))
    await record_history(
        connection,
        case,
        Change.EXTENSION_GRANTED,
        at=decided.decided_at,
        detail=new_due.isoformat(),
    )
    await outbox.record(
        connection,
        DueDateChanged(
            critique_id=case.critique_id,
            case_id=case.id,
            agency_id=case.agency_id,
            extension_id=decided.extension_id,
            due_date=new_due,
            due_rule=rule,
            changed_at=decided.decided_at,
        ),
        occurred_at=decided.decided_at,
    )
