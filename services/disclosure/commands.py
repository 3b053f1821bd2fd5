"""Disclosure's use cases: what happens when the read model learns something, all in the
caller's transaction (the consumer's, for a batch of events).

Each event is applied to the raw read model (:mod:`services.disclosure.store`) and names the
records it touched; once the batch's events are applied, :func:`publish` rebuilds each touched
record's public document from the raw model, once however many of the batch's events touched it.
A document that differs from the one last published is stored with a new change number (for
mirrors and ETags), its redactions are logged, and the batch's new documents are appended to the
transparency log together, in the order they were published.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.disclosure_api import PublicDraft, PublicRecord
from contracts.events import (
    AgencyRegistered,
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    CritiqueEvent,
    CritiqueSubmitted,
    DraftPart,
    DraftRegistered,
    DraftSentToAuthority,
    DraftVersionRef,
    DraftVersionRegistered,
    DueDateChanged,
)
from services.disclosure import reports, store, transparency
from services.disclosure.domain import (
    DisclosurePolicy,
    canonical,
    public_document,
    public_draft,
    shown_answer,
)
from services.platform import db

log = logging.getLogger(__name__)

Apply = Callable[[db.Connection, uuid.UUID, Any], Awaitable[None]]

_APPLY: dict[type[CritiqueEvent], Apply] = {
    CritiqueSubmitted: store.apply_submitted,
    CaseAmended: store.apply_amended,
    CaseWithdrawn: store.apply_withdrawn,
    CaseOpened: store.apply_opened,
    CaseAcknowledged: store.apply_acknowledged,
    DueDateChanged: store.apply_due_date_changed,
    CaseOverdue: store.apply_overdue,
    CaseAnswered: store.apply_answered,
}

CRITIQUE_EVENTS = tuple(_APPLY)
"""The events of a critique that disclosure takes in, each through :func:`apply_event`."""


async def apply_event(
    connection: db.Connection, event_id: uuid.UUID, event: CritiqueEvent
) -> uuid.UUID:
    """Apply a critique's event to the raw read model; return the record to :func:`publish`."""
    await _APPLY[type(event)](connection, event_id, event)
    return event.critique_id


async def register_agency(connection: db.Connection, event: AgencyRegistered) -> list[Touched]:
    """Remember the agency; return the records and drafts that name it, to :func:`publish`:
    their documents carry its name and level."""
    records = await store.apply_agency(connection, event)
    drafts = await store.drafts_of_agency(connection, event.agency_id)
    return [*records, *(DraftId(draft_id) for draft_id in drafts)]


@dataclass(frozen=True)
class DraftId:
    """A draft :func:`publish` is to publish again (beside records, named by their ids)."""

    id: uuid.UUID


Touched = uuid.UUID | DraftId
"""What an event touched, to publish: a record (by its critique id) or a draft."""


async def apply_draft_event(
    connection: db.Connection,
    event: DraftRegistered | DraftVersionRegistered | DraftSentToAuthority,
) -> list[Touched]:
    """Take in what tracking announced of a draft; return the draft, to publish, and for a new
    version the records criticising it, whose points then show the text they cite."""
    if isinstance(event, DraftRegistered):
        await store.apply_draft_registered(connection, event)
        return [DraftId(event.draft_id)]
    if isinstance(event, DraftVersionRegistered):
        await store.apply_draft_version(connection, event)
        citing = await store.version_records(connection, event.draft_id, event.version)
        return [DraftId(event.draft_id), *(row["critique_id"] for row in citing)]
    assert isinstance(event, DraftSentToAuthority), event
    await store.apply_draft_sent(connection, event)
    return [DraftId(event.draft_id)]


async def publish_drafts(
    connection: db.Connection, draft_ids: Iterable[uuid.UUID], *, now: datetime
) -> list[tuple[uuid.UUID, bytes]]:
    """Each draft's public document, stored when it differs from the last; returns the new
    documents, for the transparency log."""
    published = []
    for draft_id in dict.fromkeys(draft_ids):
        facts = await store.draft_for_update(connection, draft_id)
        if facts is None or facts.row["registered_at"] is None:
            continue  # its registration is still to be heard
        row = facts.row
        draft = public_draft(
            row,
            versions=facts.versions,
            sent=facts.sent,
            agency=(
                {"name": row["agency_name"], "level": row["agency_level"]}
                if row["agency_name"] is not None
                else None
            ),
        )
        document = canonical(draft)
        if row["public_document"] is not None and json.loads(row["public_document"]) == json.loads(
            document
        ):
            continue
        await store.store_draft_publication(
            connection,
            draft_id,
            document=document.decode(),
            versions=len(draft.versions),
            sent_late=draft.sent_late,
            changed_without_new_version=(
                draft.sent_to_authority is not None
                and draft.sent_to_authority.changed_without_new_version
            ),
        )
        log.info("draft published", extra={"draft_id": str(draft_id), "at": now.isoformat()})
        published.append((draft_id, document))
    return published


async def publish(
    connection: db.Connection,
    critique_ids: Iterable[uuid.UUID],
    *,
    policy: DisclosurePolicy,
    now: datetime,
    drafts: Iterable[uuid.UUID] = (),
) -> int:
    """Publish each record the policy now allows, and republish each whose public document has
    changed, and each of ``drafts`` whose document changed, then append the new documents to
    the log in one go, drafts first, records in the order they were named; return how many
    were published. The records are locked with one statement (in key
    order, so that two publishers never wait for each other's), and the points and timelines of
    those to publish are read with one statement each, however many they are."""
    ids = list(dict.fromkeys(critique_ids))
    drafts_published = await publish_drafts(connection, drafts, now=now)
    if not ids and not drafts_published:
        return 0
    rows = await store.records_for_update(connection, ids)
    due = {
        critique_id: (rows[critique_id], decided)
        for critique_id in ids
        if critique_id in rows and (decided := _publication(rows[critique_id], policy))
    }
    if not due:
        reports = await publish_reports(connection, _versions(drafts_published, []))
        await transparency.append_many(connection, [*drafts_published, *reports], at=now)
        return len(drafts_published) + len(reports)
    points = await store.points_with_answers(connection, list(due))
    parts = await store.version_parts(
        connection,
        [
            DraftVersionRef.model_validate_json(row["draft_version"])
            for row, _ in due.values()
            if row["draft_version"]
        ],
    )
    timelines = await store.timelines(connection, list(due))
    published = []
    for critique_id, (row, (published_at, reason)) in due.items():
        document = await _store_if_changed(
            connection,
            row,
            points=points[critique_id],
            timeline=timelines[critique_id],
            published_at=published_at,
            reason=reason,
            parts=_parts_of(row, parts),
        )
        if document is not None:
            published.append((critique_id, document))
    reports = await publish_reports(
        connection,
        _versions(drafts_published, [due[critique_id][0] for critique_id, _ in published]),
    )
    # Last: the log's appends are serialised until this transaction commits.
    await transparency.append_many(connection, [*drafts_published, *published, *reports], at=now)
    return len(drafts_published) + len(published) + len(reports)


def _versions(
    drafts: list[tuple[uuid.UUID, bytes]], records: list[db.Record]
) -> list[tuple[uuid.UUID, int]]:
    """The draft versions whose report may have changed: every version of a draft just
    published, and the version each record just published criticises."""
    touched: list[tuple[uuid.UUID, int]] = []
    for draft_id, document in drafts:
        touched += [(draft_id, v["number"]) for v in json.loads(document)["versions"]]
    for row in records:
        if row["draft_version"]:
            ref = DraftVersionRef.model_validate_json(row["draft_version"])
            touched.append((ref.draft_id, ref.version))
    return list(dict.fromkeys(touched))


async def publish_reports(
    connection: db.Connection, versions: list[tuple[uuid.UUID, int]]
) -> list[tuple[uuid.UUID, bytes]]:
    """Each version's consolidated report, from the draft's and the records' public documents,
    stored when it differs from the last; returns the new ones, for the log (by the draft's
    id). A version whose draft is not published yet has none."""
    published = []
    for draft_id, number in versions:
        draft_document = await store.published_draft(connection, draft_id)
        if draft_document is None:
            continue
        draft = PublicDraft.model_validate_json(draft_document)
        records = [
            PublicRecord.model_validate_json(row["public_document"])
            for row in await store.version_records(connection, draft_id, number)
        ]
        try:
            report = reports.draft_report(draft, number, records)
        except reports.NoSuchVersion:
            continue  # a record heard before the version it criticises
        document = canonical(report)
        last = await store.draft_report(connection, draft_id, number)
        if last is not None and json.loads(last) == json.loads(document):
            continue
        await store.store_draft_report(connection, draft_id, number, document.decode())
        published.append((draft_id, document))
    return published


def _parts_of(
    row: db.Record, parts: dict[tuple[uuid.UUID, int], tuple[DraftPart, ...]]
) -> tuple[DraftPart, ...] | None:
    if not row["draft_version"]:
        return None
    ref = DraftVersionRef.model_validate_json(row["draft_version"])
    return parts.get((ref.draft_id, ref.version))


def _publication(row: db.Record, policy: DisclosurePolicy) -> tuple[datetime, str] | None:
    """When the record is (or became) public and why; None while it is not to be."""
    published_at, reason = row["published_at"], row["publication_reason"]
    if published_at is not None:
        return None if row["title"] is None else (published_at, reason)
    # The moment it became publishable, not the moment we heard of it: rebuilding the read
    # model from the topics then gives the same documents. It first fell overdue at its
    # first 'overdue' step: a later extension clears overdue_at, not what was published.
    return policy.publication(
        has_content=row["title"] is not None and row["submitted_at"] is not None,
        answered_at=shown_answer(
            answered_at=row["answered_at"],
            answered_version=row["answered_version"],
            version=row["version"],
        ),
        overdue_at=row["first_overdue_at"],
        withdrawn_at=row["withdrawn_at"],
    )


async def _store_if_changed(
    connection: db.Connection,
    row: db.Record,
    *,
    points: list[db.Record],
    timeline: list[db.Record],
    published_at: datetime,
    reason: str,
    parts: tuple[DraftPart, ...] | None,
) -> bytes | None:
    """Store the record's public document if it differs from the one last published; return
    it, for the log, or None when nothing changed."""
    critique_id = row["critique_id"]
    record, search_text = public_document(
        row,
        points=points,
        timeline=timeline,
        agency=(
            {"name": row["agency_name"], "level": row["agency_level"]}
            if row["agency_name"] is not None
            else None
        ),
        published_at=published_at,
        reason=reason,
        parts=parts,
    )
    document = canonical(record)
    if row["public_document"] is not None and json.loads(row["public_document"]) == json.loads(
        document
    ):
        return None
    await store.store_publication(
        connection,
        critique_id,
        published_at=published_at,
        reason=reason,
        status=record.status,
        document=document.decode(),
        search_text=search_text,
        redactions=record.redactions,
    )
    log.info(
        "record published" if row["public_document"] is None else "record republished",
        extra={
            "critique_id": str(critique_id),
            "status": record.status,
            "redactions": len(record.redactions),
        },
    )
    return document
