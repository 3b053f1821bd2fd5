"""The transparency log behind the running disclosure service: anyone holding only the public
key can check that a record was published as served, and a record altered in the database is
caught."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.disclosure import checkpoints, tiles
from tests.support.directory import register
from tests.support.engines import Engines
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.kafka import read
from tests.support.prometheus import scrape, total
from tests.support.services import Deployment
from tests.support.transparency import logged_and_signed, verify


async def test_a_published_record_verifies_offline_and_tampering_in_the_database_is_caught(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory, title="Kiến nghị được ghi vào sổ công khai")
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    await eventually(lambda: public_record(deployment, critique_id))
    await logged_and_signed(deployment, critique_id)

    key = tmp_path / "log.pub"
    key.write_text(deployment.log_verifier_key + "\n")
    checked = verify(
        "fetch",
        "--url",
        deployment.disclosure_url,
        "--critique",
        critique_id,
        "--key",
        str(key),
        "--save",
        str(tmp_path / "evidence"),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAILED" not in checked.stdout

    # Someone with database access rewrites the published answer.
    connection = await asyncpg.connect(deployment.database_urls["disclosure"])
    try:
        await connection.execute(
            """
            UPDATE records SET public_document = jsonb_set(
                public_document, '{points,1,explanation}', '"Cơ quan tiếp thu toàn bộ."')
            WHERE critique_id = $1
            """,
            uuid.UUID(critique_id),
        )
    finally:
        await connection.close()
    record = await public_record(deployment, critique_id)
    assert record is not None
    assert record["points"][1]["explanation"] == "Cơ quan tiếp thu toàn bộ."

    caught = verify(
        "fetch", "--url", deployment.disclosure_url, "--critique", critique_id, "--key", str(key)
    )
    assert caught.returncode == 1
    assert "FAILED" in caught.stdout + caught.stderr


async def test_another_key_cannot_vouch_for_the_log(deployment: Deployment, tmp_path: Path) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory)
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    await eventually(lambda: public_record(deployment, critique_id))
    await logged_and_signed(deployment, critique_id)
    made = verify("keygen", "someone.else/disclosure")
    assert made.returncode == 0, made.stderr
    stranger = next(
        line.split(": ", 1)[1] for line in made.stdout.splitlines() if "verifier key" in line
    )
    key = tmp_path / "stranger.pub"
    key.write_text(stranger + "\n")
    refused = verify(
        "fetch", "--url", deployment.disclosure_url, "--critique", critique_id, "--key", str(key)
    )
    assert refused.returncode == 1


async def test_checkpoints_are_published_as_events(
    deployment: Deployment, engines: Engines
) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory)
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    signed = await logged_and_signed(deployment, critique_id)

    origin = deployment.log_verifier_key.split("+", 1)[0]  # other deployments share the topic

    def ours(found: list[Any]) -> list[dict[str, Any]]:
        return [e for e in (json.loads(r.value) for r in found) if e["origin"] == origin]

    announced = await read(
        engines.kafka_bootstrap,
        "disclosure.checkpoints",
        until=lambda found: any(e["size"] >= signed["size"] for e in ours(found)),
    )
    note = next(e["note"] for e in ours(announced) if e["size"] == signed["size"])
    assert note == signed["checkpoint"]


HTTP_REQUESTS = "http_server_request_duration_seconds_count"
TILE_ROUTE = "/v1/log/tile/{level}/{path:path}"
PROOF_ROUTES = ("/v1/log/proofs/inclusion", "/v1/log/proofs/consistency")


async def test_verify_computes_the_proofs_from_the_tiles_the_service_serves(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = await register(deployment)
    critique_id = await submit(deployment, directory)
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    await eventually(lambda: public_record(deployment, critique_id))
    signed = await logged_and_signed(deployment, critique_id)
    key = tmp_path / "log.pub"
    key.write_text(deployment.log_verifier_key + "\n")
    (tmp_path / "kept.note").write_text(signed["checkpoint"])

    # The tiles of the signed tree, as any mirror reads them, make up its signed root.
    checkpoint = checkpoints.verify_checkpoint(signed["checkpoint"], deployment.log_verifier_key)
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        edge = {}
        for tile in tiles.right_edge(checkpoint.size):
            served = await http.get(f"/v1/log/{tile.path}")
            assert served.status_code == 200, tile.path
            assert served.headers["content-type"] == "application/octet-stream"
            edge[tile] = served.content
        tiles.TreeTiles(checkpoint.size, checkpoint.root, edge)
        beyond = await http.get(f"/v1/log/tile/0/{tiles.encode_index(checkpoint.size)}")
        assert beyond.status_code == 404

    before = await scrape(deployment.disclosure_url)
    checked = verify(
        "fetch",
        "--url", deployment.disclosure_url,
        "--critique", critique_id,
        "--key", str(key),
        "--since", str(tmp_path / "kept.note"),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "proof hashes from the log's tiles" in checked.stdout
    after = await scrape(deployment.disclosure_url)
    assert total(after, HTTP_REQUESTS, http_route=TILE_ROUTE) > total(
        before, HTTP_REQUESTS, http_route=TILE_ROUTE
    )
    for route in PROOF_ROUTES:  # the server computed no proof for it
        assert total(after, HTTP_REQUESTS, http_route=route) == total(
            before, HTTP_REQUESTS, http_route=route
        )

    # Someone with database access rewrites the logged document itself: the tree still holds
    # the hash of what was signed, and verify says which leaf no longer matches it.
    index = signed["indexes"][-1]
    connection = await asyncpg.connect(deployment.database_urls["disclosure"])
    try:
        genuine = await connection.fetchval("SELECT data FROM log_leaves WHERE index = $1", index)
        await _rewrite_leaf(connection, index, genuine.replace(b'"', b"'", 1))
        try:
            caught = verify(
                "fetch",
                "--url", deployment.disclosure_url,
                "--critique", critique_id,
                "--key", str(key),
                "--no-compare-record",
            )  # fmt: skip
        finally:
            await _rewrite_leaf(connection, index, genuine)
    finally:
        await connection.close()
    assert caught.returncode == 1
    assert f"FAILED: leaf {index}: its document" in caught.stderr, caught.stdout + caught.stderr
    assert "the document was altered after it was signed" in caught.stderr


async def _rewrite_leaf(connection: asyncpg.Connection[Any], index: int, data: bytes) -> None:
    async with connection.transaction():
        await connection.execute("ALTER TABLE log_leaves DISABLE TRIGGER USER")
        await connection.execute("UPDATE log_leaves SET data = $1 WHERE index = $2", data, index)
        await connection.execute("ALTER TABLE log_leaves ENABLE TRIGGER USER")
