"""Directory entries for tests: an organisation and an agency with fresh tokens."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from contracts.events import AgencyKind, Level
from contracts.submission_api import OrganisationKind
from services import admin
from services.platform import tokens
from services.submission import directory
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
    await admin.save_organisations(
        deployment.database_urls["submission"],
        [
            admin.OrganisationEntry(
                id=entry.organisation_id,
                name="Ủy ban MTTQ Việt Nam xã Hòa Bình",
                level=Level.COMMUNE,
                kind=OrganisationKind.FRONT_COMMITTEE,
            )
        ],
    )
    await admin.issue_token(
        deployment.database_urls["submission"],
        directory.TOKENS,
        entry.organisation_id,
        "e2e",
        entry.organisation_token,
    )
    await admin.save_agencies(
        deployment.database_urls["tracking"],
        [
            admin.AgencyEntry(
                id=entry.agency_id,
                name="Ủy ban nhân dân xã Hòa Bình",
                level=Level.COMMUNE,
                kind=AgencyKind.PEOPLES_COMMITTEE,
            )
        ],
    )
    await admin.issue_token(
        deployment.database_urls["tracking"],
        tracking_store.TOKENS,
        entry.agency_id,
        "e2e",
        entry.agency_token,
    )
    await known_to_submission(deployment, entry.agency_id)
    return entry


async def known_to_submission(deployment: Deployment, agency_id: str, timeout: float = 30) -> None:
    """Wait until submission has heard of the agency from tracking's directory events."""
    async with asyncio.timeout(timeout), deployment.http_client() as http:
        while (await http.get(f"{deployment.submission_url}/v1/agencies/{agency_id}")).is_error:
            await asyncio.sleep(0.1)
