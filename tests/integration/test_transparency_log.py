"""The transparency log on a real PostgreSQL: appends, checkpoints, proofs served over HTTP, and
verification with nothing but the public key, including what happens when someone with access
to the database alters a published document or rewrites the log's history."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from contracts.events import CheckpointSigned, Topic
from services.cli.verify import (
    VerificationFailed,
    check_consistency,
    check_record,
    fetch_and_check,
)
from services.disclosure import checkpoints, merkle, transparency
from services.disclosure.checkpoints import Signer, SigningKeys
from services.disclosure.web import transparency_log
from services.platform import db
from services.platform.http import ProblemError, install_problem_handlers
from tests.support.engines import Engines, free_port

MIGRATIONS = Path(transparency.__file__).parent / "migrations"
ORIGIN = "supervision.mttq.vn/disclosure/test-log"
ROOT = Path(__file__).resolve().parents[2]
LOG_TABLES = ("log_leaves", "log_subtrees", "log_checkpoints")


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool(
        "disclosure", MIGRATIONS, prefix="transparency", max_size=6
    ) as pool:
        yield pool


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys([Signer.generate(ORIGIN)])


def document(critique_id: uuid.UUID, version: int) -> bytes:
    """A public document as disclosure publishes it: canonical JSON, UTF-8."""
    record = {"critique_id": str(critique_id), "title": f"Kiến nghị số {version}", "v": version}
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def publish(pool: db.Pool, critique_id: uuid.UUID, body: bytes) -> int:
    async with pool.acquire() as connection, connection.transaction():
        return await transparency.append(
            connection, critique_id=critique_id, document=body, at=datetime.now(UTC)
        )


async def publish_then_fail(pool: db.Pool, critique_id: uuid.UUID) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await transparency.append(
            connection, critique_id=critique_id, document=b"{}", at=datetime.now(UTC)
        )
        raise RuntimeError("the publication failed after appending")


@dataclass
class PublicSite:
    """The log's API as the disclosure app serves it, plus a stand-in for /v1/records."""

    app: FastAPI
    records: dict[uuid.UUID, Any]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://disclosure"
        )


@pytest.fixture
def site(pool: db.Pool, keys: SigningKeys) -> PublicSite:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(transparency_log.router)
    app.state.runtime = SimpleNamespace(pool=pool)
    app.state.log_keys = keys
    records: dict[uuid.UUID, Any] = {}

    @app.get("/v1/records/{critique_id}")
    async def record(critique_id: uuid.UUID) -> Any:
        if critique_id not in records:
            raise ProblemError(404, "not-found", "No disclosed record with this id")
        return records[critique_id]

    return PublicSite(app, records)


async def get_json(client: httpx.AsyncClient, path: str, **params: int) -> dict[str, Any]:
    response = await client.get(path, params=params or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "verify",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
        cwd=ROOT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def tamper(pool: db.Pool, statement: str, *arguments: Any) -> None:
    """What someone with full access to the database can do: lift the append-only guard."""
    async with pool.acquire() as connection, connection.transaction():
        for table in LOG_TABLES:
            await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await connection.execute(statement, *arguments)
        for table in LOG_TABLES:
            await connection.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def rebuild_tree(pool: db.Pool) -> None:
    """The tree's subtrees made again from the leaves' stated hashes, as a forger would."""
    rows = await pool.fetch("SELECT leaf_hash FROM log_leaves ORDER BY index")
    frontier = merkle.Frontier(0, [])
    subtrees = [node for row in rows for node in frontier.append(bytes(row["leaf_hash"]))]
    await tamper(pool, "DELETE FROM log_subtrees")
    await pool.execute(
        "INSERT INTO log_subtrees SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
        *(list(column) for column in zip(*subtrees, strict=True)),
    )


# -- appending and signing ----------------------------------------------------------------------


async def test_concurrent_appends_get_dense_indexes_in_commit_order(pool: db.Pool) -> None:
    critique_id = uuid.uuid4()
    indexes = await asyncio.gather(
        *(publish(pool, critique_id, document(critique_id, n)) for n in range(60))
    )
    assert sorted(indexes) == list(range(60))

    # An append whose publication rolls back leaves no gap: the next one takes its index.
    with pytest.raises(RuntimeError):
        await publish_then_fail(pool, critique_id)
    assert await publish(pool, critique_id, b"{}") == 60
    assert await transparency.tree_size(pool) == 61


async def test_the_log_refuses_updates_and_deletes(pool: db.Pool, keys: SigningKeys) -> None:
    critique_id = uuid.uuid4()
    await publish(pool, critique_id, document(critique_id, 1))
    await transparency.sign(pool, keys, origin=ORIGIN)
    for statement in (
        "UPDATE log_leaves SET data = 'x'::bytea",
        "DELETE FROM log_leaves",
        "TRUNCATE log_leaves",
        "UPDATE log_checkpoints SET note = 'x'",
        "DELETE FROM log_checkpoints",
        "UPDATE log_subtrees SET hash = sha256(hash)",
        "DELETE FROM log_subtrees",
        "TRUNCATE log_subtrees",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement)


async def test_sign_only_when_the_tree_grew_and_announce_it(
    pool: db.Pool, keys: SigningKeys
) -> None:
    assert await transparency.sign(pool, keys, origin=ORIGIN) is None  # empty log
    critique_id = uuid.uuid4()
    for version in range(1, 6):
        await publish(pool, critique_id, document(critique_id, version))
    note = await transparency.sign(pool, keys, origin=ORIGIN)
    assert note is not None
    assert await transparency.sign(pool, keys, origin=ORIGIN) is None  # nothing new

    signed = checkpoints.verify_checkpoint(note, keys.verifier_keys, origin=ORIGIN)
    hashes = [merkle.leaf_hash(document(critique_id, v)) for v in range(1, 6)]
    assert (signed.size, signed.root) == (5, merkle.root(hashes))
    latest = await transparency.latest_checkpoint(pool)
    assert latest is not None
    assert (latest.size, latest.root, latest.note) == (5, signed.root, note)

    row = await pool.fetchrow("SELECT topic, key, event_type, payload FROM outbox")
    assert row is not None
    assert (row["topic"], row["key"]) == (Topic.CHECKPOINTS.value, ORIGIN)
    assert row["event_type"] == CheckpointSigned.ce_type
    event = CheckpointSigned.model_validate_json(row["payload"])
    assert (event.size, event.note, event.root_hash) == (5, note, signed.root_base64)


async def test_competing_signers_never_sign_one_size_twice_or_a_tree_that_shrank(
    pool: db.Pool, keys: SigningKeys
) -> None:
    """Several disclosure instances sign while others append: one checkpoint per size, each
    announced once, sizes growing, each a prefix of the next."""
    critique_id = uuid.uuid4()

    async def append_some(first: int) -> None:
        for version in range(first, first + 10):
            await publish(pool, critique_id, document(critique_id, version))

    async def sign_often() -> None:
        for _ in range(10):
            await transparency.sign(pool, keys, origin=ORIGIN)

    await asyncio.gather(append_some(0), append_some(100), *(sign_often() for _ in range(3)))
    await transparency.sign(pool, keys, origin=ORIGIN)  # the tree at its final size

    sizes = [
        row["size"] for row in await pool.fetch("SELECT size FROM log_checkpoints ORDER BY size")
    ]
    announced = [
        CheckpointSigned.model_validate_json(row["payload"]).size
        for row in await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    ]
    assert announced == sizes
    assert sizes[-1] == await transparency.tree_size(pool) == 20
    for old, new in itertools.pairwise(sizes):
        older = await transparency.checkpoint(pool, old)
        newer = await transparency.checkpoint(pool, new)
        assert older is not None
        assert newer is not None
        proof = await transparency.consistency(pool, old, new)
        merkle.verify_consistency(old, new, older.root, newer.root, proof.hashes)


# -- serving and verifying ----------------------------------------------------------------------


async def test_every_leaf_verifies_offline_against_the_signed_checkpoint(
    pool: db.Pool, keys: SigningKeys, site: PublicSite, tmp_path: Path
) -> None:
    critiques = [uuid.uuid4() for _ in range(7)]
    for version in range(1, 6):
        for critique_id in critiques:
            await publish(pool, critique_id, document(critique_id, version))
    assert await transparency.sign(pool, keys, origin=ORIGIN) is not None

    async with site.client() as client:
        note = (await client.get("/v1/log/checkpoint")).text
        assert (await client.get("/v1/log/key")).text == keys.verifier_keys
        for index in range(35):
            leaf = await get_json(client, f"/v1/log/leaves/{index}")
            proof = await get_json(client, "/v1/log/proofs/inclusion", index=index, size=35)
            verified = check_record(leaf, proof, note, keys.verifier_keys)
            assert verified.index == index
            assert verified.document == document(critiques[index % 7], index // 7 + 1)
            assert leaf["document_json"]["critique_id"] == str(critiques[index % 7])

        # The same, as files, through the command line.
        (tmp_path / "leaf.json").write_text(json.dumps(leaf))
        (tmp_path / "proof.json").write_text(json.dumps(proof))
        (tmp_path / "checkpoint.note").write_text(note)
        (tmp_path / "log.pub").write_text(keys.verifier_keys)
        code, output = await cli(
            "record",
            "--leaf", str(tmp_path / "leaf.json"),
            "--proof", str(tmp_path / "proof.json"),
            "--checkpoint", str(tmp_path / "checkpoint.note"),
            "--key", str(tmp_path / "log.pub"),
        )  # fmt: skip
        assert code == 0, output
        assert "OK: leaf 34" in output

        # Another key (an impostor's, under the same name) does not vouch for this log.
        (tmp_path / "other.pub").write_text(Signer.generate(ORIGIN).verifier_key)
        code, output = await cli(
            "record",
            "--leaf", str(tmp_path / "leaf.json"),
            "--proof", str(tmp_path / "proof.json"),
            "--checkpoint", str(tmp_path / "checkpoint.note"),
            "--key", str(tmp_path / "other.pub"),
        )  # fmt: skip
        assert code == 1
        assert "FAILED" in output
        assert "no signature by the key" in output


async def test_a_growing_log_is_consistent_with_its_earlier_checkpoints(
    pool: db.Pool, keys: SigningKeys, site: PublicSite, tmp_path: Path
) -> None:
    critique_id = uuid.uuid4()
    notes = []
    for batch in (3, 8, 1, 21):
        for _ in range(batch):
            await publish(
                pool, critique_id, document(critique_id, await transparency.tree_size(pool))
            )
        note = await transparency.sign(pool, keys, origin=ORIGIN)
        assert note is not None
        notes.append(note)
    sizes = [checkpoints.verify_checkpoint(n, keys.verifier_keys).size for n in notes]
    assert sizes == [3, 11, 12, 33]

    async with site.client() as client:
        for old in range(len(notes)):
            for new in range(old, len(notes)):
                proof = await get_json(
                    client, "/v1/log/proofs/consistency", **{"from": sizes[old], "to": sizes[new]}
                )
                before, after = check_consistency(notes[old], notes[new], proof, keys.verifier_keys)
                assert (before.size, after.size) == (sizes[old], sizes[new])
        assert (await client.get(f"/v1/log/checkpoints/{sizes[1]}")).text == notes[1]

    (tmp_path / "old.note").write_text(notes[0])
    (tmp_path / "new.note").write_text(notes[-1])
    (tmp_path / "log.pub").write_text(keys.verifier_keys)
    async with site.client() as client:
        proof = await get_json(client, "/v1/log/proofs/consistency", **{"from": 3, "to": 33})
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    code, output = await cli(
        "consistency",
        "--old", str(tmp_path / "old.note"),
        "--new", str(tmp_path / "new.note"),
        "--proof", str(tmp_path / "proof.json"),
        "--key", str(tmp_path / "log.pub"),
    )  # fmt: skip
    assert code == 0, output
    assert "extends the tree of size 3" in output


async def test_fetch_checks_a_critique_end_to_end_over_http(
    pool: db.Pool, keys: SigningKeys, site: PublicSite, tmp_path: Path
) -> None:
    """``supervision verify fetch`` against a real HTTP server, as a citizen would run it."""
    critique_id, other = uuid.uuid4(), uuid.uuid4()
    for version in (1, 2):
        await publish(pool, other, document(other, version))
        await publish(pool, critique_id, document(critique_id, version))
    earlier = await transparency.sign(pool, keys, origin=ORIGIN)
    assert earlier is not None
    await publish(pool, critique_id, document(critique_id, 3))
    assert await transparency.sign(pool, keys, origin=ORIGIN) is not None
    site.records[critique_id] = json.loads(document(critique_id, 3))
    (tmp_path / "log.pub").write_text(keys.verifier_keys)
    (tmp_path / "earlier.note").write_text(earlier)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(site.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        code, output = await cli(
            "fetch",
            "--url", f"http://127.0.0.1:{port}",
            "--critique", str(critique_id),
            "--key", str(tmp_path / "log.pub"),
            "--since", str(tmp_path / "earlier.note"),
            "--save", str(tmp_path / "saved"),
        )  # fmt: skip
        assert code == 0, output
        for index in (1, 3, 4):
            assert f"OK: leaf {index} verified" in output
        assert "consistent with the earlier checkpoint of size 4" in output
        assert "the record served now is the latest version in the log" in output

        # What was saved re-checks offline.
        code, output = await cli(
            "record",
            "--leaf", str(tmp_path / "saved" / "leaf-4.json"),
            "--proof", str(tmp_path / "saved" / "inclusion-4.json"),
            "--checkpoint", str(tmp_path / "saved" / "checkpoint.note"),
            "--key", str(tmp_path / "log.pub"),
        )  # fmt: skip
        assert code == 0, output

        # The site now serves something that was never logged.
        site.records[critique_id] = {**site.records[critique_id], "title": "Đã sửa lặng lẽ"}
        code, output = await cli(
            "fetch",
            "--url", f"http://127.0.0.1:{port}",
            "--critique", str(critique_id),
            "--key", str(tmp_path / "log.pub"),
        )  # fmt: skip
        assert code == 1
        assert "the record served now differs from its latest version in the log" in output
    finally:
        server.should_exit = True
        await serving


# -- tampering ----------------------------------------------------------------------------------


async def test_altering_a_disclosed_document_in_the_database_is_detected(
    pool: db.Pool, keys: SigningKeys, site: PublicSite
) -> None:
    critique_id = uuid.uuid4()
    for version in range(1, 11):
        await publish(pool, critique_id, document(critique_id, version))
    note = await transparency.sign(pool, keys, origin=ORIGIN)
    assert note is not None
    site.records[critique_id] = json.loads(document(critique_id, 10))
    async with site.client() as client:
        await fetch_and_check(client, critique_id, keys.verifier_keys)  # all is well

    # Someone rewrites what agency X answered in version 4, directly in the database.
    forged = document(critique_id, 4).replace("Kiến nghị số 4".encode(), b"Forged answer")
    await tamper(pool, "UPDATE log_leaves SET data = $1 WHERE index = 3", forged)
    async with site.client() as client:
        leaf = await get_json(client, "/v1/log/leaves/3")
        proof = await get_json(client, "/v1/log/proofs/inclusion", index=3, size=10)
        assert leaf["document_json"]["title"] == "Forged answer"  # served as if genuine
        with pytest.raises(VerificationFailed, match=r"stated leaf hash .* is not the hash"):
            check_record(leaf, proof, note, keys.verifier_keys)
        del leaf["leaf_hash"]  # a verifier that ignores the stated hash still catches it
        with pytest.raises(VerificationFailed, match="NOT in the signed tree of size 10"):
            check_record(leaf, proof, note, keys.verifier_keys)
        with pytest.raises(VerificationFailed, match="leaf 3"):
            await fetch_and_check(client, critique_id, keys.verifier_keys)

    # Changing the leaf's stated hash too changes nothing: the tree holds its own hashes.
    await tamper(
        pool,
        "UPDATE log_leaves SET leaf_hash = $1 WHERE index = 3",
        merkle.leaf_hash(forged),
    )
    async with site.client() as client:
        leaf = await get_json(client, "/v1/log/leaves/3")
        proof = await get_json(client, "/v1/log/proofs/inclusion", index=3, size=10)
        with pytest.raises(VerificationFailed, match="NOT in the signed tree of size 10"):
            check_record(leaf, proof, note, keys.verifier_keys)
        with pytest.raises(
            VerificationFailed,
            match=r"leaf 3: its document .* is NOT the entry the signed tree of size 10 holds",
        ):
            await fetch_and_check(client, critique_id, keys.verifier_keys)
        # The other leaves are still proven by the tree the checkpoint signed.
        untouched = await get_json(client, "/v1/log/leaves/7")
        proof7 = await get_json(client, "/v1/log/proofs/inclusion", index=7, size=10)
        check_record(untouched, proof7, note, keys.verifier_keys)

    # Rewriting the tree's own hash of leaf 3 breaks the proofs through it (leaf 2's), and the
    # tiles no longer give the signed root.
    await tamper(
        pool,
        "UPDATE log_subtrees SET hash = $1 WHERE height = 0 AND index = 3",
        merkle.leaf_hash(forged),
    )
    async with site.client() as client:
        leaf2 = await get_json(client, "/v1/log/leaves/2")
        proof2 = await get_json(client, "/v1/log/proofs/inclusion", index=2, size=10)
        with pytest.raises(VerificationFailed, match="NOT in the signed tree of size 10"):
            check_record(leaf2, proof2, note, keys.verifier_keys)
        with pytest.raises(
            VerificationFailed,
            match=r"tiles do not match the signed checkpoint of size 10: the tiles tile/0/000.p/10"
            r" do not give the root",
        ):
            await fetch_and_check(client, critique_id, keys.verifier_keys)

    # Rebuilding the whole tree over the forged leaf: every proof through it fails, and the
    # log refuses to sign over the changed history.
    await rebuild_tree(pool)
    async with site.client() as client:
        proof7 = await get_json(client, "/v1/log/proofs/inclusion", index=7, size=10)
        with pytest.raises(VerificationFailed, match="NOT in the signed tree of size 10"):
            check_record(untouched, proof7, note, keys.verifier_keys)
    await publish(pool, critique_id, document(critique_id, 11))
    with pytest.raises(transparency.HistoryRewritten, match="no longer gives the root signed"):
        await transparency.sign(pool, keys, origin=ORIGIN)


async def test_rewriting_history_and_re_signing_fails_the_consistency_proof(
    pool: db.Pool, keys: SigningKeys, site: PublicSite, tmp_path: Path
) -> None:
    critique_id = uuid.uuid4()
    for version in range(1, 21):
        await publish(pool, critique_id, document(critique_id, version))
    old_note = await transparency.sign(pool, keys, origin=ORIGIN)
    assert old_note is not None
    async with site.client() as client:
        genuine_leaf = await get_json(client, "/v1/log/leaves/5")

    # With the database and the signing key, someone replaces leaf 5, rebuilds the tree of the
    # changed leaves, forgets the old checkpoints, keeps appending, and signs the rewritten log
    # with the same key.
    forged = document(critique_id, 6).replace(b'"v":6', b'"v":666')
    await tamper(
        pool,
        "UPDATE log_leaves SET data = $1, leaf_hash = $2 WHERE index = 5",
        forged,
        merkle.leaf_hash(forged),
    )
    leaves = await pool.fetch("SELECT critique_id, data FROM log_leaves ORDER BY index")
    await tamper(
        pool, "DELETE FROM log_leaves; DELETE FROM log_subtrees; DELETE FROM log_checkpoints"
    )
    async with pool.acquire() as connection, connection.transaction():
        await transparency.preload(
            connection,
            [(row["critique_id"], bytes(row["data"])) for row in leaves],
            at=datetime.now(UTC),
        )
    for version in range(21, 26):
        await publish(pool, critique_id, document(critique_id, version))
    new_note = await transparency.sign(pool, keys, origin=ORIGIN)
    assert new_note is not None
    new = checkpoints.verify_checkpoint(new_note, keys.verifier_keys)  # the signature is valid
    assert new.size == 25

    async with site.client() as client:
        proof = await get_json(client, "/v1/log/proofs/consistency", **{"from": 20, "to": 25})
        with pytest.raises(VerificationFailed, match="rewrote its history"):
            check_consistency(old_note, new_note, proof, keys.verifier_keys)

        # Each checkpoint on its own looks fine to someone who only ever sees one of them:
        forged_leaf = await get_json(client, "/v1/log/leaves/5")
        forged_proof = await get_json(client, "/v1/log/proofs/inclusion", index=5, size=25)
        check_record(forged_leaf, forged_proof, new_note, keys.verifier_keys)
        # but the genuine leaf no longer is in the new tree, and the forged one never was in
        # the old: only the consistency proof ties the two views together.
        with pytest.raises(VerificationFailed):
            check_record(genuine_leaf, forged_proof, new_note, keys.verifier_keys)
        old_proof = await get_json(client, "/v1/log/proofs/inclusion", index=5, size=20)
        with pytest.raises(VerificationFailed):
            check_record(forged_leaf, old_proof, old_note, keys.verifier_keys)
        with pytest.raises(VerificationFailed, match="rewrote its history"):
            await fetch_and_check(
                client, critique_id, keys.verifier_keys, since=old_note, compare_record=False
            )

    (tmp_path / "old.note").write_text(old_note)
    (tmp_path / "new.note").write_text(new_note)
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "log.pub").write_text(keys.verifier_keys)
    code, output = await cli(
        "consistency",
        "--old", str(tmp_path / "old.note"),
        "--new", str(tmp_path / "new.note"),
        "--proof", str(tmp_path / "proof.json"),
        "--key", str(tmp_path / "log.pub"),
    )  # fmt: skip
    assert code == 1
    assert "FAILED" in output
    assert "rewrote its history" in output


# -- the API's refusals -------------------------------------------------------------------------


async def test_the_api_names_the_parameter_beyond_the_tree(
    pool: db.Pool, keys: SigningKeys, site: PublicSite
) -> None:
    async with site.client() as client:
        missing = await client.get("/v1/log/checkpoint")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

        critique_id = uuid.uuid4()
        for version in range(1, 5):
            await publish(pool, critique_id, document(critique_id, version))
        await transparency.sign(pool, keys, origin=ORIGIN)

        checkpoint = await client.get("/v1/log/checkpoint")
        assert checkpoint.status_code == 200
        assert checkpoint.headers["content-type"].startswith("text/plain")

        for path, params, field in [
            ("/v1/log/proofs/inclusion", {"index": 0, "size": 5}, "size"),
            ("/v1/log/proofs/inclusion", {"index": 4, "size": 4}, "index"),
            ("/v1/log/proofs/inclusion", {"index": 0, "size": 0}, "size"),
            ("/v1/log/proofs/inclusion", {"index": -1, "size": 4}, "index"),
            ("/v1/log/proofs/consistency", {"from": 1, "to": 9}, "to"),
            ("/v1/log/proofs/consistency", {"from": 3, "to": 2}, "from"),
        ]:
            response = await client.get(path, params=params)
            assert response.status_code == 422, (path, params)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == [field], (path, params)

        assert (await client.get("/v1/log/leaves/4")).status_code == 404
        assert (await client.get(f"/v1/log/critiques/{uuid.uuid4()}")).status_code == 404
        listing = await get_json(client, f"/v1/log/critiques/{critique_id}")
        assert [leaf["index"] for leaf in listing["leaves"]] == [0, 1, 2, 3]
        assert (await client.get("/v1/log/checkpoints/3")).status_code == 404

        site.app.state.log_keys = None
        assert (await client.get("/v1/log/key")).status_code == 404
