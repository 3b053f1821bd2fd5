"""The operators' commands (`supervision admin …`), as subprocesses on a real PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.admin import SEED_FILE, read_directory
from services.admin import pool as owners
from services.platform import tokens
from services.submission import directory
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


async def test_a_token_issued_for_a_time_is_listed_with_its_expiry_and_refused_after_it(
    databases: dict[str, str],
) -> None:
    assert admin(databases, "seed").returncode == 0
    issued = admin(
        databases,
        "organisation",
        "token",
        "mttq-tinh-bac-ninh",
        "--label",
        "90",
        "--expires-in",
        "90d",
    )
    assert issued.returncode == 0, issued.stderr
    until = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"expires:  {until}" in issued.stdout
    token_id = re.search(r"token id: (\S+)", issued.stdout).group(1)  # type: ignore[union-attr]
    listed = admin(databases, "organisation", "tokens", "mttq-tinh-bac-ninh")
    row = next(line for line in listed.stdout.splitlines() if token_id in line)
    assert until in row
    assert "expired" not in row

    agency = admin(
        databases, "agency", "token", "bo-tu-phap", "--label", "2w", "--expires-in", "2w"
    )
    assert agency.returncode == 0, agency.stderr
    fortnight = (datetime.now(UTC) + timedelta(weeks=2)).strftime("%Y-%m-%d")
    assert fortnight in admin(databases, "agency", "tokens", "bo-tu-phap").stdout

    issue = ("organisation", "token", "mttq-tinh-bac-ninh", "--label", "x", "--expires-in")
    for nonsense in ("soon", "0d"):
        refused = admin(databases, *issue, nonsense)
        assert refused.returncode == 2, (nonsense, refused.stdout)
        assert "--expires-in" in refused.stderr, refused.stderr

    # Once its time has passed, the store refuses it as it refuses a revoked token.
    async with owners(databases["SUPERVISION_SUBMISSION_DATABASE_URL"]) as pool:
        token = tokens.issue("sv_org")
        await directory.TOKENS.add(
            pool,
            owner_id="mttq-tinh-bac-ninh",
            token=token,
            label="hết hạn",
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        assert await directory.TOKENS.owner(pool, token) is None
        live = tokens.issue("sv_org")
        await directory.TOKENS.add(
            pool,
            owner_id="mttq-tinh-bac-ninh",
            token=live,
            label="còn hạn",
            expires_at=datetime.now(UTC) + timedelta(minutes=1),
        )
        assert await directory.TOKENS.owner(pool, live) == "mttq-tinh-bac-ninh"
        listed_rows = await directory.TOKENS.list(pool, "mttq-tinh-bac-ninh")
        expired_row = next(row for row in listed_rows if row.label == "hết hạn")
        assert expired_row.last_used_at is None  # refused: not noted as used
    shown = admin(databases, "organisation", "tokens", "mttq-tinh-bac-ninh").stdout
    assert "(expired)" in next(line for line in shown.splitlines() if "hết hạn" in line)
