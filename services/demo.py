"""A demo organisation and agency with local-only tokens, for ``make run``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from contracts.events import Level
from services.platform import db, tokens
from services.submission import store as submission_store
from services.tracking import store as tracking_store

DEMO_ORGANISATION = ("mttq-tinh-bac-ninh", "Ủy ban MTTQ Việt Nam tỉnh Bắc Ninh", Level.PROVINCIAL)
DEMO_AGENCY = ("so-tu-phap-bac-ninh", "Sở Tư pháp tỉnh Bắc Ninh", Level.PROVINCIAL)


def _read(tokens_file: Path) -> dict[str, str]:
    if not tokens_file.exists():
        return {}
    pairs = (line.split("=", 1) for line in tokens_file.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def seed(tokens_file: Path) -> list[str]:
    """Create (or keep) the demo directory entries; tokens are kept in ``tokens_file`` so that a
    second run prints the same ones. They are for this machine only."""
    known = _read(tokens_file)
    organisation_token = known.get("DEMO_ORGANISATION_TOKEN") or tokens.issue("sv_org")
    agency_token = known.get("DEMO_AGENCY_TOKEN") or tokens.issue("sv_agency")
    asyncio.run(_register(organisation_token, agency_token))
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(
        f"DEMO_ORGANISATION_TOKEN={organisation_token}\nDEMO_AGENCY_TOKEN={agency_token}\n"
    )
    tokens_file.chmod(0o600)
    return [
        f"demo organisation {DEMO_ORGANISATION[0]} token: {organisation_token}",
        f"demo agency       {DEMO_AGENCY[0]} token: {agency_token}",
    ]


async def _register(organisation_token: str, agency_token: str) -> None:
    from services.cli import Service, database

    submission_url, submission_migrations = database(Service.SUBMISSION)
    await db.migrate(submission_url, component="submission", folder=submission_migrations)
    connection: db.Connection = await asyncpg.connect(submission_url)
    try:
        organisation_id, name, level = DEMO_ORGANISATION
        await submission_store.create_organisation(
            connection, organisation_id=organisation_id, name=name, level=level
        )
        await submission_store.add_token(
            connection, organisation_id=organisation_id, token=organisation_token, label="demo"
        )
    finally:
        await connection.close()

    tracking_url, tracking_migrations = database(Service.TRACKING)
    await db.migrate(tracking_url, component="tracking", folder=tracking_migrations)
    connection = await asyncpg.connect(tracking_url)
    try:
        agency_id, name, level = DEMO_AGENCY
        await tracking_store.create_agency(connection, agency_id=agency_id, name=name, level=level)
        await tracking_store.add_token(
            connection, agency_id=agency_id, token=agency_token, label="demo"
        )
    finally:
        await connection.close()
