"""Directory entries for tests: an organisation and an agency with fresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from contracts.events import Level
from services.platform import db, tokens
from services.submission import store as submission_store
from services.tracking import store as tracking_store
from tests.support.services import Deployment


@dataclass(frozen=True)
class Directory:
    organisation_id: str
    organisation_token: str
    agency_id: str
    agency_token: str


async def register(deployment: Deployment) -> Directory:
    """A commune Front committee and a commune People's Committee, each with a fresh token
    (the services have migrated their databases by the time they are ready)."""
    suffix = uuid.uuid4().hex[:6]
    entry = Directory(
        organisation_id=f"mttq-xa-{suffix}",
        organisation_token=tokens.issue("sv_org"),
        agency_id=f"ubnd-xa-{suffix}",
        agency_token=tokens.issue("sv_agency"),
    )
    pool = await db.create_pool(deployment.database_urls["submission"], min_size=1, max_size=1)
    try:
        await submission_store.create_organisation(
            pool,
            organisation_id=entry.organisation_id,
            name="Ủy ban MTTQ Việt Nam xã Hòa Bình",
            level=Level.COMMUNE,
        )
        await submission_store.add_token(
            pool,
            organisation_id=entry.organisation_id,
            token=entry.organisation_token,
            label="e2e",
        )
    finally:
        await pool.close()
    pool = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=1)
    try:
        await tracking_store.create_agency(
            pool, agency_id=entry.agency_id, name="Ủy ban nhân dân xã Hòa Bình", level=Level.COMMUNE
        )
        await tracking_store.add_token(
            pool, agency_id=entry.agency_id, token=entry.agency_token, label="e2e"
        )
    finally:
        await pool.close()
    return entry
