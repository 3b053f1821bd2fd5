"""Submission's reads, as the API shows them (``contracts.submission_api``): the organisation's
critiques with their pending requests, history, attachments, extensions and escalations.
SQL and the views of the rows; nothing here changes anything."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from contracts.lifecycle import ExtensionStatus, RequestKind
from contracts.submission_api import (
    AttachmentOut,
    ChangeRequestOut,
    CritiqueOut,
    CritiqueStatus,
    DraftOut,
    EscalationOut,
    ExtensionOut,
    HistoryOut,
    PointCitations,
    RefusalOut,
)
from contracts.vocabulary import CRITIQUE_STATUS, REQUEST_STATUS
from services.platform import db
from services.submission import domain, store
from services.submission.store import NotFound


def request_out(request: store.ChangeRequest) -> ChangeRequestOut:
    return ChangeRequestOut(
        id=request.id,
        critique_id=request.critique_id,
        kind=request.kind,
        status=request.status,
        status_label=str(REQUEST_STATUS[request.status]),
        requested_at=request.requested_at,
        decided_at=request.decided_at,
        expected_version=request.expected_version,
        version=request.version,
        content=request.content,
        reason=request.reason,
        extension_id=request.extension_id,
        grant=request.grant,
        note=request.note,
        refusal=(
            RefusalOut(reason=request.refusal_reason, detail=request.refusal_detail or "")
            if request.refusal_reason
            else None
        ),
    )


def critique_out(critique: store.Critique, pending: list[store.ChangeRequest]) -> CritiqueOut:
    content = critique.content
    withdrawal_pending = any(r.kind is RequestKind.WITHDRAWAL for r in pending)
    return CritiqueOut(
        id=critique.id,
        organisation_id=critique.organisation_id,
        agency_id=critique.agency_id,
        kind=critique.kind,
        version=critique.version,
        status=critique.status,
        status_label=str(CRITIQUE_STATUS[critique.status]),
        changeable=domain.changeable(critique.status, withdrawal_pending=withdrawal_pending),
        title=content.title,
        points=list(content.points),
        cited=[
            PointCitations(point_number=number, parts=list(parts))
            for number, parts in sorted(critique.cited.items())
        ],
        draft=DraftOut(**content.draft.model_dump()) if content.draft else None,
        draft_version=content.draft_version,
        legal_basis=content.legal_basis,
        redact_names=list(content.redact_names),
        submitted_at=critique.submitted_at,
        updated_at=critique.updated_at,
        due_date=critique.due_date,
        acknowledged_at=critique.acknowledged_at,
        answered_at=critique.answered_at,
        answered_late=critique.answered_late,
        withdrawn_at=critique.withdrawn_at,
        overdue=critique.overdue_at is not None and critique.answered_at is None,
        answers=list(critique.answers),
        answered_version=critique.answered_version,
        pending_requests=[request_out(r) for r in pending],
    )


async def _views(
    executor: db.Executor, rows: list[db.Record], *, new: bool = False
) -> list[CritiqueOut]:
    critiques = store.load(rows)
    pending = (
        {c.id: [] for c in critiques}
        if new
        else await store.requests(executor, [c.id for c in critiques], pending_only=True)
    )
    return [critique_out(c, pending[c.id]) for c in critiques]


async def critique(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str, new: bool = False
) -> CritiqueOut:
    """The organisation's critique with its pending requests (none yet, when ``new``: one
    query less for the answer to a submission)."""
    row = await executor.fetchrow(
        store.SELECT_CRITIQUES + " WHERE c.id = $1 AND c.organisation_id = $2",
        critique_id,
        organisation_id,
    )
    if row is None:
        raise NotFound(critique_id)
    return (await _views(executor, [row], new=new))[0]


async def critiques(
    executor: db.Executor,
    *,
    organisation_id: str,
    status: CritiqueStatus | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[CritiqueOut]:
    """The organisation's critiques, newest first, keyset-paginated on (submitted_at, id)."""
    rows = await executor.fetch(
        store.SELECT_CRITIQUES
        + """
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
    return await _views(executor, list(rows))


async def _owned(executor: db.Executor, critique_id: uuid.UUID, organisation_id: str) -> None:
    owned = await executor.fetchval(
        "SELECT true FROM critiques WHERE id = $1 AND organisation_id = $2",
        critique_id,
        organisation_id,
    )
    if not owned:
        raise NotFound(critique_id)


async def history(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[HistoryOut]:
    await _owned(executor, critique_id, organisation_id)
    rows = await executor.fetch(
        "SELECT at, step, version, detail FROM critique_history WHERE critique_id = $1 ORDER BY id",
        critique_id,
    )
    return [
        HistoryOut(
            at=row["at"], step=row["step"], version=row["version"], detail=json.loads(row["detail"])
        )
        for row in rows
    ]


async def requests(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[ChangeRequestOut]:
    await _owned(executor, critique_id, organisation_id)
    found = await store.requests(executor, [critique_id])
    return [request_out(r) for r in found[critique_id]]


async def request(
    executor: db.Executor, *, critique_id: uuid.UUID, request_id: uuid.UUID, organisation_id: str
) -> ChangeRequestOut:
    await _owned(executor, critique_id, organisation_id)
    found = await store.request(executor, critique_id, request_id)
    if found is None:
        raise NotFound(request_id)
    return request_out(found)


async def attachments(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[AttachmentOut]:
    await _owned(executor, critique_id, organisation_id)
    rows = await executor.fetch(
        "SELECT id, critique_id, filename, media_type, size, sha256, added_at FROM attachments"
        " WHERE critique_id = $1 ORDER BY added_at",
        critique_id,
    )
    return [AttachmentOut.model_validate(dict(row)) for row in rows]


async def attachment_content(
    executor: db.Executor, *, critique_id: uuid.UUID, attachment_id: uuid.UUID, organisation_id: str
) -> tuple[AttachmentOut, bytes]:
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
    fields = {key: row[key] for key in AttachmentOut.model_fields}
    return AttachmentOut.model_validate(fields), bytes(row["content"])


async def extensions(
    executor: db.Executor, *, critique_id: uuid.UUID, organisation_id: str
) -> list[ExtensionOut]:
    await _owned(executor, critique_id, organisation_id)
    found = await store.extensions(executor, critique_id)
    pending = (await store.requests(executor, [critique_id], pending_only=True))[critique_id]
    deciding = {r.extension_id: r.id for r in pending if r.kind is RequestKind.EXTENSION_DECISION}
    return [
        ExtensionOut(
            id=e.id,
            critique_id=e.critique_id,
            reason=e.reason,
            current_due_date=e.current_due_date,
            requested_due_date=e.requested_due_date,
            requested_at=e.requested_at,
            status=ExtensionStatus(e.status),
            decided_at=e.decided_at,
            note=e.note,
            decision_request=deciding.get(e.id),
        )
        for e in found
    ]


async def escalations_to(
    executor: db.Executor, organisation_id: str, *, limit: int
) -> list[EscalationOut]:
    """The newest ``limit`` escalations to the organisation."""
    rows = await executor.fetch(
        "SELECT critique_id, organisation_id, agency_id, title, due_date, at FROM escalations"
        " WHERE escalated_to = $1 ORDER BY at DESC LIMIT $2",
        organisation_id,
        limit,
    )
    return [EscalationOut.model_validate(dict(row)) for row in rows]
