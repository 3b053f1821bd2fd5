"""Disclosure's use cases: what happens when the read model learns something, all in the
caller's transaction (the consumer's, for one event).

Each event is applied to the raw read model (:mod:`services.disclosure.store`), then
:func:`refresh` rebuilds the record's public document from the raw model. A document that differs
from the one last published is stored with a new change number (for mirrors and ETags), its
redactions are logged, and it is appended to the transparency log.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

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
    DueDateChanged,
)
from services.disclosure import store, transparency
from services.disclosure.domain import (
    DisclosurePolicy,
    canonical,
    public_document,
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
    connection: db.Connection,
    event_id: uuid.UUID,
    event: CritiqueEvent,
    *,
    policy: DisclosurePolicy,
    now: datetime,
) -> None:
    """Apply a critique's event to the raw read model, then refresh the record's public document."""
    await _APPLY[type(event)](connection, event_id, event)
    await refresh(connection, event.critique_id, policy=policy, now=now)


async def register_agency(
    connection: db.Connection, event: AgencyRegistered, *, policy: DisclosurePolicy, now: datetime
) -> None:
    """Remember the agency, and refresh the published records that name it: their documents
    carry its name and level."""
    for critique_id in await store.apply_agency(connection, event):
        await refresh(connection, critique_id, policy=policy, now=now)


async def refresh(
    connection: db.Connection,
    critique_id: uuid.UUID,
    *,
    policy: DisclosurePolicy,
    now: datetime,
) -> bool:
    """Publish the record if the policy now allows it, and republish it if what the public sees
    has changed; return whether a new document was published."""
    row = await store.record_for_update(connection, critique_id)
    if row is None:
        return False
    published_at, reason = row["published_at"], row["publication_reason"]
    if published_at is None:
        # The moment it became publishable, not the moment we heard of it: rebuilding the read
        # model from the topics then gives the same documents. It first fell overdue at its
        # first 'overdue' step: a later extension clears overdue_at, not what was published.
        publication = policy.publication(
            has_content=row["title"] is not None and row["submitted_at"] is not None,
            answered_at=shown_answer(
                answered_at=row["answered_at"],
                answered_version=row["answered_version"],
                version=row["version"],
            ),
            overdue_at=row["first_overdue_at"],
            withdrawn_at=row["withdrawn_at"],
        )
        if publication is None:
            return False
        published_at, reason = publication
    elif row["title"] is None:
        return False
    record, search_text = public_document(
        row,
        points=await store.points_with_answers(connection, critique_id),
        timeline=await store.timeline(connection, critique_id),
        agency=(
            {"name": row["agency_name"], "level": row["agency_level"]}
            if row["agency_name"] is not None
            else None
        ),
        published_at=published_at,
        reason=reason,
    )
    document = canonical(record)
    if row["public_document"] is not None and json.loads(row["public_document"]) == json.loads(
        document
    ):
        return False
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
    # Last: the log's appends are serialised until this transaction commits.
    await transparency.append(connection, critique_id=critique_id, document=document, at=now)
    log.info(
        "record published" if row["public_document"] is None else "record republished",
        extra={
            "critique_id": str(critique_id),
            "status": record.status,
            "redactions": len(record.redactions),
        },
    )
    return True
