"""Disaster recovery, drilled: the PostgreSQL server holding the three services' databases is
lost under load — killed, and its data directory deleted — and brought back by the README's
steps ("Disaster recovery", ``infra/bin/postgres-dr``): a base backup taken before, the WAL
archive streamed synchronously since, a restore to the moment of the loss, the server started on
it, the archive started again, a new base backup.

Then the outbox, the inbox and the topics bring the services back in line: every critique
accepted, before, during or after the loss, is disclosed once with the answer the agency got OK
for; and the transparency log is neither forked nor re-signed — every checkpoint signed before
the loss is there as it was, and no size of the log was ever announced with two roots."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.events import Topic
from tests.support.directory import Directory, register
from tests.support.engines import BIN, Engines, Process, start
from tests.support.load import Load, assert_nothing_lost
from tests.support.postgres import OwnPostgres, deployed_on, own_postgres
from tests.support.services import Deployment

DOWN_FOR = 6.0
"""Seconds between the loss and the restore: the load retries meanwhile."""


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    with own_postgres("dr") as server:
        yield server


@pytest.fixture(scope="module")
def archive_dir(postgres: OwnPostgres) -> Path:
    path = postgres.workdir / "archive"  # on another disk, in real life
    path.mkdir()
    return path


def dr(postgres: OwnPostgres, archive_dir: Path, *args: str) -> str:
    """``infra/bin/postgres-dr`` as an operator runs it; its output."""
    env = {**os.environ, **postgres.env, "SUPERVISION_PG_ARCHIVE_DIR": str(archive_dir)}
    done = subprocess.run(
        [str(BIN / "postgres-dr"), *args], env=env, capture_output=True, text=True, check=False
    )
    print(f"$ postgres-dr {' '.join(args)}  # exit {done.returncode}\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def archiving(postgres: OwnPostgres, archive_dir: Path) -> Process:
    """``postgres-dr archive --synchronous``, once it streams: every commit from now on waits
    for the archive to have it on disk."""
    env = {**postgres.env, "SUPERVISION_PG_ARCHIVE_DIR": str(archive_dir)}
    argv = [str(BIN / "postgres-dr"), "archive", "--synchronous"]
    process = start("postgres-archive", argv, env, postgres.workdir)
    for _ in range(300):
        if "starting log streaming" in process.log_path.read_text(errors="replace"):
            return process
        assert process.popen.poll() is None, process.log_tail()
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(f"the archive did not start streaming:\n{process.log_tail()}")


@pytest.fixture(scope="module")
def archiver(postgres: OwnPostgres, archive_dir: Path) -> Iterator[list[Process]]:
    """The running archive (replaced when started again after the restore)."""
    running = [archiving(postgres, archive_dir)]
    yield running
    for process in running:
        process.stop(signal.SIGINT)


@pytest.fixture(scope="module")
async def deployment(
    engines: Engines, postgres: OwnPostgres, archiver: list[Process]
) -> AsyncIterator[Deployment]:
    async with deployed_on(engines, postgres, "dr") as running:
        yield running


@pytest.fixture(scope="module")
async def directory(deployment: Deployment) -> Directory:
    return await register(deployment)


async def accepted_at_least(load: Load, count: int, timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while len(load.accepted) < count:
            await asyncio.sleep(0.2)


async def stored_checkpoints(url: str) -> dict[int, tuple[bytes, str]]:
    """size → (root, signed note) of every checkpoint disclosure stores."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT size, root, note FROM log_checkpoints")
    finally:
        await connection.close()
    return {row["size"]: (bytes(row["root"]), row["note"]) for row in rows}


async def announced_roots(bootstrap: str, origin: str) -> dict[int, set[str]]:
    """size → every root announced for it on disclosure.checkpoints by the log ``origin``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([Topic.CHECKPOINTS])
    finally:
        await admin.close()
    partitions = [
        TopicPartition(Topic.CHECKPOINTS, p["partition"]) for p in described["partitions"]
    ]
    assert partitions
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    roots: dict[int, set[str]] = defaultdict(set)
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(60):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = json.loads(record.value or b"{}")
                        if event.get("origin") == origin:
                            roots[int(event["size"])].add(str(event["root_hash"]))
    finally:
        await consumer.stop()
    return roots


async def test_a_lost_database_server_is_restored_and_nothing_is_lost_forked_or_resigned(
    engines: Engines,
    postgres: OwnPostgres,
    archive_dir: Path,
    archiver: list[Process],
    deployment: Deployment,
    directory: Directory,
) -> None:
    disclosure_db = deployment.database_urls["disclosure"]
    async with Load(deployment, directory) as load:
        await accepted_at_least(load, 15)
        dr(postgres, archive_dir, "backup")
        await accepted_at_least(load, len(load.accepted) + 25)  # work the backup does not hold
        # Some of it published and signed before the loss: on a busy machine the first
        # answers, and the first checkpoint after them, may come after the 40th acceptance.
        async with asyncio.timeout(120):
            while not (signed_before := await stored_checkpoints(disclosure_db)):
                await asyncio.sleep(0.5)

        # The loss: the server killed, its data directory gone.
        lost_at = len(load.accepted)
        postgres.stop(signal.SIGKILL)
        data = Path(postgres.env["SUPERVISION_PG_DATA_DIR"])
        shutil.rmtree(data)
        assert archiver[0].popen.wait(30) is not None  # the archive lost its server too
        await asyncio.sleep(DOWN_FOR)

        # The README's steps.
        dr(postgres, archive_dir, "restore")
        await asyncio.to_thread(postgres.start)
        archiver.append(await asyncio.to_thread(archiving, postgres, archive_dir))
        dr(postgres, archive_dir, "backup")
        await accepted_at_least(load, len(load.accepted) + 25)
    print(f"accepted {len(load.accepted)} ({lost_at} when the server was lost)")
    print(f"retried {dict(load.retries)}")
    await assert_nothing_lost(load)

    # The log is neither forked nor re-signed: what was signed before is there as it was, every
    # size announced has one root, and the one disclosure stores.
    signed_after = await stored_checkpoints(disclosure_db)
    for size, signed in signed_before.items():
        assert signed_after.get(size) == signed, f"checkpoint of size {size} changed"
    origin = deployment.log_verifier_key.split("+")[0]
    announced = await announced_roots(engines.kafka_bootstrap, origin)
    assert announced
    forks = {size: roots for size, roots in announced.items() if len(roots) > 1}
    assert not forks, f"sizes announced with two roots: {forks}"
    for size, (root, _note) in signed_after.items():
        if size in announced:
            assert announced[size] == {base64.b64encode(root).decode()}, size
    connection = await asyncpg.connect(disclosure_db)
    try:
        leaves = await connection.fetchrow(
            "SELECT count(*) AS n, coalesce(max(index) + 1, 0) AS size FROM log_leaves"
        )
    finally:
        await connection.close()
    assert leaves is not None
    assert leaves["n"] == leaves["size"]  # dense: nothing appended twice
    assert max(signed_after) <= leaves["size"]
