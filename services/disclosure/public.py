"""The public side of the read model: when a record is published, and the redacted document it is
published as (read by :mod:`services.disclosure.queries`).

After every event, :func:`refresh` rebuilds the record's public document from the raw model. A
document that differs from the one last published is stored with a new change number (for
mirrors and ETags), its redactions are logged, and it is appended to the transparency log.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from contracts.disclosure_api import (
    AgencyView,
    OrganisationView,
    PointView,
    PublicRecord,
    RecordStatus,
    RedactionView,
    TimelineStep,
    TimelineView,
)
from contracts.events import DueDateRule
from contracts.vocabulary import RECORD_STATUS, TIMELINE_STEP
from services.disclosure.domain import (
    DisclosurePolicy,
    Redactor,
    fold,
    status,
)
from services.platform import db

log = logging.getLogger(__name__)
WITHDRAWN_TITLE = str(RECORD_STATUS[RecordStatus.WITHDRAWN])

Appender = Callable[[db.Connection, uuid.UUID, bytes, datetime], Awaitable[object]]
"""Appends a published document to the transparency log, in the caller's transaction."""


def canonical(record: PublicRecord) -> bytes:
    """The exact bytes published and logged: JSON, keys sorted, no spaces, UTF-8."""
    document = record.model_dump(mode="json")
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def _document(
    connection: db.Connection, row: db.Record, published_at: datetime, reason: str
) -> tuple[PublicRecord, str]:
    """The public document of a record, redacted, and the text search matches."""
    critique_id = row["critique_id"]
    points = await connection.fetch(
        """
        SELECT p.number, p.text, p.citation, a.disposition, a.explanation
        FROM record_points p
        LEFT JOIN record_answers a ON a.critique_id = p.critique_id AND a.point_number = p.number
        WHERE p.critique_id = $1 ORDER BY p.number
        """,
        critique_id,
    )
    timeline = await connection.fetch(
        "SELECT at, step FROM record_timeline WHERE critique_id = $1 ORDER BY at, step",
        critique_id,
    )
    agency = await connection.fetchrow(
        "SELECT name, level FROM agencies WHERE id = $1", row["agency_id"]
    )
    record_status = status(
        answered_at=row["answered_at"],
        late=row["answered_late"],
        overdue_at=row["overdue_at"],
        withdrawn_at=row["withdrawn_at"],
    )
    redact = Redactor(names=tuple(row["redact_names"]))
    withdrawn = record_status is RecordStatus.WITHDRAWN
    title = WITHDRAWN_TITLE if withdrawn else redact(row["title"], "title") or ""
    public_points = (
        []
        if withdrawn  # never the content of a withdrawn critique
        else [
            PointView(
                number=p["number"],
                text=redact(p["text"], f"points[{i}].text") or "",
                citation=redact(p["citation"], f"points[{i}].citation"),
                disposition=p["disposition"],
                explanation=redact(p["explanation"], f"points[{i}].explanation"),
            )
            for i, p in enumerate(points)
        ]
    )
    record = PublicRecord(
        critique_id=critique_id,
        organisation=OrganisationView(
            id=row["organisation_id"],
            name=row["organisation_name"],
            level=row["organisation_level"],
        ),
        agency=AgencyView(
            id=row["agency_id"],
            name=agency["name"] if agency else None,
            level=agency["level"] if agency else None,
        ),
        kind=row["kind"],
        title=title,
        status=record_status.value,
        status_label=str(RECORD_STATUS[record_status]),
        submitted_at=row["submitted_at"],
        due_date=row["due_date"],
        due_rule=DueDateRule.model_validate_json(row["due_rule"]) if row["due_rule"] else None,
        answered_at=row["answered_at"],
        overdue_at=row["overdue_at"],
        published_at=published_at,
        publication_reason=reason,
        points=public_points,
        timeline=[
            TimelineView(
                at=t["at"], step=t["step"], label=str(TIMELINE_STEP[TimelineStep(t["step"])])
            )
            for t in timeline
        ],
        redactions=[
            RedactionView(field=r.field, kind=r.kind.value, count=r.count, reason=r.reason)
            for r in redact.log
        ],
    )
    searchable = " ".join(
        [title, *(p.text for p in public_points), *(p.citation or "" for p in public_points)]
        + [p.explanation or "" for p in public_points]
    )
    return record, fold(searchable)


async def refresh(
    connection: db.Connection,
    critique_id: uuid.UUID,
    *,
    policy: DisclosurePolicy,
    now: datetime,
    append: Appender | None = None,
) -> bool:
    """Publish the record if the policy now allows it, and republish it if what the public sees
    has changed; return whether a new document was published."""
    row = await connection.fetchrow(
        "SELECT * FROM records WHERE critique_id = $1 FOR UPDATE", critique_id
    )
    if row is None:
        return False
    published_at, reason = row["published_at"], row["publication_reason"]
    if published_at is None:
        # The moment it became publishable, not the moment we heard of it: rebuilding the read
        # model from the topics then gives the same documents. It first fell overdue at its
        # first 'overdue' step: a later extension clears overdue_at, not what was published.
        publication = policy.publication(
            has_content=row["title"] is not None and row["submitted_at"] is not None,
            answered_at=row["answered_at"],
            overdue_at=await connection.fetchval(
                "SELECT min(at) FROM record_timeline WHERE critique_id = $1 AND step = $2",
                critique_id,
                TimelineStep.OVERDUE.value,
            ),
            withdrawn_at=row["withdrawn_at"],
        )
        if publication is None:
            return False
        published_at, reason = publication
    elif row["title"] is None:
        return False
    record, search_text = await _document(connection, row, published_at, reason)
    document = canonical(record)
    if row["public_document"] is not None and json.loads(row["public_document"]) == json.loads(
        document
    ):
        return False
    await connection.execute(
        """
        UPDATE records SET published_at = $2, publication_reason = $3, public_status = $4,
            public_document = $5, search_text = $6, change_seq = nextval('record_changes')
        WHERE critique_id = $1
        """,
        critique_id,
        published_at,
        reason,
        record.status,
        document.decode(),
        search_text,
    )
    await connection.execute("DELETE FROM redactions WHERE critique_id = $1", critique_id)
    await connection.executemany(
        "INSERT INTO redactions (critique_id, field, kind, count, reason)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(critique_id, r.field, r.kind, r.count, r.reason) for r in record.redactions],
    )
    if append is not None:
        await append(connection, critique_id, document, now)
    log.info(
        "record published" if row["public_document"] is None else "record republished",
        extra={
            "critique_id": str(critique_id),
            "status": record.status,
            "redactions": len(record.redactions),
        },
    )
    return True
