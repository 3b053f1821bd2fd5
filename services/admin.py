"""Administration: the directory of organisations and agencies, and their tokens.

Organisations live in submission's database, agencies in tracking's (tracking announces each one
on ``tracking.agencies`` so that submission accepts critiques addressed to it). These commands
talk to the databases directly: they are for the operators of this deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from contracts.events import AgencyKind, Level, ShortText
from contracts.identifiers import AgencyId, OrganisationId
from contracts.submission_api import OrganisationKind
from services.platform import db, tokens
from services.platform.certificates import Facts, facts
from services.submission import directory
from services.tracking import store as tracking_store

SEED_FILE = Path(__file__).resolve().parents[1] / "infra" / "seed" / "directory.yaml"
DEMO_ORGANISATION = "mttq-tinh-bac-ninh"
DEMO_AGENCY = "so-tu-phap-bac-ninh"


class OrganisationEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: OrganisationId
    name: ShortText
    level: Level
    kind: OrganisationKind
    parent: OrganisationId | None = None


class AgencyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: AgencyId
    name: ShortText
    level: Level
    kind: AgencyKind
    parent: AgencyId | None = None


class DirectoryFile(BaseModel):
    """A directory file such as infra/seed/directory.yaml; parents come before children."""

    model_config = ConfigDict(extra="forbid")

    organisations: list[OrganisationEntry] = []
    agencies: list[AgencyEntry] = []


def read_directory(path: Path) -> DirectoryFile:
    return DirectoryFile.model_validate(yaml.safe_load(path.read_text("utf-8")))


@asynccontextmanager
async def pool(url: str) -> AsyncIterator[db.Pool]:
    opened = await db.create_pool(url, min_size=1, max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


async def save_organisations(url: str, entries: list[OrganisationEntry]) -> None:
    async with (
        pool(url) as organisations,
        organisations.acquire() as connection,
        connection.transaction(),
    ):
        for entry in entries:
            await directory.save_organisation(
                connection,
                organisation_id=entry.id,
                name=entry.name,
                level=entry.level,
                kind=entry.kind,
                parent_id=entry.parent,
            )


async def save_agencies(url: str, entries: list[AgencyEntry]) -> None:
    # Imported here: tracking's use cases bring the outbox and telemetry with them, 1.4 s of
    # start-up that every other `supervision` command would otherwise wait for.
    from services.tracking import commands as tracking_commands

    async with pool(url) as agencies:
        for entry in entries:
            await tracking_commands.register_agency(
                agencies,
                agency_id=entry.id,
                name=entry.name,
                level=entry.level,
                kind=entry.kind,
                parent_id=entry.parent,
            )


async def issue_token(
    url: str,
    store: tokens.TokenStore,
    owner_id: str,
    label: str,
    token: str | None = None,
    *,
    expires_at: datetime | None = None,
) -> tuple[uuid.UUID, str]:
    """Issue (or, given ``token``, register) a token, live until revoked or until
    ``expires_at``; the token is shown once and never kept."""
    token = token or tokens.issue("sv_org" if store is directory.TOKENS else "sv_agency")
    async with pool(url) as owners:
        token_id = await store.add(
            owners, owner_id=owner_id, token=token, label=label, expires_at=expires_at
        )
    return token_id, token


async def revoke_token(url: str, store: tokens.TokenStore, token_id: uuid.UUID) -> bool:
    async with pool(url) as owners:
        return await store.revoke(owners, token_id)


async def list_tokens(url: str, store: tokens.TokenStore, owner_id: str) -> list[tokens.TokenInfo]:
    async with pool(url) as owners:
        return await store.list(owners, owner_id)


async def register_certificate(url: str, agency_id: str, pem: bytes, label: str) -> Facts:
    """Bind a client certificate to an agency: from now on it acts for that agency (only)."""
    found = facts(pem)
    async with pool(url) as agencies:
        await tracking_store.add_certificate(
            agencies,
            agency_id=agency_id,
            fingerprint=found.fingerprint,
            subject=found.subject,
            serial_number=found.serial_number,
            not_after=found.not_after,
            label=label,
        )
    return found


async def revoke_certificate(url: str, fingerprint: bytes) -> bool:
    async with pool(url) as agencies:
        return await tracking_store.revoke_certificate(agencies, fingerprint)


async def list_certificates(url: str, agency_id: str) -> list[tracking_store.AgencyCertificate]:
    async with pool(url) as agencies:
        return await tracking_store.agency_certificates(agencies, agency_id)
