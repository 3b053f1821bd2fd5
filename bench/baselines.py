"""What the machine does with no service in the way: raw Kafka, raw PostgreSQL, a bare gRPC
echo, and the pipeline's shape (insert → produce → consume → upsert) with no framework and no
tracing. Each runs in this process, on the engines the benchmark started, for ``seconds``."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.report import percentile
from contracts.events import THE_RECORD
from services.platform import kafka
from tests.support.engines import Engines, free_port

PAYLOAD = os.urandom(1024)
"""1 KiB per message, as the issue asks."""


@dataclass
class Figures:
    """Operations completed in a window and their latencies (seconds)."""

    operations: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def _producer(bootstrap: str) -> AIOKafkaProducer:
    # The outbox relay's settings (services/platform/outbox.py).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )


def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def _topic(engines: Engines, name: str) -> str:
    topic = f"{name}.{uuid.uuid4().hex[:8]}"
    await kafka.ensure_topics(
        engines.kafka_bootstrap, [topic], partitions=3, replication_factor=1, retention=THE_RECORD
    )
    return topic


async def kafka_round_trip(engines: Engines, seconds: float, window: int = 2000) -> Figures:
    """aiokafka: produce 1 KiB messages (acks=all, idempotent) as fast as ``window`` unacknowledged
    sends allow, and consume them in a group; messages/s consumed, produce → consume latency."""
    topic = await _topic(engines, "bench.raw")
    producer = _producer(engines.kafka_bootstrap)
    consumer = _consumer(engines.kafka_bootstrap, topic)
    await producer.start()
    await consumer.start()
    figures = Figures()
    sent = 0
    stop = asyncio.Event()

    async def consume() -> None:
        while not (stop.is_set() and figures.operations >= sent):
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    figures.latencies.append(now - float(record.value[:20]))
                    figures.operations += 1
            await consumer.commit()

    try:
        # Wait until the group has its partitions, so the first messages are not a backlog.
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        reading = asyncio.create_task(consume())
        started = time.perf_counter()
        pending: set[asyncio.Future[Any]] = set()
        while time.perf_counter() - started < seconds:
            stamp = f"{time.perf_counter():<20.6f}".encode()
            pending.add(await producer.send(topic, stamp + PAYLOAD[20:]))
            sent += 1
            if len(pending) >= window:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for delivery in done:
                    delivery.result()
        await asyncio.gather(*pending)
        stop.set()
        await asyncio.wait_for(reading, timeout=60)
        figures.seconds = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
    return figures


async def postgres_transactions(engines: Engines, seconds: float, connections: int = 16) -> Figures:
    """asyncpg: ``connections`` connections each committing one-row INSERT transactions."""
    url = await engines.create_database("bench_pg")
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    assert pool is not None
    figures = Figures()
    try:
        await pool.execute("CREATE TABLE rows (id bigserial PRIMARY KEY, payload bytea NOT NULL)")
        started = time.perf_counter()

        async def worker() -> None:
            async with pool.acquire() as connection:
                while (begun := time.perf_counter()) - started < seconds:
                    async with connection.transaction():
                        await connection.execute("INSERT INTO rows (payload) VALUES ($1)", PAYLOAD)
                    figures.latencies.append(time.perf_counter() - begun)
                    figures.operations += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        figures.seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return figures


async def grpc_echo(seconds: float, concurrency: int = 64) -> Figures:
    """grpc.aio: a unary echo of 1 KiB bytes, ``concurrency`` calls in flight, one channel."""

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
            ),
        )
    )
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    figures = Figures()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/bench.Echo/Echo")
            await call(PAYLOAD)
            started = time.perf_counter()

            async def worker() -> None:
                while (begun := time.perf_counter()) - started < seconds:
                    await call(PAYLOAD, timeout=30)
                    figures.latencies.append(time.perf_counter() - begun)
                    figures.operations += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            figures.seconds = time.perf_counter() - started
    finally:
        await server.stop(None)
    return figures


async def bare_pipeline(
    engines: Engines, seconds: float, writers: int = 64, connections: int = 16
) -> Figures:
    """The system's shape without the system: ``writers`` loops each insert a row (its own
    transaction), then produce it (acks=all, idempotent) and wait for the acknowledgement; a
    consumer upserts each batch into a second table in one transaction and then commits its
    offsets. No framework, no tracing, no outbox table, no inbox. Latency: insert → upserted."""
    url = await engines.create_database("bench_pipeline")
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    assert pool is not None
    topic = await _topic(engines, "bench.pipeline")
    producer = _producer(engines.kafka_bootstrap)
    consumer = _consumer(engines.kafka_bootstrap, topic)
    figures = Figures()
    written = 0
    stop = asyncio.Event()
    await pool.execute(
        """
        CREATE TABLE source (id uuid PRIMARY KEY, payload bytea NOT NULL);
        CREATE TABLE target (id uuid PRIMARY KEY, payload bytea NOT NULL, seen int NOT NULL);
        """
    )
    await producer.start()
    await consumer.start()

    async def consume() -> None:
        while not (stop.is_set() and figures.operations >= written):
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            rows = []
            for record in records:
                assert record.value is not None
                message = json.loads(record.value)
                rows.append((uuid.UUID(message["id"]), message["payload"].encode(), message["t"]))
            async with pool.acquire() as connection, connection.transaction():
                await connection.executemany(
                    """
                    INSERT INTO target (id, payload, seen) VALUES ($1, $2, 1)
                    ON CONFLICT (id) DO UPDATE SET seen = target.seen + 1
                    """,
                    [(id_, payload) for id_, payload, _ in rows],
                )
            await consumer.commit()
            now = time.perf_counter()
            figures.latencies += [now - t for _, _, t in rows]
            figures.operations += len(rows)

    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        reading = asyncio.create_task(consume())
        started = time.perf_counter()
        text = PAYLOAD.hex()[:1024]

        async def writer() -> None:
            nonlocal written
            while (begun := time.perf_counter()) - started < seconds:
                id_ = uuid.uuid4()
                async with pool.acquire() as connection, connection.transaction():
                    await connection.execute(
                        "INSERT INTO source (id, payload) VALUES ($1, $2)", id_, PAYLOAD
                    )
                message = {"id": str(id_), "payload": text, "t": begun}
                delivery = await producer.send(topic, json.dumps(message).encode(), key=id_.bytes)
                await delivery
                written += 1

        await asyncio.gather(*(writer() for _ in range(writers)))
        stop.set()
        await asyncio.wait_for(reading, timeout=120)
        figures.seconds = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
        await pool.close()
    return figures
