"""A system left running longer than any retention horizon still rebuilds.

The broker here keeps a topic without settings of its own two seconds (standing in for Kafka's
default seven days, which every topic of ours had before its policy), rolls segments every second
and cleans them within seconds, so that deletion and compaction really run during the test. A
control topic left to those defaults loses its records, an agency renamed twice loses its first
name to compaction — and a disclosure rebuilt afterwards from the topics, on a new database,
still has every record and every agency, each agency under its latest name."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.events import (
    AgencyKind,
    Level,
    Topic,
)
from services import admin
from services.platform import deadletters
from tests.support.directory import Directory, register
from tests.support.engines import Engines, OwnKafka, free_port, start
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.kafka import critique_submitted, dead_letter_record, produce
from tests.support.services import Deployment, deployed, wait_ready

CLEANING_WITHIN_SECONDS = {
    "log.retention.ms": "2000",
    "log.roll.ms": "1000",
    "log.retention.check.interval.ms": "500",
    "log.segment.delete.delay.ms": "0",
    "log.cleaner.backoff.ms": "200",
    "log.cleaner.min.cleanable.ratio": "0.01",
    "log.cleaner.min.compaction.lag.ms": "0",
}
ROLL_SECONDS = 1.2
"""Longer than ``log.roll.ms``: the next record on a partition opens a new segment."""


@pytest.fixture(scope="module")
def cleaning_kafka() -> Iterator[OwnKafka]:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="supervision-retention-"))
        stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
        broker = OwnKafka(
            port=free_port(),
            controller_port=free_port(),
            workdir=workdir,
            properties=CLEANING_WITHIN_SECONDS,
        )
        broker.start()
        stack.callback(broker.stop)
        yield broker


@pytest.fixture(scope="module")
async def deployment(engines: Engines, cleaning_kafka: OwnKafka) -> AsyncIterator[Deployment]:
    async with deployed(engines, "retention", kafka_bootstrap=cleaning_kafka.bootstrap) as running:
        yield running


async def records_of(bootstrap: str, topic: str) -> list[tuple[int, int, bytes | None]]:
    """(partition, offset, key) of every record the topic still holds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):  # a topic just created is known a moment later
            while not (partitions := sorted(consumer.assignment())):
                await asyncio.sleep(0.1)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[int, int, bytes | None]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*partitions, timeout_ms=1000)
            found += [(r.partition, r.offset, r.key) for rs in batch.values() for r in rs]
        return sorted(found)
    finally:
        await consumer.stop()


async def rename(deployment: Deployment, agency_id: str, name: str) -> None:
    await admin.save_agencies(
        deployment.database_urls["tracking"],
        [
            admin.AgencyEntry(
                id=agency_id, name=name, level=Level.COMMUNE, kind=AgencyKind.PEOPLES_COMMITTEE
            )
        ],
    )


async def test_after_deletion_and_compaction_have_run_a_rebuild_has_every_record_and_agency(
    deployment: Deployment, engines: Engines, cleaning_kafka: OwnKafka
) -> None:
    bootstrap = cleaning_kafka.bootstrap
    office: Directory = await register(deployment)
    critique_id = await submit(deployment, office, title="Kiến nghị giữ lại qua mọi thời hạn")
    await answer(deployment, office, await case_of(deployment, office, critique_id))
    published = await eventually(lambda: public_record(deployment, critique_id))
    # Renamed twice, a segment apart each time: compaction may clean the first name away.
    names = ["Ủy ban nhân dân xã Hòa Bình (tên cũ)", "Ủy ban nhân dân xã Hòa Bình (tên tạm)"]
    for name in names:
        await asyncio.sleep(ROLL_SECONDS)
        await rename(deployment, office.agency_id, name)
    await asyncio.sleep(ROLL_SECONDS)
    latest = "Ủy ban nhân dân xã Hòa Bình"
    await rename(deployment, office.agency_id, latest)

    # A submission tracking set aside (its handler kept failing until a fix), waiting in the
    # .dlq for an operator however long that takes.
    waiting = critique_submitted(office, "Kiến nghị chờ người trực xử lý", "Sửa cầu tràn thôn Bắc.")
    dlq = deadletters.topic_for(Topic.CRITIQUES)
    letter = dead_letter_record(waiting, uuid.uuid4(), consumer="tracking", was_at=10**9)
    await produce(bootstrap, dlq, [letter])

    # A control topic left to the broker's defaults, as our topics were: its records go.
    control = f"control.{uuid.uuid4().hex[:8]}"
    kafka_admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await kafka_admin.start()
    try:
        await kafka_admin.create_topics([NewTopic(control, num_partitions=1, replication_factor=1)])
    finally:
        await kafka_admin.close()
    await produce(bootstrap, control, [(b"k", b"v", [])])

    async def control_deleted() -> bool:
        return await records_of(bootstrap, control) == []

    await eventually(control_deleted, timeout=60)

    # Past the horizon, the dead letter is still there, and replayed it is applied.
    assert [r for r in await records_of(bootstrap, dlq) if r[2] == letter[0]]
    replay = ("ops", "dlq", "replay", "--topic", Topic.CRITIQUES, "--all", "--yes")
    replayed = subprocess.run(
        [sys.executable, "-m", "services.cli", *replay],
        env={**os.environ, "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        capture_output=True,
        text=True,
        check=False,
    )
    print(replayed.stdout, replayed.stderr)
    assert replayed.returncode == 0, replayed.stderr
    assert "1 replayed and marked handled" in replayed.stdout
    assert (await case_of(deployment, office, str(waiting.critique_id))).title == waiting.title

    agency_key = office.agency_id.encode()

    async def first_name_compacted() -> list[tuple[int, int, bytes | None]] | None:
        mine = [r for r in await records_of(bootstrap, Topic.AGENCIES) if r[2] == agency_key]
        return mine if len(mine) < len(names) + 2 else None

    kept = await eventually(first_name_compacted, timeout=60)
    print(f"the agency's records left after compaction: {kept}")

    # Nothing of the record streams was deleted: their first offsets are still there.
    for topic in (Topic.CRITIQUES, Topic.CASES):
        held = await records_of(bootstrap, topic)
        assert held, f"{topic} holds nothing"
        firsts = {
            partition: min(o for p, o, _ in held if p == partition) for partition, _, _ in held
        }
        assert set(firsts.values()) == {0}, f"{topic} lost its first records: {firsts}"

    # A disclosure and a submission rebuilt from the topics, each on a new database and in a
    # consumer group of its own.
    with ExitStack() as stack:
        ports = {"disclosure": free_port(), "submission": free_port()}
        processes = {}
        for service, port in ports.items():
            upper = service.upper()
            process = start(
                f"{service}-rebuilt",
                [sys.executable, "-m", "services.cli", "serve", service],
                {
                    "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    f"SUPERVISION_{upper}_DATABASE_URL": await engines.create_database("rebuilt"),
                    f"SUPERVISION_{upper}_HTTP_PORT": str(port),
                    f"SUPERVISION_{upper}_CONSUMER_GROUP": f"rebuild-{uuid.uuid4().hex[:6]}",
                    "OTEL_TRACES_EXPORTER": "none",
                },
                engines.workdir,
            )
            stack.callback(process.stop)
            processes[process.name] = process
        mirror = Deployment(
            submission_url=f"http://127.0.0.1:{ports['submission']}",
            disclosure_url=f"http://127.0.0.1:{ports['disclosure']}",
            tracking_address=deployment.tracking_address,
            database_urls={},
            traces_dir=engines.workdir,
            processes=processes,
        )
        await wait_ready(mirror)

        async def same_record() -> dict[str, Any] | None:
            found = await public_record(mirror, critique_id)
            return found if found == published else None

        await eventually(same_record, timeout=60)

        async with (
            httpx.AsyncClient(base_url=mirror.disclosure_url) as disclosure,
            httpx.AsyncClient(base_url=deployment.submission_url) as original,
            httpx.AsyncClient(base_url=mirror.submission_url) as submission,
        ):

            async def latest_name_in_disclosure() -> bool:
                reply = await disclosure.get(f"/v1/agencies/{office.agency_id}")
                return reply.status_code == 200 and reply.json()["agency"]["name"] == latest

            await eventually(latest_name_in_disclosure, timeout=60)

            every_agency = (await original.get("/v1/agencies")).json()
            assert {a["id"]: a["name"] for a in every_agency}[office.agency_id] == latest

            async def whole_directory() -> bool:
                return bool((await submission.get("/v1/agencies")).json() == every_agency)

            await eventually(whole_directory, timeout=60)

    # Long past the horizon too, the operators' mark on the letter is kept: it stays handled.
    marks = await records_of(bootstrap, deadletters.HANDLED_TOPIC)
    assert any(key and key.decode().startswith(f"{dlq}:") for _, _, key in marks), marks
