"""The transparency log behind the running disclosure service: anyone holding only the public
key can check that a record was published as served, and a record altered in the database is
caught."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.directory import register
from tests.support.engines import Engines
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.kafka import read
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
