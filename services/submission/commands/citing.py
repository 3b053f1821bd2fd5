"""A critique's citations of a registered draft version, checked against the version as
submission heard of it from tracking (``tracking.drafts``)."""

from __future__ import annotations

from contracts.events import CritiqueContent
from services.platform import db
from services.submission import domain, store


async def citations(
    connection: db.Connection, content: CritiqueContent, *, agency_id: str
) -> tuple[CritiqueContent, store.Cited]:
    """:func:`domain.citations` against the draft version as submission heard of it."""
    ref = content.draft_version
    heard = None if ref is None else await store.heard_version(connection, ref)
    return domain.citations(content, agency_id=agency_id, heard=heard)
