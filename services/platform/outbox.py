"""The transactional outbox and its relay.

``record`` writes an event in the caller's transaction, with the current trace context. The relay
publishes pending rows in id order with an idempotent producer (acks=all) and marks them sent only
after Kafka has acknowledged them. Only one relay per database publishes at a time (a session
advisory lock), so several instances of a service can run side by side. A relay that dies between
Kafka's acknowledgement and its commit leaves rows that are on Kafka but not marked sent: the relay
that takes the lock next looks for them at the end of their topics and marks them, instead of
publishing them twice (and were one still published twice, consumers' inboxes drop the duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from opentelemetry import trace

from contracts.events import Event
from services.platform import cloudevents, db, telemetry
from services.platform.cloudevents import Envelope

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

_RELAY_LOCK: Final = 0x4F55_5442_4F58  # "OUTBOX"
BATCH_SIZE: Final = 500
MAX_EVENT_BYTES: Final = 8 * 1024 * 1024
"""The largest event: above the largest request any service accepts (the broker and the
consumers are configured to match)."""


async def record(
    connection: db.Connection,
    event: Event,
    *,
    occurred_at: datetime | None = None,
    topic: str | None = None,
    source: str | None = None,
) -> uuid.UUID:
    """Add ``event`` to the outbox inside the caller's open transaction; return its event id.

    Its CloudEvents source is the service owning the event's topic (``ce_source``
    ``urn:vn:mttq:supervision:<service>``); ``topic`` and ``source`` override them (tests use
    their own topics).
    """
    assert connection.is_in_transaction(), "outbox rows must share the change's transaction"
    event_id = uuid.uuid4()
    trace_headers = telemetry.inject_current()
    await connection.execute(
        """
        INSERT INTO outbox (event_id, topic, key, event_type, source, occurred_at, payload,
                            traceparent, tracestate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        event_id,
        topic or event.topic.value,
        event.key,
        event.ce_type,
        source or cloudevents.source(event.topic.owner),
        occurred_at or datetime.now(UTC),
        event.model_dump_json().encode(),
        trace_headers.get("traceparent"),
        trace_headers.get("tracestate"),
    )
    return event_id


@dataclass(frozen=True)
class Backlog:
    """The outbox rows not yet published to Kafka."""

    rows: int
    oldest_age_seconds: float
    """How long ago the oldest of them was written (0 when there is none)."""


async def read_backlog(executor: db.Executor) -> Backlog:
    """One query, through the ``outbox_pending`` partial index (for the metrics and ``ops``)."""
    row = await executor.fetchrow(
        """
        SELECT count(*) AS backlog,
               coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
        FROM outbox WHERE published_at IS NULL
        """
    )
    assert row is not None
    return Backlog(rows=int(row["backlog"]), oldest_age_seconds=float(row["age"]))


async def prune_published(executor: db.Executor, *, older_than: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows published before ``older_than``; return how many.

    Only published rows: a pending one is never deleted, whatever its age, and the relay reads
    and marks only pending rows (``outbox_pending``), so this never touches a row it is working
    on. Found through ``outbox_published``; rows another transaction holds are skipped."""
    deleted: int = await executor.fetchval(
        """
        WITH done AS (
            SELECT id FROM outbox WHERE published_at < $1
            ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), deleted AS (
            DELETE FROM outbox WHERE id IN (SELECT id FROM done) RETURNING 1
        )
        SELECT count(*) FROM deleted
        """,
        older_than,
        limit,
    )
    return deleted


def new_producer(bootstrap_servers: str, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
        "max_request_size": MAX_EVENT_BYTES,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class OutboxRelay:
    """Publishes a database's outbox to Kafka until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        producer: AIOKafkaProducer,
        *,
        poll_interval: float = 1.0,
        bootstrap_servers: str | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._poll_interval = poll_interval
        # Where to look for what a predecessor published: by default where the producer sends.
        self._bootstrap_servers: str = bootstrap_servers or producer.client._bootstrap_servers
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Hold the relay lock, then publish on every notification and every poll interval,
        until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                async with self._pool.acquire() as connection:
                    db.keeps_session_state(connection)
                    if not await connection.fetchval(
                        "SELECT pg_try_advisory_lock($1)", _RELAY_LOCK
                    ):
                        await self._pause()
                        continue
                    try:
                        await self.prepare(connection)
                        await connection.add_listener("outbox", self._on_notify)
                        await self.mark_published_by_predecessor(connection)
                        await self._publish_until_stopped(connection)
                    finally:
                        with contextlib.suppress(Exception):
                            await connection.remove_listener("outbox", self._on_notify)
                            await connection.execute("SELECT pg_advisory_unlock($1)", _RELAY_LOCK)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The database or Kafka is unreachable: nothing was marked sent, so retry all.
                log.warning("outbox relay interrupted; retrying", extra={"error": repr(error)})
                await self._pause()

    @staticmethod
    async def prepare(connection: db.Connection) -> None:
        """Plan the relay's statements for the outbox as it is at each batch.

        The relay keeps its connection as long as it holds the lock, and a connection keeps its
        statements' plans: the UPDATE marking a batch sent, planned while the outbox was small, was
        a scan of the whole table, kept as the table grew (50,000 rows read to mark 5), until the
        next ANALYZE. Planned each time, it goes through the primary key; the pool resets the
        setting when the connection is released."""
        await connection.execute("SET plan_cache_mode = force_custom_plan")

    def stop(self) -> None:
        """Finish the batch in flight (sent and marked sent), then return from :meth:`run`."""
        self._stopping.set()
        self._wake.set()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=self._poll_interval)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_until_stopped(self, connection: db.Connection) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            published = await self.publish_pending(connection)
            if published == BATCH_SIZE:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

    async def mark_published_by_predecessor(self, connection: db.Connection) -> int:
        """Mark sent the pending rows already on Kafka; return how many. Call with the lock held.

        The relay that held the lock before may have died after Kafka acknowledged a batch and
        before it marked the batch sent. Only the relay holding the lock publishes a database's
        outbox, and it publishes one batch at a time, so such rows are among the first pending
        ones and on the last ``BATCH_SIZE`` records of their partitions. (A relay that lost its
        database connection but still runs could send later still; its events then reach Kafka
        twice and the consumers' inboxes drop the second.)"""
        rows = await connection.fetch(
            "SELECT id, event_id, topic FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1",
            2 * BATCH_SIZE,  # rows committed late may have taken lower ids meanwhile
        )
        if not rows:
            return 0
        pending = {str(row["event_id"]): row["id"] for row in rows}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_EVENT_BYTES,
        )
        try:
            async with asyncio.timeout(60):  # Kafka unreachable: run() retries
                await consumer.start()
                found = await self._find(consumer, {row["topic"] for row in rows}, pending)
        finally:
            await consumer.stop()
        if found:
            await connection.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", found
            )
            log.warning(
                "outbox rows found already published by the previous relay; marked sent",
                extra={"rows": len(found)},
            )
        return len(found)

    async def _find(
        self, consumer: AIOKafkaConsumer, topics: set[str], pending: dict[str, int]
    ) -> list[int]:
        """The ids of the ``pending`` rows (by event id) on the last records of ``topics``."""
        found: list[int] = []
        partitions = [
            TopicPartition(topic, number)
            for topic in sorted(topics)
            for number in sorted(await self._producer.partitions_for(topic))
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        unread = {partition for partition in partitions if ends[partition] > 0}
        consumer.assign(partitions)
        for partition in unread:
            consumer.seek(partition, max(0, ends[partition] - BATCH_SIZE))
        while unread:
            batch = await consumer.getmany(*unread, timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    event_id = dict(record.headers).get("ce_id", b"").decode()
                    if event_id in pending:
                        found.append(pending[event_id])
            for partition in list(unread):
                if await consumer.position(partition) >= ends[partition]:
                    unread.discard(partition)
        return found

    async def publish_pending(self, connection: db.Connection) -> int:
        """Publish one batch of pending rows in order; return how many were published."""
        rows = await connection.fetch(
            """
            SELECT id, event_id, topic, key, event_type, source, occurred_at, payload,
                   traceparent, tracestate
            FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1
            """,
            BATCH_SIZE,
        )
        if not rows:
            return 0
        deliveries = [await self._send(row) for row in rows]
        await asyncio.gather(*deliveries)
        await connection.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
        return len(rows)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        stored = {
            name: row[name] for name in ("traceparent", "tracestate") if row[name] is not None
        }
        with tracer.start_as_current_span(
            f"send {row['topic']}",
            context=telemetry.extract(stored),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": row["topic"],
                "messaging.message.id": str(row["event_id"]),
                telemetry.ATTR_EVENT_TYPE: row["event_type"],
                "messaging.kafka.message.key": row["key"],
            },
        ):
            envelope = Envelope(
                id=row["event_id"],
                type=row["event_type"],
                source=row["source"],
                time=row["occurred_at"],
                subject=row["key"],
            )
            future: asyncio.Future[Any] = await self._producer.send(
                row["topic"],
                value=bytes(row["payload"]),
                key=row["key"].encode(),
                headers=envelope.headers(telemetry.inject_current()),
            )
            return future
