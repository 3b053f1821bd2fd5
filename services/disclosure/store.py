"""Disclosure's raw read model, built only from events, in any order.

Events of one critique arrive on two topics whose relative order is not guaranteed, so every
column a later event fills is nullable and every table is upserted. What the public sees is
derived from this by :mod:`services.disclosure.commands`, which reads it and stores the public
document with the functions at the end of this module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from contracts.disclosure_api import RedactionView, TimelineStep
from contracts.events import (
    AgencyRegistered,
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    CritiqueSubmitted,
    DraftPart,
    DraftRegistered,
    DraftSentToAuthority,
    DraftVersionRef,
    DraftVersionRegistered,
    DueDateChanged,
    Point,
)
from services.platform import db

_TIMELINE = (
    "INSERT INTO record_timeline (event_id, critique_id, at, step) VALUES ($2, $1, $3, $4)"
    " ON CONFLICT (event_id) DO NOTHING"
)
"""The step an event adds to its record's timeline, once however often the event is heard: a
``WITH`` beside the statement that changes the record ($1 the critique, $2 the event, $3 its
moment, $4 the step)."""


def _json(model: BaseModel | None) -> str | None:
    return None if model is None else model.model_dump_json()


async def _lock_or_create(connection: db.Connection, critique_id: uuid.UUID) -> int:
    """The record, created if new, locked for the caller's transaction; its version (0 before
    any content was taken)."""
    version: int = await connection.fetchval(
        "INSERT INTO records (critique_id) VALUES ($1)"
        " ON CONFLICT (critique_id) DO UPDATE SET updated_at = now() RETURNING version",
        critique_id,
    )
    return version


async def _replace_points(
    connection: db.Connection,
    critique_id: uuid.UUID,
    points: tuple[Point, ...],
    *,
    first: bool = False,
) -> None:
    """The record's points are now ``points``; ``first``: it had none (no content taken)."""
    if not first:
        await connection.execute("DELETE FROM record_points WHERE critique_id = $1", critique_id)
    await db.insert_rows(
        connection,
        "record_points",
        {
            "critique_id": "uuid",
            "number": "integer",
            "text": "text",
            "citation": "text",
            "cites": "jsonb",
        },
        [(critique_id, p.number, p.text, p.citation, json.dumps(list(p.cites))) for p in points],
    )


async def apply_submitted(
    connection: db.Connection, event_id: uuid.UUID, event: CritiqueSubmitted
) -> None:
    # Who submitted it, to whom and when, always; its content only if neither an amendment
    # (tracking's decisions, on the other topic: they may be heard before) nor this submission
    # was taken before, which the record's version says: points are only ever written with a
    # version of 1 or more. Asked of the record, not of record_points: a probe there for points
    # that a new submission never has was planned, on a young table, as a scan that read all
    # of record_points per submission once the table had grown.
    taken = await _lock_or_create(connection, event.critique_id)
    await connection.execute(
        f"""
        WITH step AS ({_TIMELINE})
        UPDATE records SET organisation_id = $5, organisation_name = $6, organisation_level = $7,
            agency_id = $8, kind = $9, submitted_at = $3, updated_at = now(),
            title = CASE WHEN version < 1 THEN $10 ELSE title END,
            redact_names = CASE WHEN version < 1 THEN $11 ELSE redact_names END,
            draft = CASE WHEN version < 1 THEN $12::jsonb ELSE draft END,
            draft_version = CASE WHEN version < 1 THEN $13::jsonb ELSE draft_version END,
            version = greatest(version, 1)
        WHERE critique_id = $1
        """,
        event.critique_id,
        event_id,
        event.submitted_at,
        TimelineStep.SUBMITTED.value,
        event.organisation.id,
        event.organisation.name,
        event.organisation.level.value,
        event.agency_id,
        event.kind.value,
        event.title,
        list(event.redact_names),
        _json(event.draft),
        _json(event.draft_version),
    )
    if taken < 1:
        await _replace_points(connection, event.critique_id, event.points, first=True)


async def apply_amended(connection: db.Connection, event_id: uuid.UUID, event: CaseAmended) -> None:
    """Take the newer content only: amendments may be re-delivered after a later one."""
    taken = await _lock_or_create(connection, event.critique_id)
    await connection.execute(
        f"""
        WITH step AS ({_TIMELINE})
        UPDATE records SET title = $5, version = $6, redact_names = $7, updated_at = now(),
            draft = $8::jsonb, draft_version = $9::jsonb
        WHERE critique_id = $1 AND version < $6
        """,
        event.critique_id,
        event_id,
        event.amended_at,
        TimelineStep.AMENDED.value,
        event.content.title,
        event.version,
        list(event.content.redact_names),
        _json(event.content.draft),
        _json(event.content.draft_version),
    )
    if taken < event.version:
        await _replace_points(connection, event.critique_id, event.content.points, first=taken < 1)


async def _set(
    connection: db.Connection,
    critique_id: uuid.UUID,
    step: TimelineStep,
    *,
    event_id: uuid.UUID,
    at: datetime,
    **columns: object,
) -> None:
    """Set the record's columns named (creating the record if this is the first heard of it)
    and add the step to its timeline: one statement."""
    names = ", ".join(columns)
    values = ", ".join(f"${i}" for i in range(5, 5 + len(columns)))
    assignments = ", ".join(f"{name} = excluded.{name}" for name in columns)
    await connection.execute(
        f"WITH step AS ({_TIMELINE})"
        f" INSERT INTO records (critique_id, {names}) VALUES ($1, {values})"
        f" ON CONFLICT (critique_id) DO UPDATE SET {assignments}, updated_at = now()",
        critique_id,
        event_id,
        at,
        step.value,
        *columns.values(),
    )


async def apply_withdrawn(
    connection: db.Connection, event_id: uuid.UUID, event: CaseWithdrawn
) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.WITHDRAWN,
        event_id=event_id,
        at=event.withdrawn_at,
        withdrawn_at=event.withdrawn_at,
    )


async def apply_opened(connection: db.Connection, event_id: uuid.UUID, event: CaseOpened) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.CASE_OPENED,
        event_id=event_id,
        at=event.opened_at,
        agency_id=event.agency_id,
        case_id=event.case_id,
        due_date=event.due_date,
        due_rule=event.due_rule.model_dump_json(),
    )


async def apply_acknowledged(
    connection: db.Connection, event_id: uuid.UUID, event: CaseAcknowledged
) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.ACKNOWLEDGED,
        event_id=event_id,
        at=event.acknowledged_at,
        acknowledged_at=event.acknowledged_at,
    )


async def apply_due_date_changed(
    connection: db.Connection, event_id: uuid.UUID, event: DueDateChanged
) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.DUE_DATE_CHANGED,
        event_id=event_id,
        at=event.changed_at,
        due_date=event.due_date,
        due_rule=event.due_rule.model_dump_json(),
        overdue_at=None,
    )


async def apply_overdue(connection: db.Connection, event_id: uuid.UUID, event: CaseOverdue) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.OVERDUE,
        event_id=event_id,
        at=event.at,
        overdue_at=event.at,
    )


async def apply_answered(
    connection: db.Connection, event_id: uuid.UUID, event: CaseAnswered
) -> None:
    await _set(
        connection,
        event.critique_id,
        TimelineStep.ANSWERED,
        event_id=event_id,
        at=event.answered_at,
        agency_id=event.agency_id,
        case_id=event.case_id,
        answered_at=event.answered_at,
        answered_late=event.late,
        answered_version=event.version,
    )
    await db.insert_rows(
        connection,
        "record_answers",
        {
            "critique_id": "uuid",
            "point_number": "integer",
            "disposition": "text",
            "explanation": "text",
        },
        [
            (event.critique_id, a.point_number, a.disposition.value, a.explanation)
            for a in event.answers
        ],
        then="ON CONFLICT (critique_id, point_number) DO UPDATE"
        " SET disposition = excluded.disposition, explanation = excluded.explanation",
    )


async def apply_agency(connection: db.Connection, event: AgencyRegistered) -> list[uuid.UUID]:
    """Remember the agency; return the published records that name it, to refresh."""
    await connection.execute(
        """
        INSERT INTO agencies (id, name, level, kind, parent_id) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, level = excluded.level,
            kind = excluded.kind, parent_id = excluded.parent_id, updated_at = now()
        """,
        event.agency_id,
        event.name,
        event.level.value,
        event.kind.value,
        event.parent_id,
    )
    rows = await connection.fetch(
        "SELECT critique_id FROM records WHERE agency_id = $1 AND published_at IS NOT NULL",
        event.agency_id,
    )
    return [row["critique_id"] for row in rows]


# -- publication: what the public document is built from, and where it is stored -------------


async def records_for_update(
    connection: db.Connection, critique_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, db.Record]:
    """The raw records, locked until the caller's transaction ends (in key order: two
    transactions locking some of the same records never wait for each other), with what
    publishing them needs besides, in the same statement: ``first_overdue_at`` (the moment of
    the first 'overdue' step, if any) and the agency's ``agency_name`` and ``agency_level``."""
    rows = await connection.fetch(
        """
        SELECT r.*, a.name AS agency_name, a.level AS agency_level,
               (SELECT min(t.at) FROM record_timeline t
                WHERE t.critique_id = r.critique_id AND t.step = $2) AS first_overdue_at
        FROM records r LEFT JOIN agencies a ON a.id = r.agency_id
        WHERE r.critique_id = ANY($1::uuid[])
        ORDER BY r.critique_id
        FOR UPDATE OF r
        """,
        list(critique_ids),
        TimelineStep.OVERDUE.value,
    )
    return {row["critique_id"]: row for row in rows}


def _by_record(
    critique_ids: Sequence[uuid.UUID], rows: Sequence[db.Record]
) -> dict[uuid.UUID, list[db.Record]]:
    grouped: dict[uuid.UUID, list[db.Record]] = {critique_id: [] for critique_id in critique_ids}
    for row in rows:
        grouped[row["critique_id"]].append(row)
    return grouped


async def points_with_answers(
    connection: db.Connection, critique_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[db.Record]]:
    """Each record's points, in order, with their answers: one statement for any number."""
    rows = await connection.fetch(
        """
        SELECT p.critique_id, p.number, p.text, p.citation, p.cites, a.disposition,
               a.explanation
        FROM record_points p
        LEFT JOIN record_answers a ON a.critique_id = p.critique_id AND a.point_number = p.number
        WHERE p.critique_id = ANY($1::uuid[]) ORDER BY p.critique_id, p.number
        """,
        list(critique_ids),
    )
    return _by_record(critique_ids, rows)


async def timelines(
    connection: db.Connection, critique_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[db.Record]]:
    """Each record's timeline, in order: one statement for any number."""
    rows = await connection.fetch(
        "SELECT critique_id, at, step FROM record_timeline WHERE critique_id = ANY($1::uuid[])"
        " ORDER BY critique_id, at, step",
        list(critique_ids),
    )
    return _by_record(critique_ids, rows)


async def store_publication(
    connection: db.Connection,
    critique_id: uuid.UUID,
    *,
    published_at: datetime,
    reason: str,
    status: str,
    document: str,
    search_text: str,
    redactions: Sequence[RedactionView],
) -> None:
    """Store the record's public document with a new change number, and its redaction log
    (the last one's replaced in the same statement)."""
    await connection.execute(
        """
        WITH replaced AS (DELETE FROM redactions WHERE critique_id = $1)
        UPDATE records SET published_at = $2, publication_reason = $3, public_status = $4,
            public_document = $5, search_text = $6, change_seq = nextval('record_changes')
        WHERE critique_id = $1
        """,
        critique_id,
        published_at,
        reason,
        status,
        document,
        search_text,
    )
    await db.insert_rows(
        connection,
        "redactions",
        {
            "critique_id": "uuid",
            "field": "text",
            "kind": "text",
            "count": "integer",
            "reason": "text",
        },
        [(critique_id, r.field, r.kind, r.count, r.reason) for r in redactions],
    )


# -- drafts -------------------------------------------------------------------------------------


async def apply_draft_registered(connection: db.Connection, event: DraftRegistered) -> None:
    await connection.execute(
        """
        INSERT INTO drafts (id, agency_id, draft_type, title, issuing_authority, registered_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET agency_id = excluded.agency_id,
            draft_type = excluded.draft_type, title = excluded.title,
            issuing_authority = excluded.issuing_authority, registered_at = excluded.registered_at
        """,
        event.draft_id,
        event.agency_id,
        event.draft_type.value,
        event.title,
        event.issuing_authority,
        event.registered_at,
    )


async def apply_draft_version(connection: db.Connection, event: DraftVersionRegistered) -> None:
    await connection.execute(
        """
        WITH draft AS (
            INSERT INTO drafts (id, agency_id) VALUES ($1, $4) ON CONFLICT (id) DO NOTHING
        )
        INSERT INTO draft_versions (draft_id, version, facts) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        event.draft_id,
        event.version,
        event.model_dump_json(),
        event.agency_id,
    )


async def apply_draft_sent(connection: db.Connection, event: DraftSentToAuthority) -> None:
    await connection.execute(
        """
        INSERT INTO drafts (id, agency_id, sent) VALUES ($1, $2, $3)
        ON CONFLICT (id) DO UPDATE SET sent = excluded.sent
        """,
        event.draft_id,
        event.agency_id,
        event.model_dump_json(),
    )


async def version_parts(
    executor: db.Executor, refs: Iterable[DraftVersionRef]
) -> dict[tuple[uuid.UUID, int], tuple[DraftPart, ...]]:
    """The parts of each version heard of, by (draft, version): one statement for any number."""
    wanted = list(dict.fromkeys((ref.draft_id, ref.version) for ref in refs))
    if not wanted:
        return {}
    rows = await executor.fetch(
        """
        SELECT v.draft_id, v.version, v.facts -> 'parts' AS parts
        FROM draft_versions v
        JOIN unnest($1::uuid[], $2::integer[]) AS w (draft_id, version)
          ON w.draft_id = v.draft_id AND w.version = v.version
        """,
        [draft_id for draft_id, _ in wanted],
        [version for _, version in wanted],
    )
    return {
        (row["draft_id"], row["version"]): tuple(
            DraftPart.model_validate(part) for part in json.loads(row["parts"])
        )
        for row in rows
    }


@dataclass(frozen=True)
class DraftFacts:
    """A draft as heard: what its public document is built from."""

    row: db.Record
    versions: tuple[DraftVersionRegistered, ...]
    sent: DraftSentToAuthority | None


async def draft_for_update(connection: db.Connection, draft_id: uuid.UUID) -> DraftFacts | None:
    """The draft with its versions and its drafting agency's name, locked."""
    row = await connection.fetchrow(
        """
        SELECT d.*, a.name AS agency_name, a.level AS agency_level
        FROM drafts d LEFT JOIN agencies a ON a.id = d.agency_id
        WHERE d.id = $1 FOR UPDATE OF d
        """,
        draft_id,
    )
    if row is None:
        return None
    versions = await connection.fetch(
        "SELECT facts FROM draft_versions WHERE draft_id = $1 ORDER BY version", draft_id
    )
    return DraftFacts(
        row=row,
        versions=tuple(DraftVersionRegistered.model_validate_json(v["facts"]) for v in versions),
        sent=DraftSentToAuthority.model_validate_json(row["sent"]) if row["sent"] else None,
    )


async def store_draft_publication(
    connection: db.Connection,
    draft_id: uuid.UUID,
    *,
    document: str,
    versions: int,
    sent_late: bool,
    changed_without_new_version: bool,
) -> None:
    await connection.execute(
        """
        UPDATE drafts SET public_document = $2, versions = $3, sent_late = $4,
            changed_without_new_version = $5, change_seq = nextval('record_changes')
        WHERE id = $1
        """,
        draft_id,
        document,
        versions,
        sent_late,
        changed_without_new_version,
    )


async def drafts_of_agency(connection: db.Connection, agency_id: str) -> list[uuid.UUID]:
    """The drafts the agency leads, to refresh when its name changes."""
    rows = await connection.fetch("SELECT id FROM drafts WHERE agency_id = $1", agency_id)
    return [row["id"] for row in rows]


async def published_draft(executor: db.Executor, draft_id: uuid.UUID) -> str | None:
    document: str | None = await executor.fetchval(
        "SELECT public_document FROM drafts WHERE id = $1", draft_id
    )
    return document


async def version_records(
    executor: db.Executor, draft_id: uuid.UUID, version: int
) -> list[db.Record]:
    """The published records criticising this draft version: ``critique_id`` and
    ``public_document``."""
    return await executor.fetch(
        """
        SELECT critique_id, public_document FROM records
        WHERE (draft_version ->> 'draft_id') = $1::text
          AND (draft_version ->> 'version')::integer = $2
          AND draft_version IS NOT NULL AND public_document IS NOT NULL
        """,
        str(draft_id),
        version,
    )


async def draft_report(executor: db.Executor, draft_id: uuid.UUID, version: int) -> str | None:
    document: str | None = await executor.fetchval(
        "SELECT document FROM draft_reports WHERE draft_id = $1 AND version = $2",
        draft_id,
        version,
    )
    return document


async def store_draft_report(
    connection: db.Connection, draft_id: uuid.UUID, version: int, document: str
) -> None:
    await connection.execute(
        "INSERT INTO draft_reports (draft_id, version, document) VALUES ($1, $2, $3)"
        " ON CONFLICT (draft_id, version) DO UPDATE SET document = excluded.document",
        draft_id,
        version,
        document,
    )
