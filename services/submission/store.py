"""Submission's critique SQL: critiques, points, history, attachments, and what tracking reports.

Every change to a critique is written with its event (outbox) and its history entry in one
transaction, by the caller's connection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from contracts.events import (
    AttachmentAdded,
    CritiqueAmended,
    CritiqueContent,
    CritiqueKind,
    CritiqueSubmitted,
    CritiqueWithdrawn,
    DraftReference,
    OrganisationRef,
    Point,
    PointAnswer,
)
from contracts.submission_api import CritiqueStatus, HistoryStep
from services.platform import db, outbox
from services.submission.directory import Organisation
from services.submission.domain import changeable

log = logging.getLogger(__name__)


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
    withdrawn_at: datetime | None
    overdue_at: datetime | None
    answers: tuple[PointAnswer, ...]


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


class NotFound(LookupError):
    """No such critique (or attachment) for this organisation."""


class Unchangeable(ValueError):
    """The critique can no longer be amended or withdrawn; ``status`` says why."""

    def __init__(self, status: CritiqueStatus) -> None:
        super().__init__(status.value)
        self.status = status


class VersionMismatch(ValueError):
    """The caller amended a version that is no longer the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(current)
        self.current = current


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


async def _replace_points(
    connection: db.Connection, critique_id: uuid.UUID, points: tuple[Point, ...]
) -> None:
    await connection.execute("DELETE FROM critique_points WHERE critique_id = $1", critique_id)
    await connection.executemany(
        "INSERT INTO critique_points (critique_id, number, text, citation) VALUES ($1, $2, $3, $4)",
        [(critique_id, p.number, p.text, p.citation) for p in points],
    )


def _draft_json(draft: DraftReference | None) -> str | None:
    return None if draft is None else draft.model_dump_json()


async def submit(
    connection: db.Connection,
    *,
    organisation: Organisation,
    agency_id: str,
    kind: CritiqueKind,
    content: CritiqueContent,
) -> uuid.UUID:
    """Store a critique with its ``submitted`` event and history entry."""
    now = datetime.now(UTC)
    critique_id = uuid.uuid4()
    await connection.execute(
        """
        INSERT INTO critiques (id, organisation_id, agency_id, kind, title, status, submitted_at,
                               updated_at, draft, legal_basis, redact_names)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)
        """,
        critique_id,
        organisation.id,
        agency_id,
        kind.value,
        content.title,
        CritiqueStatus.SUBMITTED.value,
        now,
        _draft_json(content.draft),
        content.legal_basis,
        list(content.redact_names),
    )
    await _replace_points(connection, critique_id, content.points)
    await record_history(connection, critique_id, HistoryStep.SUBMITTED, at=now, version=1)
    await outbox.record(
        connection,
        CritiqueSubmitted(
            critique_id=critique_id,
            organisation=OrganisationRef(
                id=organisation.id,
                name=organisation.name,
                level=organisation.level,
                parent_id=organisation.parent_id,
            ),
            agency_id=agency_id,
            kind=kind,
            title=content.title,
            points=content.points,
            draft=content.draft,
            legal_basis=content.legal_basis,
            redact_names=content.redact_names,
            submitted_at=now,
        ),
        occurred_at=now,
    )
    log.info(
        "critique submitted",
        extra={
            "critique_id": str(critique_id),
            "organisation_id": organisation.id,
            "agency_id": agency_id,
            "kind": kind.value,
        },
    )
    return critique_id


async def lock(
    connection: db.Connection, critique_id: uuid.UUID, organisation_id: str
) -> db.Record:
    row = await connection.fetchrow(
        "SELECT id, status, version FROM critiques WHERE id = $1 AND organisation_id = $2"
        " FOR UPDATE",
        critique_id,
        organisation_id,
    )
    if row is None:
        raise NotFound(critique_id)
    locked: db.Record = row
    return locked


async def amend(
    connection: db.Connection,
    *,
    critique_id: uuid.UUID,
    organisation_id: str,
    content: CritiqueContent,
    expected_version: int | None,
) -> None:
    """Replace the content, unless the agency has acknowledged it or it was withdrawn."""
    row = await lock(connection, critique_id, organisation_id)
    status = CritiqueStatus(row["status"])
    if not changeable(status):
        raise Unchangeable(status)
    if expected_version is not None and expected_version != row["version"]:
        raise VersionMismatch(row["version"])
    now, version = datetime.now(UTC), row["version"] + 1
    await connection.execute(
        "UPDATE critiques SET title = $2, draft = $3, legal_basis = $4, version = $5,"
        " updated_at = $6, redact_names = $7 WHERE id = $1",
        critique_id,
        content.title,
        _draft_json(content.draft),
        content.legal_basis,
        version,
        now,
        list(content.redact_names),
    )
    await _replace_points(connection, critique_id, content.points)
    await record_history(
        connection,
        critique_id,
        HistoryStep.AMENDED,
        at=now,
        version=version,
        detail={"content": content.model_dump(mode="json")},
    )
    await outbox.record(
        connection,
        CritiqueAmended(critique_id=critique_id, version=version, content=content, amended_at=now),
        occurred_at=now,
    )


async def withdraw(
    connection: db.Connection, *, critique_id: uuid.UUID, organisation_id: str, reason: str
) -> None:
    """Withdraw, unless acknowledged by the agency; withdrawing twice changes nothing."""
    row = await lock(connection, critique_id, organisation_id)
    status = CritiqueStatus(row["status"])
    if status is CritiqueStatus.WITHDRAWN:
        return
    if not changeable(status):
        raise Unchangeable(status)
    now = datetime.now(UTC)
    await connection.execute(
        "UPDATE critiques SET status = $2, withdrawn_at = $3, withdrawal_reason = $4,"
        " updated_at = $3 WHERE id = $1",
        critique_id,
        CritiqueStatus.WITHDRAWN.value,
        now,
        reason,
    )
    await record_history(
        connection,
        critique_id,
        HistoryStep.WITHDRAWN,
        at=now,
        version=row["version"],
        detail={"reason": reason},
    )
    await outbox.record(
        connection,
        CritiqueWithdrawn(critique_id=critique_id, reason=reason, withdrawn_at=now),
        occurred_at=now,
    )


async def add_attachment(
    connection: db.Connection,
    *,
    critique_id: uuid.UUID,
    organisation_id: str,
    filename: str,
    media_type: str,
    content: bytes,
) -> Attachment:
    row = await lock(connection, critique_id, organisation_id)
    if CritiqueStatus(row["status"]) is CritiqueStatus.WITHDRAWN:
        raise Unchangeable(CritiqueStatus.WITHDRAWN)
    attachment = Attachment(
        id=uuid.uuid4(),
        critique_id=critique_id,
        filename=filename,
        media_type=media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        added_at=datetime.now(UTC),
    )
    await connection.execute(
        "INSERT INTO attachments (id, critique_id, filename, media_type, size, sha256, content,"
        " added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        attachment.id,
        critique_id,
        filename,
        media_type,
        attachment.size,
        attachment.sha256,
        content,
        attachment.added_at,
    )
    await record_history(
        connection,
        critique_id,
        HistoryStep.ATTACHMENT_ADDED,
        at=attachment.added_at,
        version=row["version"],
        detail={
            "attachment_id": str(attachment.id),
            "filename": filename,
            "sha256": attachment.sha256,
        },
    )
    await outbox.record(
        connection,
        AttachmentAdded(
            critique_id=critique_id,
            attachment_id=attachment.id,
            filename=filename,
            media_type=media_type,
            size=attachment.size,
            sha256=attachment.sha256,
            added_at=attachment.added_at,
        ),
        occurred_at=attachment.added_at,
    )
    return attachment


def _critique(row: db.Record, points: list[db.Record], answers: list[db.Record]) -> Critique:
    return Critique(
        id=row["id"],
        organisation_id=row["organisation_id"],
        agency_id=row["agency_id"],
        kind=CritiqueKind(row["kind"]),
        version=row["version"],
        content=CritiqueContent(
            title=row["title"],
            points=tuple(
                Point(number=p["number"], text=p["text"], citation=p["citation"]) for p in points
            ),
            draft=DraftReference.model_validate_json(row["draft"]) if row["draft"] else None,
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
    )


async def _load(executor: db.Executor, rows: list[db.Record]) -> list[Critique]:
    ids = [row["id"] for row in rows]
    points = await db.children(
        executor, "critique_points", parent="critique_id", order="number", ids=ids
    )
    answers = await db.children(
        executor, "critique_answers", parent="critique_id", order="point_number", ids=ids
    )
    return [_critique(row, points[row["id"]], answers[row["id"]]) for row in rows]


async def critique(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> Critique:
    row = await executor.fetchrow(
        "SELECT * FROM critiques WHERE id = $1 AND organisation_id = $2",
        critique_id,
        organisation_id,
    )
    if row is None:
        raise NotFound(critique_id)
    return (await _load(executor, [row]))[0]


async def critiques(
    executor: db.Executor,
    *,
    organisation_id: str,
    status: CritiqueStatus | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Critique]:
    """The organisation's critiques, newest first, keyset-paginated on (submitted_at, id)."""
    rows = await executor.fetch(
        """
        SELECT * FROM critiques
        WHERE organisation_id = $1
          AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR (submitted_at, id) < ($3, $4::uuid))
        ORDER BY submitted_at DESC, id DESC
        LIMIT $5
        """,
        organisation_id,
        status.value if status else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return await _load(executor, list(rows))


async def history(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[HistoryEntry]:
    owned = await executor.fetchval(
        "SELECT true FROM critiques WHERE id = $1 AND organisation_id = $2",
        critique_id,
        organisation_id,
    )
    if not owned:
        raise NotFound(critique_id)
    rows = await executor.fetch(
        "SELECT at, step, version, detail FROM critique_history WHERE critique_id = $1 ORDER BY id",
        critique_id,
    )
    return [
        HistoryEntry(
            at=row["at"],
            step=HistoryStep(row["step"]),
            version=row["version"],
            detail=json.loads(row["detail"]),
        )
        for row in rows
    ]


async def attachments(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[Attachment]:
    await critique(executor, critique_id=critique_id, organisation_id=organisation_id)
    rows = await executor.fetch(
        "SELECT id, critique_id, filename, media_type, size, sha256, added_at FROM attachments"
        " WHERE critique_id = $1 ORDER BY added_at",
        critique_id,
    )
    return [Attachment(**dict(row)) for row in rows]


async def attachment_content(
    executor: db.Executor, *, critique_id: uuid.UUID, attachment_id: uuid.UUID, organisation_id: str
) -> tuple[Attachment, bytes]:
    row = await executor.fetchrow(
        """
        SELECT a.* FROM attachments a JOIN critiques c ON c.id = a.critique_id
        WHERE a.id = $1 AND a.critique_id = $2 AND c.organisation_id = $3
        """,
        attachment_id,
        critique_id,
        organisation_id,
    )
    if row is None:
        raise NotFound(attachment_id)
    fields = {key: row[key] for key in ("id", "critique_id", "filename", "media_type", "size")}
    return (
        Attachment(**fields, sha256=row["sha256"], added_at=row["added_at"]),
        bytes(row["content"]),
    )
