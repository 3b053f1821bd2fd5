"""Submission's SQL: critiques with their points and history, the organisation's change
requests awaiting tracking, what tracking reports (answers, extensions, escalations), and
attachments. Statements only: what they mean is decided in ``commands``.

Every change is written in the caller's transaction, with its history entry and, by the caller,
its event (outbox).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from contracts.drafts import CitedPart
from contracts.events import (
    CritiqueContent,
    CritiqueKind,
    DraftPart,
    DraftReference,
    DraftVersionRef,
    Point,
    PointAnswer,
)
from contracts.lifecycle import ExtensionStatus, RefusalReason, RequestKind, RequestStatus
from contracts.submission_api import CritiqueStatus, HistoryStep
from services.platform import db
from services.submission import domain


@dataclass(frozen=True)
class Critique:
    id: uuid.UUID
    organisation_id: str
    agency_id: str
    kind: CritiqueKind
    version: int
    content: CritiqueContent
    status: CritiqueStatus
    submitted_at: datetime
    updated_at: datetime
    due_date: date | None
    acknowledged_at: datetime | None
    answered_at: datetime | None
    answered_late: bool | None
    answered_version: int | None
    withdrawn_at: datetime | None
    overdue_at: datetime | None
    answers: tuple[PointAnswer, ...]
    cited: Mapping[int, tuple[CitedPart, ...]] = field(default_factory=dict)
    """By point number: the parts the point cites, as they read in ``content.draft_version``."""


Cited = Mapping[int, Sequence[CitedPart]]
"""What each point (by number) cites, with the parts' text."""


@dataclass(frozen=True)
class ChangeRequest:
    id: uuid.UUID
    critique_id: uuid.UUID
    kind: RequestKind
    status: RequestStatus
    requested_at: datetime
    decided_at: datetime | None
    expected_version: int | None
    content: CritiqueContent | None
    reason: str
    extension_id: uuid.UUID | None
    grant: bool | None
    note: str
    version: int | None
    refusal_reason: RefusalReason | None
    refusal_detail: str | None
    fingerprint: bytes | None = None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    step: HistoryStep
    version: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class Attachment:
    id: uuid.UUID
    critique_id: uuid.UUID
    filename: str
    media_type: str
    size: int
    sha256: str
    added_at: datetime


@dataclass(frozen=True)
class Extension:
    id: uuid.UUID
    critique_id: uuid.UUID
    reason: str
    current_due_date: date
    requested_due_date: date
    requested_at: datetime
    status: ExtensionStatus
    decided_at: datetime | None
    note: str


@dataclass(frozen=True)
class Escalation:
    critique_id: uuid.UUID
    organisation_id: str
    agency_id: str
    title: str
    due_date: date
    at: datetime


class NotFound(LookupError):
    """No such critique (or attachment, extension, request) for this organisation."""


# --- critiques -----------------------------------------------------------------------------------


def _draft_json(draft: DraftReference | None) -> str | None:
    return None if draft is None else draft.model_dump_json()


async def insert_critique(
    connection: db.Connection,
    *,
    critique_id: uuid.UUID,
    organisation_id: str,
    agency_id: str,
    kind: CritiqueKind,
    content: CritiqueContent,
    cited: Cited,
    at: datetime,
) -> Critique | None:
    """Store a new critique (version 1, submitted at ``at``) with its 'submitted' history entry
    and return it as stored, no read back; None, storing nothing, if the agency addressed is
    not in the directory tracking announced."""
    stored = await connection.fetchval(
        """
        WITH stored AS (
            INSERT INTO critiques (id, organisation_id, agency_id, kind, title, status,
                                   submitted_at, updated_at, draft, legal_basis, redact_names,
                                   draft_version)
            SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz,
                   $7::timestamptz, $8::jsonb, $9::text, $10::text[], $12::jsonb
            WHERE EXISTS (SELECT FROM known_agencies WHERE id = $3::text)
            RETURNING id
        ), history AS (
            INSERT INTO critique_history (critique_id, at, step, version)
            SELECT id, $7::timestamptz, $11::text, 1 FROM stored
        )
        SELECT count(*) FROM stored
        """,
        critique_id,
        organisation_id,
        agency_id,
        kind.value,
        content.title,
        CritiqueStatus.SUBMITTED.value,
        at,
        _draft_json(content.draft),
        content.legal_basis,
        list(content.redact_names),
        HistoryStep.SUBMITTED.value,
        _version_json(content.draft_version),
    )
    if not stored:
        return None
    await _insert_points(connection, critique_id, content.points, cited)
    return Critique(
        id=critique_id,
        organisation_id=organisation_id,
        agency_id=agency_id,
        kind=kind,
        version=1,
        content=content,
        status=CritiqueStatus.SUBMITTED,
        submitted_at=at,
        updated_at=at,
        due_date=None,
        acknowledged_at=None,
        answered_at=None,
        answered_late=None,
        answered_version=None,
        withdrawn_at=None,
        overdue_at=None,
        answers=(),
        cited={number: tuple(parts) for number, parts in cited.items()},
    )


def _version_json(ref: DraftVersionRef | None) -> str | None:
    return None if ref is None else ref.model_dump_json()


async def _replace_points(
    connection: db.Connection, critique_id: uuid.UUID, points: Sequence[Point], cited: Cited
) -> None:
    await connection.execute("DELETE FROM critique_points WHERE critique_id = $1", critique_id)
    await _insert_points(connection, critique_id, points, cited)


_POINT_COLUMNS = {
    "critique_id": "uuid",
    "number": "integer",
    "text": "text",
    "citation": "text",
    "cites": "jsonb",
    "cited": "jsonb",
}


async def _insert_points(
    connection: db.Connection, critique_id: uuid.UUID, points: Sequence[Point], cited: Cited
) -> None:
    await db.insert_rows(
        connection,
        "critique_points",
        _POINT_COLUMNS,
        [
            (
                critique_id,
                p.number,
                p.text,
                p.citation,
                json.dumps(list(p.cites)),
                json.dumps([c.model_dump() for c in cited.get(p.number, ())]),
            )
            for p in points
        ],
    )


async def replace_content(
    connection: db.Connection,
    critique_id: uuid.UUID,
    *,
    content: CritiqueContent,
    cited: Cited,
    version: int,
    at: datetime,
) -> None:
    await connection.execute(
        "UPDATE critiques SET title = $2, draft = $3, legal_basis = $4, version = $5,"
        " updated_at = $6, redact_names = $7, draft_version = $8 WHERE id = $1",
        critique_id,
        content.title,
        _draft_json(content.draft),
        content.legal_basis,
        version,
        at,
        list(content.redact_names),
        _version_json(content.draft_version),
    )
    await _replace_points(connection, critique_id, content.points, cited)


def _children(critique: str) -> str:
    return ", ".join(
        (
            db.child_rows(
                "critique_points",
                parent="critique_id",
                key=critique,
                order="number",
                alias="point_rows",
            ),
            db.child_rows(
                "critique_answers",
                parent="critique_id",
                key=critique,
                order="point_number",
                alias="answer_rows",
            ),
        )
    )


SELECT_CRITIQUES = "SELECT c.*, " + _children("c.id") + " FROM critiques c"
"""Critiques with their points and answers, one statement for any number of them: add the
``WHERE`` (on ``c``), and give the rows to :func:`load`. Not for a lock (``FOR UPDATE``): a
statement that waited for the row's lock would read the children as they were before."""


async def lock(
    connection: db.Connection, critique_id: uuid.UUID, organisation_id: str | None = None
) -> Critique | None:
    """The critique, locked for the caller's transaction (only the organisation's own, given
    ``organisation_id``); None if there is none. The row first, then its points and answers as
    they are once the lock is held (two statements)."""
    row = await connection.fetchrow(
        "SELECT * FROM critiques WHERE id = $1 AND ($2::text IS NULL OR organisation_id = $2)"
        " FOR UPDATE",
        critique_id,
        organisation_id,
    )
    if row is None:
        return None
    children = await connection.fetchrow("SELECT " + _children("$1::uuid"), critique_id)
    assert children is not None
    return _critique(row, children)


@dataclass(frozen=True)
class Standing:
    """What a step tracking reported is applied against: the critique's row alone."""

    id: uuid.UUID
    status: CritiqueStatus
    version: int
    title: str


async def lock_standing(connection: db.Connection, critique_id: uuid.UUID) -> Standing | None:
    """The critique's standing, its row locked for the caller's transaction; None if there is
    none. One statement: neither points nor answers are read."""
    row = await connection.fetchrow(
        "SELECT id, status, version, title FROM critiques WHERE id = $1 FOR UPDATE", critique_id
    )
    if row is None:
        return None
    return Standing(
        id=row["id"],
        status=CritiqueStatus(row["status"]),
        version=row["version"],
        title=row["title"],
    )


async def update_with_history(
    connection: db.Connection,
    critique_id: uuid.UUID,
    step: HistoryStep,
    *,
    at: datetime,
    version: int,
    detail: dict[str, Any],
    **columns: Any,
) -> None:
    """Set the columns named and add the step to the critique's history: one statement."""
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=6))
    await connection.execute(
        "WITH step AS (INSERT INTO critique_history (critique_id, at, step, version, detail)"
        " VALUES ($1, $2, $3, $4, $5))"
        f" UPDATE critiques SET {assignments} WHERE id = $1",
        critique_id,
        at,
        step.value,
        version,
        json.dumps(detail, ensure_ascii=False),
        *columns.values(),
    )


async def update(connection: db.Connection, critique_id: uuid.UUID, **columns: Any) -> None:
    """Set the columns named (tracking's report of a step: status, due date, moments)."""
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await connection.execute(
        f"UPDATE critiques SET {assignments} WHERE id = $1", critique_id, *columns.values()
    )


def _critique(row: db.Record, children: db.Record) -> Critique:
    """A critique from its row and, in ``children``, its points and answers as
    :func:`_children` reads them (JSON arrays of their rows)."""
    points: list[dict[str, Any]] = json.loads(children["point_rows"])
    answers: list[dict[str, Any]] = json.loads(children["answer_rows"])
    return Critique(
        id=row["id"],
        organisation_id=row["organisation_id"],
        agency_id=row["agency_id"],
        kind=CritiqueKind(row["kind"]),
        version=row["version"],
        content=CritiqueContent(
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
            draft=DraftReference.model_validate_json(row["draft"]) if row["draft"] else None,
            draft_version=(
                DraftVersionRef.model_validate_json(row["draft_version"])
                if row["draft_version"]
                else None
            ),
            legal_basis=row["legal_basis"],
            redact_names=tuple(row["redact_names"]),
        ),
        status=CritiqueStatus(row["status"]),
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        due_date=row["due_date"],
        acknowledged_at=row["acknowledged_at"],
        answered_at=row["answered_at"],
        answered_late=row["answered_late"],
        answered_version=row["answered_version"],
        withdrawn_at=row["withdrawn_at"],
        overdue_at=row["overdue_at"],
        answers=tuple(
            PointAnswer(
                point_number=a["point_number"],
                disposition=a["disposition"],
                explanation=a["explanation"],
            )
            for a in answers
        ),
        cited={
            p["number"]: tuple(CitedPart.model_validate(c) for c in p["cited"])
            for p in points
            if p.get("cited")
        },
    )


def load(rows: Sequence[db.Record]) -> list[Critique]:
    """The critiques of ``rows``, read with :data:`SELECT_CRITIQUES` (so holding their points
    and answers)."""
    return [_critique(row, row) for row in rows]


async def record_history(
    connection: db.Connection,
    critique_id: uuid.UUID,
    step: HistoryStep,
    *,
    at: datetime,
    version: int,
    detail: dict[str, Any] | None = None,
) -> None:
    await connection.execute(
        "INSERT INTO critique_history (critique_id, at, step, version, detail)"
        " VALUES ($1, $2, $3, $4, $5)",
        critique_id,
        at,
        step.value,
        version,
        json.dumps(detail or {}, ensure_ascii=False),
    )


async def save_answers(
    connection: db.Connection, critique_id: uuid.UUID, answers: Sequence[PointAnswer]
) -> None:
    await db.insert_rows(
        connection,
        "critique_answers",
        {
            "critique_id": "uuid",
            "point_number": "integer",
            "disposition": "text",
            "explanation": "text",
        },
        [(critique_id, a.point_number, a.disposition.value, a.explanation) for a in answers],
        then="ON CONFLICT (critique_id, point_number) DO UPDATE"
        " SET disposition = excluded.disposition, explanation = excluded.explanation",
    )


# --- the organisation's change requests ---------------------------------------------------------


def _request(row: db.Record) -> ChangeRequest:
    return ChangeRequest(
        id=row["id"],
        critique_id=row["critique_id"],
        kind=RequestKind(row["kind"]),
        status=RequestStatus(row["status"]),
        requested_at=row["requested_at"],
        decided_at=row["decided_at"],
        expected_version=row["expected_version"],
        content=CritiqueContent.model_validate_json(row["content"]) if row["content"] else None,
        reason=row["reason"],
        extension_id=row["extension_id"],
        grant=row["grant_extension"],
        note=row["note"],
        version=row["version"],
        refusal_reason=RefusalReason(row["refusal_reason"]) if row["refusal_reason"] else None,
        refusal_detail=row["refusal_detail"],
        fingerprint=bytes(row["fingerprint"]) if row["fingerprint"] is not None else None,
    )


async def insert_request(
    connection: db.Connection,
    *,
    request_id: uuid.UUID,
    critique_id: uuid.UUID,
    kind: RequestKind,
    at: datetime,
    idempotency_key: str | None,
    fingerprint: bytes,
    expected_version: int | None = None,
    content: CritiqueContent | None = None,
    reason: str = "",
    extension_id: uuid.UUID | None = None,
    grant: bool | None = None,
    note: str = "",
) -> ChangeRequest | None:
    """Insert a pending request; None when the critique has one under this idempotency key."""
    row = await connection.fetchrow(
        """
        INSERT INTO change_requests (id, critique_id, kind, status, idempotency_key, fingerprint,
                                     requested_at, expected_version, content, reason,
                                     extension_id, grant_extension, note)
        VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (critique_id, idempotency_key) DO NOTHING
        RETURNING *
        """,
        request_id,
        critique_id,
        kind.value,
        idempotency_key,
        fingerprint,
        at,
        expected_version,
        content.model_dump_json() if content else None,
        reason,
        extension_id,
        grant,
        note,
    )
    return None if row is None else _request(row)


async def request_by_key(
    connection: db.Connection, critique_id: uuid.UUID, idempotency_key: str
) -> ChangeRequest | None:
    row = await connection.fetchrow(
        "SELECT * FROM change_requests WHERE critique_id = $1 AND idempotency_key = $2",
        critique_id,
        idempotency_key,
    )
    return None if row is None else _request(row)


async def requests(
    executor: db.Executor, critique_ids: Sequence[uuid.UUID], *, pending_only: bool = False
) -> dict[uuid.UUID, list[ChangeRequest]]:
    """The critiques' requests, oldest first (only those still pending, with ``pending_only``)."""
    rows = await executor.fetch(
        "SELECT * FROM change_requests WHERE critique_id = ANY($1)"
        " AND (NOT $2 OR status = 'pending') ORDER BY critique_id, requested_at, id",
        list(critique_ids),
        pending_only,
    )
    found: dict[uuid.UUID, list[ChangeRequest]] = {critique_id: [] for critique_id in critique_ids}
    for row in rows:
        found[row["critique_id"]].append(_request(row))
    return found


async def request(
    executor: db.Executor, critique_id: uuid.UUID, request_id: uuid.UUID
) -> ChangeRequest | None:
    row = await executor.fetchrow(
        "SELECT * FROM change_requests WHERE id = $1 AND critique_id = $2", request_id, critique_id
    )
    return None if row is None else _request(row)


async def decide_request(
    connection: db.Connection,
    request_id: uuid.UUID,
    *,
    status: RequestStatus,
    at: datetime,
    version: int,
    refusal_reason: RefusalReason | None = None,
    refusal_detail: str | None = None,
) -> ChangeRequest | None:
    """Record tracking's decision on a pending request; None if it was not pending (decided
    already: the decision heard twice)."""
    row = await connection.fetchrow(
        """
        UPDATE change_requests SET status = $2, decided_at = $3, version = $4,
                                   refusal_reason = $5, refusal_detail = $6
        WHERE id = $1 AND status = 'pending' RETURNING *
        """,
        request_id,
        status.value,
        at,
        version,
        refusal_reason.value if refusal_reason else None,
        refusal_detail,
    )
    return None if row is None else _request(row)


# --- extensions and escalations, as tracking reports them -------------------------------------


async def insert_extension(
    connection: db.Connection,
    *,
    extension_id: uuid.UUID,
    critique_id: uuid.UUID,
    reason: str,
    current_due_date: date,
    requested_due_date: date,
    requested_at: datetime,
) -> None:
    await connection.execute(
        """
        INSERT INTO extensions (id, critique_id, reason, current_due_date, requested_due_date,
                                requested_at, status)
        VALUES ($1, $2, $3, $4, $5, $6, 'pending')
        ON CONFLICT DO NOTHING
        """,
        extension_id,
        critique_id,
        reason,
        current_due_date,
        requested_due_date,
        requested_at,
    )


def _extension(row: db.Record) -> Extension:
    return Extension(**{**dict(row), "status": ExtensionStatus(row["status"])})


async def extension(
    executor: db.Executor, critique_id: uuid.UUID, extension_id: uuid.UUID
) -> Extension | None:
    row = await executor.fetchrow(
        "SELECT * FROM extensions WHERE id = $1 AND critique_id = $2", extension_id, critique_id
    )
    return None if row is None else _extension(row)


async def extensions(executor: db.Executor, critique_id: uuid.UUID) -> list[Extension]:
    rows = await executor.fetch(
        "SELECT * FROM extensions WHERE critique_id = $1 ORDER BY requested_at", critique_id
    )
    return [_extension(row) for row in rows]


async def decide_extension(
    connection: db.Connection,
    extension_id: uuid.UUID,
    *,
    status: ExtensionStatus,
    at: datetime,
    note: str,
) -> None:
    await connection.execute(
        "UPDATE extensions SET status = $2, decided_at = $3, note = $4 WHERE id = $1",
        extension_id,
        status.value,
        at,
        note,
    )


async def insert_escalation(connection: db.Connection, escalation: Escalation, to: str) -> None:
    await connection.execute(
        """
        INSERT INTO escalations (critique_id, escalated_to, organisation_id, agency_id, title,
                                 due_date, at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
        """,
        escalation.critique_id,
        to,
        escalation.organisation_id,
        escalation.agency_id,
        escalation.title,
        escalation.due_date,
        escalation.at,
    )


# --- attachments ---------------------------------------------------------------------------------


async def insert_attachment(
    connection: db.Connection, attachment: Attachment, content: bytes
) -> None:
    await connection.execute(
        "INSERT INTO attachments (id, critique_id, filename, media_type, size, sha256, content,"
        " added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        attachment.id,
        attachment.critique_id,
        attachment.filename,
        attachment.media_type,
        attachment.size,
        attachment.sha256,
        content,
        attachment.added_at,
    )


# --- drafts, as tracking announced them ------------------------------------------------------


async def remember_draft(
    connection: db.Connection, *, draft_id: uuid.UUID, agency_id: str, title: str
) -> None:
    await connection.execute(
        "INSERT INTO heard_drafts (id, agency_id, title) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO NOTHING",
        draft_id,
        agency_id,
        title,
    )


async def remember_version(
    connection: db.Connection, *, draft_id: uuid.UUID, version: int, parts: Sequence[DraftPart]
) -> None:
    await connection.execute(
        "INSERT INTO heard_draft_versions (draft_id, version, parts) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        draft_id,
        version,
        json.dumps([part.model_dump(mode="json") for part in parts]),
    )


async def heard_version(executor: db.Executor, ref: DraftVersionRef) -> domain.HeardVersion | None:
    """The version as tracking announced it, with its drafting agency's name; None if
    submission has not heard of it."""
    row = await executor.fetchrow(
        """
        SELECT d.agency_id, coalesce(a.name, d.agency_id) AS agency_name, d.title, v.parts
        FROM heard_draft_versions v JOIN heard_drafts d ON d.id = v.draft_id
        LEFT JOIN known_agencies a ON a.id = d.agency_id
        WHERE v.draft_id = $1 AND v.version = $2
        """,
        ref.draft_id,
        ref.version,
    )
    if row is None:
        return None
    return domain.HeardVersion(
        draft_id=ref.draft_id,
        version=ref.version,
        agency_id=row["agency_id"],
        agency_name=row["agency_name"],
        title=row["title"],
        parts=tuple(DraftPart.model_validate(part) for part in json.loads(row["parts"])),
    )
