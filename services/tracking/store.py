"""Tracking's SQL: agencies, cases with their points, history, extensions, the requests decided,
the deadline steps, and drafts with their versions. Statements only: what they mean is decided
in ``commands``.

Every change to a case is written in the caller's transaction, with its history entry (the
agencies' change feed) and, by the caller, its event.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from contracts.events import (
    AgencyKind,
    CritiqueKind,
    CritiqueSubmitted,
    Disposition,
    DraftRegistered,
    DraftSentToAuthority,
    DraftType,
    DraftVersionRef,
    DraftVersionRegistered,
    DueDateRule,
    Level,
    Point,
    PointAnswer,
)
from contracts.lifecycle import CaseStatus, Change, ExtensionStatus, RequestKind
from services.platform import db, tokens
from services.tracking.domain import ScheduledStep

TOKENS = tokens.TokenStore(table="agency_tokens", owner_column="agency_id", owners="agencies")


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
    answered_version: int | None
    acknowledged_at: datetime | None
    overdue_at: datetime | None
    version: int
    trace_headers: dict[str, str]
    extensions: tuple[Extension, ...] = ()
    history: tuple[HistoryEntry, ...] = field(default=())
    draft_version: DraftVersionRef | None = None
    """The registered draft version the critique is about; its points cite its parts."""

    def extension(self, extension_id: uuid.UUID) -> Extension | None:
        return next((e for e in self.extensions if e.id == extension_id), None)


class NotFound(LookupError):
    """No such case."""


_POINT_COLUMNS = {
    "case_id": "uuid",
    "number": "integer",
    "text": "text",
    "citation": "text",
    "cites": "jsonb",
}


def _point_rows(case_id: uuid.UUID, points: Sequence[Point]) -> list[tuple[Any, ...]]:
    return [(case_id, p.number, p.text, p.citation, json.dumps(list(p.cites))) for p in points]


# --- agencies ------------------------------------------------------------------------------------


async def agency_by_token(pool: db.Pool, token: str) -> str | None:
    return await TOKENS.owner(pool, token)


async def agency_known(executor: db.Executor, agency_id: str) -> bool:
    known: bool = await executor.fetchval(
        "SELECT EXISTS (SELECT 1 FROM agencies WHERE id = $1)", agency_id
    )
    return known


@dataclass(frozen=True)
class AgencyCertificate:
    fingerprint: bytes
    agency_id: str
    subject: str
    serial_number: str
    not_after: datetime
    label: str
    created_at: datetime
    revoked_at: datetime | None


class CertificateTaken(ValueError):
    """The certificate is registered to another agency already."""


async def agency_by_certificate(executor: db.Executor, fingerprint: bytes) -> str | None:
    """The agency a live (registered, unexpired, unrevoked) certificate acts for, or None."""
    agency: str | None = await executor.fetchval(
        "SELECT agency_id FROM agency_certificates"
        " WHERE fingerprint = $1 AND revoked_at IS NULL AND not_after > now()",
        fingerprint,
    )
    return agency


async def add_certificate(
    executor: db.Executor,
    *,
    agency_id: str,
    fingerprint: bytes,
    subject: str,
    serial_number: str,
    not_after: datetime,
    label: str,
) -> None:
    """Register a certificate for ``agency_id`` (again: nothing changes); raises
    :class:`tokens.UnknownOwner` for an agency not in the directory and
    :class:`CertificateTaken` when the certificate acts for another agency."""
    if not await executor.fetchval("SELECT true FROM agencies WHERE id = $1", agency_id):
        raise tokens.UnknownOwner(agency_id)
    owner = await executor.fetchval(
        """
        INSERT INTO agency_certificates
            (fingerprint, agency_id, subject, serial_number, not_after, label)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (fingerprint) DO UPDATE SET label = agency_certificates.label
        RETURNING agency_id
        """,
        fingerprint,
        agency_id,
        subject,
        serial_number,
        not_after,
        label,
    )
    if owner != agency_id:
        raise CertificateTaken(owner)


async def revoke_certificate(executor: db.Executor, fingerprint: bytes) -> bool:
    """Revoke a certificate; False when no live registration has this fingerprint."""
    revoked = await executor.fetchval(
        "UPDATE agency_certificates SET revoked_at = now()"
        " WHERE fingerprint = $1 AND revoked_at IS NULL RETURNING true",
        fingerprint,
    )
    return bool(revoked)


async def agency_certificates(executor: db.Executor, agency_id: str) -> list[AgencyCertificate]:
    rows = await executor.fetch(
        "SELECT fingerprint, agency_id, subject, serial_number, not_after, label, created_at,"
        " revoked_at FROM agency_certificates WHERE agency_id = $1 ORDER BY created_at",
        agency_id,
    )
    return [AgencyCertificate(**dict(row)) for row in rows]


async def save_agency(
    connection: db.Connection,
    *,
    agency_id: str,
    name: str,
    level: Level,
    kind: AgencyKind,
    parent_id: str | None,
) -> None:
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


# --- cases ---------------------------------------------------------------------------------------


async def insert_case(
    connection: db.Connection,
    submitted: CritiqueSubmitted,
    *,
    case_id: uuid.UUID,
    opened_at: datetime,
    due_date: date,
    due_rule: DueDateRule,
    journey: dict[str, str],
    detail: str,
) -> bool:
    """Insert the case with its 'opened' history entry (``detail``), then its points; False
    when the critique has a case already."""
    opened = await connection.fetchval(
        """
        WITH opened AS (
            INSERT INTO cases (id, critique_id, agency_id, organisation_id, organisation_name,
                               organisation_level, organisation_parent_id, kind, title,
                               opened_at, due_date, due_rule, status, traceparent, tracestate,
                               draft_version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $18)
            ON CONFLICT (critique_id) DO NOTHING RETURNING id, agency_id, opened_at
        )
        INSERT INTO case_history (case_id, agency_id, at, change, detail)
        SELECT id, agency_id, opened_at, $16, $17 FROM opened
        RETURNING true
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
        opened_at,
        due_date,
        due_rule.model_dump_json(),
        CaseStatus.AWAITING_ANSWER.value,
        journey.get("traceparent"),
        journey.get("tracestate"),
        Change.OPENED.value,
        detail,
        (
            submitted.draft_version.model_dump_json()
            if submitted.draft_version is not None
            else None
        ),
    )
    if not opened:
        return False
    await db.insert_rows(
        connection,
        "case_points",
        _POINT_COLUMNS,
        _point_rows(case_id, submitted.points),
    )
    return True


def _children(case: str) -> str:
    return ", ".join(
        (
            db.child_rows(
                "case_points", parent="case_id", key=case, order="number", alias="point_rows"
            ),
            db.child_rows(
                "extensions",
                parent="case_id",
                key=case,
                order="requested_at",
                alias="extension_rows",
            ),
        )
    )


SELECT_CASES = "SELECT c.*, " + _children("c.id") + " FROM cases c"
"""Cases with their points and extensions, one statement for any number of them: add the
``WHERE`` (on ``c``), and give the rows to :func:`load`. Not for a lock (``FOR UPDATE``): a
statement that waited for the row's lock would read the children as they were before."""


def _case(row: db.Record, children: db.Record, history: list[db.Record] | None = None) -> Case:
    """A case from its row and, in ``children``, its points and extensions as :func:`_children`
    reads them (JSON arrays of their rows)."""
    points: list[dict[str, Any]] = json.loads(children["point_rows"])
    extensions: list[dict[str, Any]] = json.loads(children["extension_rows"])
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
            Point(
                number=p["number"],
                text=p["text"],
                citation=p["citation"],
                cites=tuple(p.get("cites") or ()),
            )
            for p in points
        ),
        draft_version=(
            DraftVersionRef.model_validate_json(row["draft_version"])
            if row["draft_version"]
            else None
        ),
        opened_at=row["opened_at"],
        due_date=row["due_date"],
        due_rule=DueDateRule.model_validate(json.loads(row["due_rule"])),
        status=CaseStatus(row["status"]),
        answers=answers,
        answer_request_id=row["answer_request_id"],
        answered_at=row["answered_at"],
        answered_late=bool(row["answered_late"]),
        answered_version=row["answered_version"],
        acknowledged_at=row["acknowledged_at"],
        overdue_at=row["overdue_at"],
        version=row["version"],
        trace_headers={
            name: row[name] for name in ("traceparent", "tracestate") if row[name] is not None
        },
        extensions=tuple(
            Extension(
                id=uuid.UUID(e["id"]),
                request_id=e["request_id"],
                reason=e["reason"],
                requested_due_date=date.fromisoformat(e["requested_due_date"]),
                requested_at=datetime.fromisoformat(e["requested_at"]).astimezone(UTC),
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


async def load(
    executor: db.Executor, rows: Sequence[db.Record], *, with_history: bool = False
) -> list[Case]:
    """The cases of ``rows``, read with :data:`SELECT_CASES` (so holding their points and
    extensions), with their history too if asked (one more query for any number of cases)."""
    history = (
        await db.children(
            executor, "case_history", parent="case_id", order="id", ids=[r["id"] for r in rows]
        )
        if with_history
        else {}
    )
    return [_case(row, row, history.get(row["id"])) for row in rows]


async def _locked(connection: db.Executor, where: str, key: uuid.UUID) -> Case | None:
    """The case ``where`` says, locked for the caller's transaction: the row first, then its
    points and extensions as they are once the lock is held (two statements)."""
    row = await connection.fetchrow(f"SELECT * FROM cases WHERE {where} FOR UPDATE", key)
    if row is None:
        return None
    children = await connection.fetchrow("SELECT " + _children("$1::uuid"), row["id"])
    assert children is not None
    return _case(row, children)


async def get_case(
    executor: db.Executor,
    case_id: uuid.UUID,
    *,
    for_update: bool = False,
    with_history: bool = False,
) -> Case:
    """The case (locked for the caller's transaction with ``for_update``), or NotFound."""
    if for_update:
        assert not with_history, "a locked case is read to be changed, without its history"
        case = await _locked(executor, "id = $1", case_id)
        if case is None:
            raise NotFound(case_id)
        return case
    row = await executor.fetchrow(SELECT_CASES + " WHERE c.id = $1", case_id)
    if row is None:
        raise NotFound(case_id)
    return (await load(executor, [row], with_history=with_history))[0]


async def cases_by_id(
    executor: db.Executor, case_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Case]:
    """The cases of ``case_ids`` by id, with their points and extensions: one query for any
    number of cases (those that do not exist are left out)."""
    rows = await executor.fetch(SELECT_CASES + " WHERE c.id = ANY($1::uuid[])", list(case_ids))
    return {case.id: case for case in await load(executor, rows)}


async def lock_case_of_critique(connection: db.Connection, critique_id: uuid.UUID) -> Case | None:
    return await _locked(connection, "critique_id = $1", critique_id)


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


async def replace_content(
    connection: db.Connection, case: Case, *, title: str, version: int, points: Sequence[Point]
) -> None:
    await connection.execute(
        "UPDATE cases SET title = $2, version = $3 WHERE id = $1", case.id, title, version
    )
    await connection.execute("DELETE FROM case_points WHERE case_id = $1", case.id)
    await db.insert_rows(
        connection,
        "case_points",
        _POINT_COLUMNS,
        _point_rows(case.id, points),
    )


async def mark_acknowledged(connection: db.Connection, case: Case, *, at: datetime) -> None:
    await connection.execute(
        "UPDATE cases SET status = $2, acknowledged_at = $3 WHERE id = $1",
        case.id,
        CaseStatus.ACKNOWLEDGED.value,
        at,
    )


async def mark_withdrawn(connection: db.Connection, case: Case, *, at: datetime) -> None:
    await connection.execute(
        "UPDATE cases SET status = $2, withdrawn_at = $3 WHERE id = $1",
        case.id,
        CaseStatus.WITHDRAWN.value,
        at,
    )


async def mark_answered(
    connection: db.Connection,
    case: Case,
    *,
    request_id: str,
    answers: Sequence[PointAnswer],
    answered_at: datetime,
    late: bool,
) -> Case:
    """Store the answer to every point and the case as answered, with one statement; return
    the case as stored (no read-back)."""
    await connection.execute(
        """
        WITH points AS (
            UPDATE case_points p SET disposition = a.disposition, explanation = a.explanation
            FROM unnest($6::integer[], $7::text[], $8::text[]) AS a (number, disposition,
                                                                    explanation)
            WHERE p.case_id = $1 AND p.number = a.number
        )
        UPDATE cases SET status = $2, answer_request_id = $3, answered_at = $4,
                         answered_late = $5, answered_version = version
        WHERE id = $1
        """,
        case.id,
        CaseStatus.ANSWERED.value,
        request_id,
        answered_at,
        late,
        [a.point_number for a in answers],
        [a.disposition.value for a in answers],
        [a.explanation for a in answers],
    )
    by_point = {a.point_number: a for a in answers}
    return dataclasses.replace(
        case,
        status=CaseStatus.ANSWERED,
        answer_request_id=request_id,
        answered_at=answered_at,
        answered_late=late,
        answered_version=case.version,
        answers=tuple(by_point[p.number] for p in case.points if p.number in by_point),
    )


async def move_due_date(
    connection: db.Connection,
    case: Case,
    *,
    due_date: date,
    due_rule: DueDateRule,
    overdue_ends: bool,
) -> None:
    await connection.execute(
        "UPDATE cases SET due_date = $2, due_rule = $3,"
        " overdue_at = CASE WHEN $4 THEN NULL ELSE overdue_at END WHERE id = $1",
        case.id,
        due_date,
        due_rule.model_dump_json(),
        overdue_ends,
    )


async def mark_overdue(connection: db.Connection, case_id: uuid.UUID, *, at: datetime) -> None:
    await connection.execute("UPDATE cases SET overdue_at = $2 WHERE id = $1", case_id, at)


async def mark_escalated(connection: db.Connection, case_id: uuid.UUID, *, at: datetime) -> None:
    await connection.execute("UPDATE cases SET escalated_at = $2 WHERE id = $1", case_id, at)


# --- extensions ----------------------------------------------------------------------------------


async def insert_extension(
    connection: db.Connection,
    case: Case,
    *,
    extension_id: uuid.UUID,
    request_id: str,
    reason: str,
    requested_due_date: date,
    at: datetime,
) -> bool:
    """Insert a pending extension request; False when this request id was seen already."""
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
    return bool(created)


async def decide_extension(
    connection: db.Connection,
    extension_id: uuid.UUID,
    *,
    status: ExtensionStatus,
    at: datetime,
    note: str,
) -> None:
    await connection.execute(
        "UPDATE extensions SET status = $2, decided_at = $3, decision_note = $4 WHERE id = $1",
        extension_id,
        status.value,
        at,
        note,
    )


# --- the organisation's requests, each decided once -------------------------------------------


async def decided(connection: db.Connection, request_id: uuid.UUID) -> bool:
    """Whether the request was decided already (the same request heard twice)."""
    return bool(
        await connection.fetchval(
            "SELECT true FROM case_requests WHERE request_id = $1", request_id
        )
    )


async def record_decision(
    connection: db.Connection,
    *,
    request_id: uuid.UUID,
    critique_id: uuid.UUID,
    case_id: uuid.UUID | None,
    kind: RequestKind,
    accepted: bool,
    reason: str | None,
    at: datetime,
) -> None:
    await connection.execute(
        "INSERT INTO case_requests (request_id, critique_id, case_id, kind, outcome, reason,"
        " decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        request_id,
        critique_id,
        case_id,
        kind.value,
        "accepted" if accepted else "refused",
        reason,
        at,
    )


# --- deadline steps ------------------------------------------------------------------------------


async def plan_steps(
    connection: db.Connection, case_id: uuid.UUID, due_date: date, steps: Sequence[ScheduledStep]
) -> None:
    await db.insert_rows(
        connection,
        "deadline_steps",
        {"case_id": "uuid", "step": "text", "due_date": "date", "fire_at": "timestamptz"},
        [(case_id, step.key, due_date, step.fire_at) for step in steps],
        then="ON CONFLICT DO NOTHING",
    )


async def cancel_steps(connection: db.Connection, case_id: uuid.UUID) -> None:
    """Drop the steps not yet fired (the case was answered, withdrawn, or its date moved)."""
    await connection.execute(
        "DELETE FROM deadline_steps WHERE case_id = $1 AND fired_at IS NULL", case_id
    )


async def lock_due_steps(
    connection: db.Connection, *, now: datetime, limit: int
) -> list[db.Record]:
    """The steps whose time has come, each locked with its case for the caller's transaction.
    A step whose case (or which) another transaction holds is skipped (SKIP LOCKED): several
    schedulers share the work, and a case being answered, withdrawn or extended right now is
    left until that has committed."""
    rows = await connection.fetch(
        """
        SELECT s.case_id, s.step, s.due_date, c.critique_id, c.agency_id, c.organisation_id,
               c.organisation_parent_id, c.status, c.traceparent, c.tracestate
        FROM deadline_steps s JOIN cases c ON c.id = s.case_id
        WHERE s.fired_at IS NULL AND s.fire_at <= $1
        ORDER BY s.fire_at
        LIMIT $2
        FOR UPDATE OF s, c SKIP LOCKED
        """,
        now,
        limit,
    )
    return list(rows)


async def mark_fired(
    connection: db.Connection,
    step: db.Record,
    *,
    at: datetime,
    agency_id: str,
    change: Change,
    detail: str,
) -> None:
    """The step fired: recorded once, with its history entry."""
    await connection.execute(
        "UPDATE deadline_steps SET fired_at = $4"
        " WHERE case_id = $1 AND step = $2 AND due_date = $3",
        step["case_id"],
        step["step"],
        step["due_date"],
        at,
    )
    await connection.execute(
        "INSERT INTO case_history (case_id, agency_id, at, change, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        step["case_id"],
        agency_id,
        at,
        change.value,
        detail,
    )


async def drop_step(connection: db.Connection, step: db.Record) -> None:
    await connection.execute(
        "DELETE FROM deadline_steps WHERE case_id = $1 AND step = $2 AND due_date = $3",
        step["case_id"],
        step["step"],
        step["due_date"],
    )


# --- drafts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A draft as tracking decided it: the facts it announced, as announced."""

    registered: DraftRegistered
    versions: tuple[DraftVersionRegistered, ...]
    """Oldest first; without their parts and preamble when read for a list."""
    sent: DraftSentToAuthority | None

    @property
    def id(self) -> uuid.UUID:
        return self.registered.draft_id


@dataclass(frozen=True)
class LockedDraft:
    id: uuid.UUID
    agency_id: str
    versions: int
    sent: bool


async def draft_agency(executor: db.Executor, draft_id: uuid.UUID) -> str:
    """The drafting agency of the draft; :class:`NotFound` if there is none."""
    agency_id: str | None = await executor.fetchval(
        "SELECT agency_id FROM drafts WHERE id = $1", draft_id
    )
    if agency_id is None:
        raise NotFound(draft_id)
    return agency_id


async def draft_by_request(
    executor: db.Executor, agency_id: str, request_id: str
) -> uuid.UUID | None:
    found: uuid.UUID | None = await executor.fetchval(
        "SELECT id FROM drafts WHERE agency_id = $1 AND request_id = $2", agency_id, request_id
    )
    return found


async def insert_draft(
    connection: db.Connection, registered: DraftRegistered, *, request_id: str
) -> bool:
    """False when the agency registered a draft with ``request_id`` already."""
    inserted = await connection.fetchval(
        """
        INSERT INTO drafts (id, agency_id, request_id, draft_type, title, issuing_authority,
                            registered_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (agency_id, request_id) DO NOTHING RETURNING true
        """,
        registered.draft_id,
        registered.agency_id,
        request_id,
        registered.draft_type.value,
        registered.title,
        registered.issuing_authority,
        registered.registered_at,
    )
    return bool(inserted)


async def lock_draft(connection: db.Connection, draft_id: uuid.UUID) -> LockedDraft:
    """The draft, locked for this transaction; :class:`NotFound` if there is none."""
    row = await connection.fetchrow(
        """
        SELECT d.id, d.agency_id, d.versions,
               EXISTS (SELECT 1 FROM draft_submissions s WHERE s.draft_id = d.id) AS sent
        FROM drafts d WHERE d.id = $1 FOR UPDATE
        """,
        draft_id,
    )
    if row is None:
        raise NotFound(draft_id)
    return LockedDraft(row["id"], row["agency_id"], row["versions"], row["sent"])


async def version_by_request(
    executor: db.Executor, draft_id: uuid.UUID, request_id: str
) -> DraftVersionRegistered | None:
    facts = await executor.fetchval(
        "SELECT facts FROM draft_versions WHERE draft_id = $1 AND request_id = $2",
        draft_id,
        request_id,
    )
    return None if facts is None else DraftVersionRegistered.model_validate_json(facts)


async def draft_version(
    executor: db.Executor, draft_id: uuid.UUID, number: int
) -> DraftVersionRegistered:
    facts = await executor.fetchval(
        "SELECT facts FROM draft_versions WHERE draft_id = $1 AND number = $2", draft_id, number
    )
    if facts is None:
        raise NotFound(draft_id, number)
    return DraftVersionRegistered.model_validate_json(facts)


async def insert_version(
    connection: db.Connection,
    version: DraftVersionRegistered,
    *,
    request_id: str,
    original: bytes,
) -> None:
    """The version as received, and the draft's count of versions with it."""
    await connection.execute(
        """
        WITH counted AS (UPDATE drafts SET versions = $2 WHERE id = $1)
        INSERT INTO draft_versions (draft_id, number, request_id, received_at, sha256, original,
                                    facts)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        version.draft_id,
        version.version,
        request_id,
        version.received_at,
        version.sha256,
        original,
        version.model_dump_json(),
    )


@dataclass(frozen=True)
class AnsweredDraftPoint:
    case_id: uuid.UUID
    critique_id: uuid.UUID
    point_number: int
    disposition: Disposition


async def answered_points(
    executor: db.Executor, *, agency_id: str, draft_id: uuid.UUID, version: int
) -> list[AnsweredDraftPoint]:
    """The answered points of the agency's cases on that draft version."""
    rows = await executor.fetch(
        """
        SELECT c.id, c.critique_id, p.number, p.disposition
        FROM cases c JOIN case_points p ON p.case_id = c.id
        WHERE (c.draft_version ->> 'draft_id') = $1::text
          AND (c.draft_version ->> 'version')::integer = $2
          AND c.draft_version IS NOT NULL AND c.agency_id = $3 AND p.disposition IS NOT NULL
        ORDER BY c.opened_at, c.id, p.number
        """,
        str(draft_id),
        version,
        agency_id,
    )
    return [
        AnsweredDraftPoint(
            row["id"], row["critique_id"], row["number"], Disposition(row["disposition"])
        )
        for row in rows
    ]


async def submission_request(executor: db.Executor, draft_id: uuid.UUID) -> str | None:
    request_id: str | None = await executor.fetchval(
        "SELECT request_id FROM draft_submissions WHERE draft_id = $1", draft_id
    )
    return request_id


async def insert_submission(
    connection: db.Connection, sent: DraftSentToAuthority, *, request_id: str, original: bytes
) -> None:
    await connection.execute(
        "INSERT INTO draft_submissions (draft_id, request_id, original, facts)"
        " VALUES ($1, $2, $3, $4)",
        sent.draft_id,
        request_id,
        original,
        sent.model_dump_json(),
    )


_DRAFT_COLUMNS = "d.id, d.agency_id, d.draft_type, d.title, d.issuing_authority, d.registered_at"
_WITHOUT_TEXT = """(facts - 'parts' - 'preamble') || '{"parts": []}'"""


def _registered(row: db.Record) -> DraftRegistered:
    return DraftRegistered(
        draft_id=row["id"],
        agency_id=row["agency_id"],
        draft_type=DraftType(row["draft_type"]),
        title=row["title"],
        issuing_authority=row["issuing_authority"],
        registered_at=row["registered_at"],
    )


async def _drafts(
    executor: db.Executor, rows: Sequence[db.Record], *, with_text: bool
) -> list[Draft]:
    """The drafts of ``rows`` with their versions and submissions: two more queries in all."""
    ids = [row["id"] for row in rows]
    facts = "facts" if with_text else _WITHOUT_TEXT
    versions: dict[uuid.UUID, list[DraftVersionRegistered]] = {draft_id: [] for draft_id in ids}
    for version in await executor.fetch(
        f"SELECT draft_id, {facts} AS facts FROM draft_versions"
        " WHERE draft_id = ANY($1::uuid[]) ORDER BY draft_id, number",
        ids,
    ):
        versions[version["draft_id"]].append(
            DraftVersionRegistered.model_validate_json(version["facts"])
        )
    sent = {
        row["draft_id"]: DraftSentToAuthority.model_validate_json(row["facts"])
        for row in await executor.fetch(
            "SELECT draft_id, facts FROM draft_submissions WHERE draft_id = ANY($1::uuid[])", ids
        )
    }
    return [
        Draft(_registered(row), tuple(versions[row["id"]]), sent.get(row["id"])) for row in rows
    ]


async def get_draft(executor: db.Executor, draft_id: uuid.UUID) -> Draft:
    """The draft with every version's text; :class:`NotFound` if there is none."""
    row = await executor.fetchrow(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts d WHERE d.id = $1", draft_id
    )
    if row is None:
        raise NotFound(draft_id)
    (draft,) = await _drafts(executor, [row], with_text=True)
    return draft


async def agency_drafts(
    executor: db.Executor,
    agency_id: str,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Draft]:
    """The agency's drafts, newest first, after the cursor; versions without their text."""
    rows = await executor.fetch(
        f"""
        SELECT {_DRAFT_COLUMNS} FROM drafts d
        WHERE d.agency_id = $1 AND ($2::timestamptz IS NULL OR (d.registered_at, d.id) < ($2, $3))
        ORDER BY d.registered_at DESC, d.id DESC LIMIT $4
        """,
        agency_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return await _drafts(executor, rows, with_text=False)
