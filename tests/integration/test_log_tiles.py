"""The transparency log's stored subtrees and its C2SP tlog-tiles on a real PostgreSQL: what a
proof, a checkpoint, an append and a tile read (counted by PostgreSQL itself, with auto_explain)
stays logarithmic from 2^10 to 2^16 leaves; a log of leaves from before migration 007 gets its
subtrees; tiles and entry bundles are served byte for byte with their caching, and 404 beyond
the tree."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from services.disclosure import merkle, tiles, transparency
from services.disclosure.checkpoints import Signer, SigningKeys
from services.disclosure.tiles import Tile
from services.disclosure.web import transparency_log
from services.platform import db
from services.platform.http import install_problem_handlers
from tests.support.engines import Engines
from tests.support.plans import Plans, explained

MIGRATIONS = Path(transparency.__file__).parent / "migrations"
ORIGIN = "supervision.mttq.vn/disclosure/tiles-test"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def documents(first: int, count: int) -> list[tuple[uuid.UUID, bytes]]:
    critique_id = uuid.uuid4()
    return [(critique_id, f'{{"n":{n}}}'.encode()) for n in range(first, first + count)]


async def preload(pool: db.Pool, first: int, count: int) -> int:
    async with pool.acquire() as connection, connection.transaction():
        return await transparency.preload(connection, documents(first, count), at=NOW)


def reference(size: int) -> list[bytes]:
    return [merkle.leaf_hash(document) for _, document in documents(0, size)]


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys([Signer.generate(ORIGIN)])


@pytest.fixture
async def url(engines: Engines) -> str:
    return await engines.migrated_database("disclosure", MIGRATIONS, prefix="tiles")


@pytest.fixture
async def pool(url: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def client_of(pool: db.Pool) -> httpx.AsyncClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(transparency_log.router)
    app.state.runtime = SimpleNamespace(pool=pool)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d")


# -- what the log reads stays logarithmic -------------------------------------------------------


def rows(plans: Plans) -> int:
    """Of the log's tables (not asyncpg's look-up of a type it meets for the first time)."""
    return sum(plan.rows_read for plan in plans.found if "log_" in plan.query)


async def costs(pool: db.Pool, keys: SigningKeys, size: int) -> dict[str, int]:
    """Rows and index entries read to serve proofs and a tile, append a leaf and sign, in the
    log of ``size`` leaves (it ends one larger)."""
    measured: dict[str, int] = {}
    async with pool.acquire() as connection:
        async with explained(connection) as plans:
            await transparency.inclusion(connection, size // 3, size)
        measured["inclusion"] = rows(plans)
        async with explained(connection) as plans:
            await transparency.consistency(connection, size // 2 + 1, size)
        measured["consistency"] = rows(plans)
        async with explained(connection) as plans:
            assert await transparency.tile(connection, Tile(0, size // 512)) is not None
        measured["tile"] = rows(plans)
        async with connection.transaction(), explained(connection) as plans:
            await transparency.append(connection, critique_id=uuid.uuid4(), document=b"{}", at=NOW)
        measured["append"] = rows(plans)
        async with explained(connection) as plans:
            assert await transparency.sign(connection, keys, origin=ORIGIN) is not None
        measured["sign"] = rows(plans)
    return measured


async def test_proofs_appends_and_checkpoints_read_logarithmically_many_rows(
    url: str, pool: db.Pool, keys: SigningKeys
) -> None:
    small = 2**10 + 37
    await preload(pool, 0, small)
    assert await transparency.sign(pool, keys, origin=ORIGIN) is not None
    at_small = await costs(pool, keys, small)

    big = 2**16 + 37
    await preload(pool, small + 1, big - small - 1)
    assert await transparency.tree_size(pool) == big
    at_big = await costs(pool, keys, big)

    # 64 times the leaves; a proof reads two more subtrees per doubling at most, a tile its
    # 256 rows either way: nothing near 64 times the rows.
    for operation in at_small:
        grew = at_big[operation] - at_small[operation]
        assert grew <= 2 * 6 + 4, (operation, at_small, at_big)
        assert at_big[operation] <= 300, (operation, at_big)
    assert at_big["inclusion"] <= 2 * 17 + 4, at_big
    assert at_big["sign"] <= 4 * 17 + 8, at_big


async def test_a_preloaded_log_is_the_tree_of_its_leaves(pool: db.Pool, keys: SigningKeys) -> None:
    """Preloaded in chunks on top of appended leaves: the same subtrees as one append each."""
    async with pool.acquire() as connection, connection.transaction():
        for _, document in documents(0, 3):
            await transparency.append(
                connection, critique_id=uuid.uuid4(), document=document, at=NOW
            )
        assert await transparency.preload(connection, documents(3, 1100), at=NOW, chunk=97) == 1103
    expected = merkle.Frontier(0, [])
    subtrees = {(h, i): v for leaf in reference(1103) for h, i, v in expected.append(leaf)}
    stored = {
        (row["height"], row["index"]): bytes(row["hash"])
        for row in await pool.fetch("SELECT height, index, hash FROM log_subtrees")
    }
    assert stored == subtrees
    note = await transparency.sign(pool, keys, origin=ORIGIN)
    assert note is not None
    latest = await transparency.latest_checkpoint(pool)
    assert latest is not None
    assert latest.root == merkle.root(reference(1103))
    proof = await transparency.inclusion(pool, 700, 1103)
    assert proof.hashes == merkle.inclusion_proof(700, reference(1103))


# -- a log from before the subtrees ---------------------------------------------------------------


async def test_the_migration_gives_an_existing_log_its_subtrees(
    engines: Engines, tmp_path: Path, keys: SigningKeys
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in MIGRATIONS.glob("*.sql"):
        if int(path.name[:3]) < 7:
            shutil.copy(path, before)
    url = await engines.create_database("tiles_backfill")
    await db.migrate(url, component="disclosure", folder=before)
    size = 1000 + 37
    hashes = reference(size)
    old = await db.create_pool(url, min_size=1, max_size=1)
    try:
        await old.execute(
            "INSERT INTO log_leaves (index, leaf_hash, data, critique_id, appended_at)"
            " SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::uuid[],"
            " $5::timestamptz[])",
            list(range(size)),
            hashes,
            [document for _, document in documents(0, size)],
            [critique_id for critique_id, _ in documents(0, size)],
            [NOW] * size,
        )
        signed_size = 999
        await old.execute(
            "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)",
            signed_size,
            merkle.root(hashes[:signed_size]),
            keys.sign_checkpoint(ORIGIN, signed_size, merkle.root(hashes[:signed_size])),
            NOW,
        )
    finally:
        await old.close()

    shutil.copy(MIGRATIONS / "007_log_tiles.sql", before)
    applied = await db.migrate(url, component="disclosure", folder=before)
    assert [m.version for m in applied] == [7]

    pool = await db.create_pool(url, min_size=1, max_size=2)
    try:
        frontier = merkle.Frontier(0, [])
        expected = {(h, i): v for leaf in hashes for h, i, v in frontier.append(leaf)}
        stored = {
            (row["height"], row["index"]): bytes(row["hash"])
            for row in await pool.fetch("SELECT height, index, hash FROM log_subtrees")
        }
        assert stored == expected
        # It goes on from there: proofs, a checkpoint consistent with the one signed before,
        # appends.
        proof = await transparency.consistency(pool, signed_size, size)
        assert proof.hashes == merkle.consistency_proof(signed_size, hashes)
        assert await transparency.sign(pool, keys, origin=ORIGIN) is not None
        async with pool.acquire() as connection, connection.transaction():
            await transparency.append(connection, critique_id=uuid.uuid4(), document=b"{}", at=NOW)
        assert await transparency.sign(pool, keys, origin=ORIGIN) is not None
        latest = await transparency.latest_checkpoint(pool)
        assert latest is not None
        assert latest.root == merkle.root([*hashes, merkle.leaf_hash(b"{}")])
    finally:
        await pool.close()


# -- the tiles served ---------------------------------------------------------------------------


async def test_tiles_and_entry_bundles_are_served_byte_for_byte_and_cached(pool: db.Pool) -> None:
    size = 2 * 256 + 88
    await preload(pool, 0, size)
    hashes = reference(size)
    entries = [document for _, document in documents(0, size)]
    async with client_of(pool) as client:
        full = await client.get("/v1/log/tile/0/000")
        assert full.status_code == 200
        assert full.headers["content-type"] == "application/octet-stream"
        assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert full.content == b"".join(hashes[:256])

        partial = await client.get("/v1/log/tile/0/002.p/88")
        assert partial.status_code == 200
        assert partial.headers["cache-control"] == "public, max-age=10"
        assert partial.content == b"".join(hashes[512:])
        narrower = await client.get("/v1/log/tile/0/002.p/5")  # an earlier tree's
        assert narrower.content == b"".join(hashes[512:517])

        level1 = await client.get("/v1/log/tile/1/000.p/2")
        assert level1.status_code == 200
        assert level1.content == b"".join(
            merkle.root(hashes[start : start + 256]) for start in (0, 256)
        )

        bundle = await client.get("/v1/log/tile/entries/001")
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "application/octet-stream"
        assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert tiles.decode_bundle(Tile(0, 1), bundle.content) == entries[256:512]
        tile1 = (await client.get("/v1/log/tile/0/001")).content
        assert [merkle.leaf_hash(e) for e in tiles.decode_bundle(Tile(0, 1), bundle.content)] == [
            tile1[at : at + 32] for at in range(0, len(tile1), 32)
        ]
        last = await client.get("/v1/log/tile/entries/002.p/88")
        assert last.headers["cache-control"] == "public, max-age=10"
        assert tiles.decode_bundle(Tile(0, 2, 88), last.content) == entries[512:]

        for path in [
            "/v1/log/tile/0/002",  # not full yet
            "/v1/log/tile/0/002.p/89",
            "/v1/log/tile/0/003.p/1",
            "/v1/log/tile/1/000",
            "/v1/log/tile/2/000.p/1",
            "/v1/log/tile/entries/002",
            "/v1/log/tile/entries/002.p/89",
            "/v1/log/tile/00/000",  # not the spec's encoding
            "/v1/log/tile/0/0",
            "/v1/log/tile/0/x000/001",
            "/v1/log/tile/0/000.p/256",
            "/v1/log/tile/64/000",
            "/v1/log/tile/entries/x1/000",
        ]:
            missing = await client.get(path)
            assert missing.status_code == 404, path
            assert missing.headers["content-type"] == "application/problem+json", path
            assert missing.json()["type"].endswith("/not-found"), path


async def test_a_bundle_that_cannot_carry_an_entry_says_where_to_read_it(pool: db.Pool) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await transparency.preload(connection, documents(0, 3), at=NOW)
        await transparency.append(
            connection, critique_id=uuid.uuid4(), document=bytes(70_000), at=NOW
        )
    async with client_of(pool) as client:
        refused = await client.get("/v1/log/tile/entries/000.p/4")
        assert refused.status_code == 501
        assert "leaf 3 is 70000 bytes" in refused.json()["detail"]
        assert "/v1/log/leaves/3" in refused.json()["detail"]
        earlier = await client.get("/v1/log/tile/entries/000.p/3")  # before it: served
        assert tiles.decode_bundle(Tile(0, 0, 3), earlier.content) == [
            document for _, document in documents(0, 3)
        ]
        assert (await client.get("/v1/log/tile/0/000.p/4")).status_code == 200
