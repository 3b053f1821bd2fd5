"""The operators' commands (`supervision admin …`), as subprocesses on a real PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import asyncpg
import pytest

from services.admin import SEED_FILE, read_directory
from services.platform import tokens
from tests.support.engines import Engines


@pytest.fixture
async def databases(engines: Engines) -> dict[str, str]:
    return {
        "SUPERVISION_SUBMISSION_DATABASE_URL": await engines.create_database("submission"),
        "SUPERVISION_TRACKING_DATABASE_URL": await engines.create_database("tracking"),
    }


def admin(databases: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "admin", *args],
        env={**os.environ, **databases, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_the_seed_directory_links_communes_to_provinces_to_the_centre(
    databases: dict[str, str],
) -> None:
    seeded = admin(databases, "seed")
    assert seeded.returncode == 0, seeded.stderr
    directory = read_directory(SEED_FILE)
    assert f"{len(directory.organisations)} organisations" in seeded.stdout

    connection = await asyncpg.connect(databases["SUPERVISION_SUBMISSION_DATABASE_URL"])
    try:
        chains = await connection.fetch(
            """
            SELECT c.level AS commune, p.level AS province, t.level AS centre
            FROM organisations c
            JOIN organisations p ON p.id = c.parent_id
            JOIN organisations t ON t.id = p.parent_id
            WHERE c.level = 'commune'
            """
        )
        members = await connection.fetchval(
            "SELECT count(*) FROM organisations WHERE kind = 'member_organisation'"
        )
    finally:
        await connection.close()
    communes = [o for o in directory.organisations if o.level == "commune"]
    assert len(chains) == len(communes) > 0
    assert {tuple(row) for row in chains} == {("commune", "provincial", "central")}
    assert members == 5

    connection = await asyncpg.connect(databases["SUPERVISION_TRACKING_DATABASE_URL"])
    try:
        announced = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'tracking.agencies'"
        )
    finally:
        await connection.close()
    assert announced == len(directory.agencies)


async def test_tokens_are_issued_shown_once_listed_and_revoked(databases: dict[str, str]) -> None:
    organisation = f"mttq-xa-{uuid.uuid4().hex[:6]}"
    assert admin(databases, "seed").returncode == 0
    added = admin(
        databases,
        "organisation",
        "add",
        organisation,
        "--name",
        "Ủy ban MTTQ Việt Nam xã Tân Lập",
        "--level",
        "commune",
        "--parent",
        "mttq-tinh-bac-ninh",
    )
    assert added.returncode == 0, added.stderr

    issued = [
        admin(databases, "organisation", "token", organisation, "--label", f"máy {n}")
        for n in (1, 2)
    ]
    assert all(result.returncode == 0 for result in issued)
    secrets = [re.search(r"token:\s+(sv_org_\S+)", r.stdout).group(1) for r in issued]  # type: ignore[union-attr]
    token_ids = [re.search(r"token id: (\S+)", r.stdout).group(1) for r in issued]  # type: ignore[union-attr]

    connection = await asyncpg.connect(databases["SUPERVISION_SUBMISSION_DATABASE_URL"])
    try:
        stored = await connection.fetch(
            "SELECT token_hash FROM organisation_tokens WHERE organisation_id = $1", organisation
        )
        assert {bytes(row["token_hash"]) for row in stored} == {tokens.digest(s) for s in secrets}
        assert not any(s.encode() in bytes(row["token_hash"]) for s in secrets for row in stored)
    finally:
        await connection.close()

    listed = admin(databases, "organisation", "tokens", organisation)
    assert "máy 1" in listed.stdout
    assert "máy 2" in listed.stdout
    assert secrets[0] not in listed.stdout

    assert admin(databases, "organisation", "revoke", token_ids[0]).returncode == 0
    again = admin(databases, "organisation", "revoke", token_ids[0])
    assert again.returncode == 2
    assert "No live token" in again.stdout
    unknown = admin(databases, "organisation", "token", "mttq-khong-co", "--label", "x")
    assert unknown.returncode == 2


async def test_agency_tokens_are_managed_the_same_way(databases: dict[str, str]) -> None:
    assert admin(databases, "seed").returncode == 0
    issued = admin(databases, "agency", "token", "bo-tu-phap", "--label", "tích hợp")
    assert issued.returncode == 0, issued.stderr
    token_id = re.search(r"token id: (\S+)", issued.stdout).group(1)  # type: ignore[union-attr]
    assert "tích hợp" in admin(databases, "agency", "tokens", "bo-tu-phap").stdout
    assert admin(databases, "agency", "revoke", token_id).returncode == 0
