"""What a Front organisation does that submission decides: submit a critique, and attach its
documents (contracts/transitions.py). Each in one transaction, with its history entry and its
event (outbox)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime

from contracts.events import (
    AttachmentAdded,
    CritiqueSubmitted,
    OrganisationRef,
)
from contracts.lifecycle import (
    RefusalReason,
    RequestKind,
)
from contracts.submission_api import (
    AttachmentOut,
    CritiqueIn,
    CritiqueOut,
    CritiqueStatus,
    HistoryStep,
)
from services.platform import db, idempotency, outbox
from services.submission import domain, queries, store
from services.submission.commands.citing import citations
from services.submission.commands.requests import Settled, own_critique, pending_of_kind
from services.submission.directory import Organisation

log = logging.getLogger(__name__)


class UnknownAgency(LookupError):
    """No agency with this id in tracking's directory (as announced to submission)."""


async def submit(
    pool: db.Pool,
    *,
    organisation: Organisation,
    critique: CritiqueIn,
    idempotency_key: str | None,
) -> tuple[CritiqueOut, bool]:
    """Store the critique with its history entry and ``critique.submitted``; return it, and
    whether this was a retry answered with the first result."""
    written = domain.content(critique, critique.kind)

    async def work(connection: db.Connection) -> idempotency.Response:
        now, critique_id = datetime.now(UTC), uuid.uuid4()
        content, cited = await citations(connection, written, agency_id=critique.agency_id)
        stored = await store.insert_critique(
            connection,
            critique_id=critique_id,
            organisation_id=organisation.id,
            agency_id=critique.agency_id,
            kind=critique.kind,
            content=content,
            cited=cited,
            at=now,
        )
        if stored is None:
            raise UnknownAgency(critique.agency_id)
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
                agency_id=critique.agency_id,
                kind=critique.kind,
                title=content.title,
                points=content.points,
                draft=content.draft,
                draft_version=content.draft_version,
                legal_basis=content.legal_basis,
                redact_names=content.redact_names,
                submitted_at=now,
            ),
            occurred_at=now,
        )
        created = queries.critique_out(stored, pending=[])
        return idempotency.Response(201, created.model_dump(mode="json"))

    outcome = await idempotency.once(
        pool,
        scope=f"critiques:{organisation.id}",
        key=idempotency_key,
        request=idempotency.fingerprint(critique.model_dump_json()),
        work=work,
    )
    created = CritiqueOut.model_validate(outcome.body)
    if not outcome.replayed:  # logged once committed: a retry's work is rolled back
        log.info(
            "critique submitted",
            extra={
                "critique_id": str(created.id),
                "organisation_id": organisation.id,
                "agency_id": critique.agency_id,
                "kind": critique.kind.value,
            },
        )
    return created, outcome.replayed


async def add_attachment(
    pool: db.Pool,
    *,
    organisation_id: str,
    critique_id: uuid.UUID,
    filename: str,
    media_type: str,
    content: bytes,
) -> AttachmentOut:
    """Attach a file, unless the critique is withdrawn or a withdrawal is pending."""
    async with pool.acquire() as connection, connection.transaction():
        critique = await own_critique(connection, critique_id, organisation_id)
        if critique.status is CritiqueStatus.WITHDRAWN:
            raise Settled(RefusalReason.WITHDRAWN)
        if await pending_of_kind(connection, critique.id, RequestKind.WITHDRAWAL):
            raise Settled(RefusalReason.WITHDRAWAL_PENDING)
        attachment = store.Attachment(
            id=uuid.uuid4(),
            critique_id=critique_id,
            filename=filename,
            media_type=media_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            added_at=datetime.now(UTC),
        )
        await store.insert_attachment(connection, attachment, content)
        await store.record_history(
            connection,
            critique_id,
            HistoryStep.ATTACHMENT_ADDED,
            at=attachment.added_at,
            version=critique.version,
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
        return AttachmentOut.model_validate(attachment, from_attributes=True)
