"""Graceful shutdown: SIGTERM to a service lets what it has started finish, refuses what is new,
and leaves nothing half done for its restart to repeat.

- submission (uvicorn): uploads in flight complete with 201 while new connections are refused;
  uvicorn then ends the lifespan (consumers, relay, producer, pool) and re-raises the signal, so
  the process ends "killed by SIGTERM" (return code -15) by design; no outbox row is left on
  Kafka but unmarked;
- tracking (grpc.aio): calls in flight complete, later ones are UNAVAILABLE, open WatchCases
  streams end with OK; the process exits 0;
- disclosure (consumer): the batch being applied is finished and its offsets committed before
  the consumer leaves, so the group's committed offsets are exactly what the inbox applied and the
  restart redelivers nothing.

Each service is started again afterwards and serves."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.events import (
    Topic,
)
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform.cloudevents import Envelope, header_map
from tests.support.directory import Directory
from tests.support.engines import Engines
from tests.support.journeys import agency_metadata, case_of, eventually, submit
from tests.support.kafka import critique_submitted
from tests.support.services import Deployment, wait_ready

UPLOADS = 4
UPLOAD_BYTES = 12 * 1024 * 1024
CHUNK = 256 * 1024


async def refuses_new_connections(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as fresh:
        try:
            await fresh.get(f"{url}/healthz")
        except httpx.ConnectError:
            return True
    return False


async def unmarked_but_published(deployment: Deployment, bootstrap: str) -> list[str]:
    """Outbox rows of submission still pending although Kafka has their event."""
    connection = await asyncpg.connect(deployment.database_urls["submission"])
    try:
        rows = await connection.fetch(
            "SELECT event_id, topic FROM outbox WHERE published_at IS NULL"
        )
    finally:
        await connection.close()
    pending = {str(row["event_id"]) for row in rows}
    if not pending:
        return []
    consumer = AIOKafkaConsumer(
        *{row["topic"] for row in rows},
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[str] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000):
            for records in batch.values():
                found += [
                    ce_id
                    for r in records
                    if (ce_id := header_map(r.headers).get("ce_id")) in pending
                ]
    finally:
        await consumer.stop()
    return found


async def test_submission_finishes_the_uploads_in_flight_and_refuses_new_connections(
    deployment: Deployment, directory: Directory, engines: Engines
) -> None:
    critique_id = await submit(deployment, directory)
    process = deployment.processes["submission"]
    sent = [0] * UPLOADS

    async def slow_pdf(number: int) -> AsyncIterator[bytes]:
        yield b"%PDF-1.7\n"
        while sent[number] < UPLOAD_BYTES:
            yield b"0" * CHUNK
            sent[number] += CHUNK
            await asyncio.sleep(0.04)

    auth = {"Authorization": f"Bearer {directory.organisation_token}"}
    async with httpx.AsyncClient(base_url=deployment.submission_url, timeout=60) as http:
        uploads = [
            asyncio.create_task(
                http.post(
                    f"/v1/critiques/{critique_id}/attachments?filename=ban-{n}.pdf",
                    content=slow_pdf(n),
                    headers=auth | {"Content-Type": "application/pdf"},
                )
            )
            for n in range(UPLOADS)
        ]
        # Critiques being submitted meanwhile, so that the outbox relay has work at the signal.
        submissions = [
            asyncio.create_task(_submit_or_refused(deployment, directory)) for _ in range(20)
        ]
        await eventually(lambda: _true(all(count >= 2 * CHUNK for count in sent)), timeout=30)
        process.popen.send_signal(signal.SIGTERM)
        await eventually(lambda: refuses_new_connections(deployment.submission_url), timeout=10)
        in_flight = sum(not upload.done() for upload in uploads)
        replies = await asyncio.gather(*uploads)
        await asyncio.gather(*submissions)
    assert in_flight == UPLOADS, "the uploads ended before new connections were refused"
    assert [reply.status_code for reply in replies] == [201] * UPLOADS, [
        reply.text for reply in replies
    ]
    assert {reply.json()["size"] for reply in replies} == {UPLOAD_BYTES + len(b"%PDF-1.7\n")}
    returncode = await asyncio.to_thread(process.popen.wait, 60)
    assert returncode == -signal.SIGTERM, process.log_tail()
    assert await unmarked_but_published(deployment, engines.kafka_bootstrap) == []

    await deployment.restart("submission")
    await wait_ready(deployment)
    async with httpx.AsyncClient(base_url=deployment.submission_url, headers=auth) as http:
        listed = await http.get(f"/v1/critiques/{critique_id}/attachments")
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == UPLOADS


async def _true(value: bool) -> bool:
    return value


async def _submit_or_refused(deployment: Deployment, directory: Directory) -> None:
    """Submit a critique: accepted, or (once the signal has landed) not connected; never a 5xx."""
    with contextlib.suppress(httpx.TransportError):
        await submit(deployment, directory)


async def test_tracking_finishes_the_calls_in_flight_and_ends_watches_cleanly(
    deployment: Deployment, directory: Directory
) -> None:
    await case_of(deployment, directory, await submit(deployment, directory))
    process = deployment.processes["tracking"]
    metadata = agency_metadata(directory)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        watch = agency.WatchCases(pb.WatchCasesRequest(from_beginning=True), metadata=metadata)
        assert await watch.read() is not grpc.aio.EOF

        async def list_cases() -> tuple[Any, float]:
            try:
                await agency.ListCases(
                    pb.ListCasesRequest(page_size=500), metadata=metadata, timeout=30
                )
                return grpc.StatusCode.OK, time.monotonic()
            except grpc.aio.AioRpcError as error:
                return error.code(), time.monotonic()

        calls = [asyncio.create_task(list_cases()) for _ in range(100)]
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        process.popen.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        outcomes = await asyncio.gather(*calls)
        while await watch.read() is not grpc.aio.EOF:
            pass
        watch_code = await watch.code()
    codes = {code for code, _ in outcomes}
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    assert any(code == grpc.StatusCode.OK and at > signalled for code, at in outcomes), (
        "no call was still in flight at the signal"
    )
    assert watch_code == grpc.StatusCode.OK
    returncode = await asyncio.to_thread(process.popen.wait, 60)
    assert returncode == 0, process.log_tail()

    await deployment.restart("tracking")
    await wait_ready(deployment)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        listed = await pb_grpc.AgencyServiceStub(channel).ListCases(
            pb.ListCasesRequest(), metadata=metadata
        )
    assert listed.cases


BURST = 2000
"""Events in the burst: ten of the consumer's 200-record batches, so that the signal, sent once 20
are applied, lands with most of them still to apply (400 were all applied by the end of the
drain once the consumer got faster)."""


async def test_disclosure_commits_exactly_what_it_applied_when_stopped_while_consuming(
    deployment: Deployment, directory: Directory, engines: Engines
) -> None:
    events = [
        critique_submitted(directory, "Kiến nghị về thu gom rác thải", "Tăng tần suất thu gom rác.")
        for _ in range(BURST)
    ]
    ids = [uuid.uuid4() for _ in events]
    producer = AIOKafkaProducer(bootstrap_servers=engines.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event, event_id in zip(events, ids, strict=True):
            envelope = Envelope(
                id=event_id,
                type=event.ce_type,
                source="urn:test:shutdown",
                time=datetime.now(UTC),
                subject=event.key,
            )
            await producer.send(
                Topic.CRITIQUES,
                value=event.model_dump_json().encode(),
                key=event.key.encode(),
                headers=envelope.headers({}),
            )
        await producer.flush()
    finally:
        await producer.stop()

    url = deployment.database_urls["disclosure"]

    async def applied() -> int:
        connection = await asyncpg.connect(url)
        try:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'disclosure' AND event_id = ANY($1)",
                ids,
            )
        finally:
            await connection.close()
        return count

    process = deployment.processes["disclosure"]
    await eventually(lambda: _true_async(applied(), at_least=20), timeout=60)
    process.popen.send_signal(signal.SIGTERM)
    returncode = await asyncio.to_thread(process.popen.wait, 60)
    assert returncode == -signal.SIGTERM, process.log_tail()
    stopped_at = await applied()
    assert stopped_at < len(events), "disclosure had applied everything before the signal"

    admin = AIOKafkaAdminClient(bootstrap_servers=engines.kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets("disclosure")
    finally:
        await admin.close()
    connection = await asyncpg.connect(url)
    try:
        last_applied = {
            TopicPartition(row["topic"], row["kafka_partition"]): row["last"]
            for row in await connection.fetch(
                "SELECT topic, kafka_partition, max(kafka_offset) AS last FROM inbox"
                " WHERE consumer = 'disclosure' AND topic = $1 GROUP BY 1, 2",
                Topic.CRITIQUES.value,
            )
        }
    finally:
        await connection.close()
    # Since the burst began, every record of the critiques topic is one disclosure applies: the
    # offset committed for each partition is the one after the last it applied, no more (nothing
    # skipped) and no less (nothing to apply twice).
    for partition, last in last_applied.items():
        assert committed[partition].offset == last + 1, (partition, committed[partition], last)

    await deployment.restart("disclosure")
    await wait_ready(deployment)
    await eventually(lambda: _true_async(applied(), at_least=len(events)), timeout=120)


async def _true_async(count: Any, *, at_least: int) -> bool:
    return bool(await count >= at_least)
