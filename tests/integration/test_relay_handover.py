"""The outbox relay's handover on the real engines: a relay that dies after Kafka acknowledged a
batch and before it marked the batch sent leaves the next relay (another instance, or the same
one restarted) nothing to publish twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from contracts.events import CritiqueKind, CritiqueSubmitted, Level, OrganisationRef, Point
from services.platform import db, outbox
from services.platform.cloudevents import header_map
from services.platform.outbox import OutboxRelay, new_producer
from tests.support.engines import Engines
from tests.support.kafka import create_topics, read, unique_topic

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture
async def database_url(engines: Engines) -> str:
    return await engines.migrated_database("test", MIGRATIONS)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


def submitted() -> CritiqueSubmitted:
    return CritiqueSubmitted(
        critique_id=uuid.uuid4(),
        organisation=OrganisationRef(
            id="mttq-xa-an-binh", name="MTTQ xã An Bình", level=Level.COMMUNE
        ),
        agency_id="ubnd-xa-an-binh",
        kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
        title="Kiến nghị về thu gom rác thải",
        points=(Point(number=1, text="Tăng tần suất thu gom."),),
        submitted_at=datetime.now(UTC),
    )


class Died(Exception):
    """The relay's process ended before its transaction committed."""


async def publish_then_die(connection: db.Connection, relay: OutboxRelay, expected: int) -> None:
    async with connection.transaction():
        assert await relay.publish_pending(connection) == expected
        raise Died


async def test_a_batch_acknowledged_but_not_marked_sent_is_not_published_again(
    engines: Engines, database_url: str, pool: db.Pool
) -> None:
    topic = unique_topic("handover")
    await create_topics(engines.kafka_bootstrap, topic)
    async with pool.acquire() as connection, connection.transaction():
        sent = [
            await outbox.record(connection, submitted(), source="urn:test", topic=topic)
            for _ in range(5)
        ]
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    try:
        # The first relay takes the lock, Kafka acknowledges its batch, and it dies before its
        # UPDATE commits: its session (and lock) ends, the rows are still pending.
        first = await asyncpg.connect(database_url)
        assert await first.fetchval("SELECT pg_try_advisory_lock($1)", outbox._RELAY_LOCK)
        with pytest.raises(Died):
            await publish_then_die(first, OutboxRelay(pool, producer), len(sent))
        await first.close()
        async with pool.acquire() as connection, connection.transaction():
            more = await outbox.record(connection, submitted(), source="urn:test", topic=topic)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 6

        # The next relay takes over: it publishes only what was never published.
        relay = asyncio.create_task(OutboxRelay(pool, producer, poll_interval=0.2).run())
        try:
            async with asyncio.timeout(30):
                while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    await asyncio.sleep(0.1)
            records = await read(engines.kafka_bootstrap, topic, until=lambda r: len(r) >= 6)
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
            records = await read(engines.kafka_bootstrap, topic, until=lambda r: len(r) >= 6)
        finally:
            relay.cancel()
            with pytest.raises(asyncio.CancelledError):
                await relay
    finally:
        await producer.stop()
    published = Counter(header_map(record.headers)["ce_id"] for record in records)
    assert published == Counter(str(event_id) for event_id in [*sent, more])


class StoppedMidBatch(OutboxRelay):
    """A relay told to stop while the first event of its first batch is being sent."""

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        self.stop()
        return await super()._send(row)


async def test_a_stopping_relay_finishes_the_batch_it_is_sending_and_marks_it_sent(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic("stop")
    await create_topics(engines.kafka_bootstrap, topic)
    async with pool.acquire() as connection, connection.transaction():
        first_batch = [
            await outbox.record(connection, submitted(), source="urn:test", topic=topic)
            for _ in range(outbox.BATCH_SIZE)
        ]
        rest = [
            await outbox.record(connection, submitted(), source="urn:test", topic=topic)
            for _ in range(3)
        ]
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    try:
        async with asyncio.timeout(30):  # run() returns by itself once the batch is done
            await StoppedMidBatch(pool, producer, poll_interval=0.2).run()
        records = await read(
            engines.kafka_bootstrap, topic, until=lambda r: len(r) >= len(first_batch)
        )
        await asyncio.sleep(1.0)  # anything more would have arrived by now
        records = await read(
            engines.kafka_bootstrap, topic, until=lambda r: len(r) >= len(first_batch)
        )
    finally:
        await producer.stop()
    # The whole batch on Kafka and marked sent; nothing after it sent: nothing on Kafka unmarked.
    assert Counter(header_map(r.headers)["ce_id"] for r in records) == Counter(
        str(event_id) for event_id in first_batch
    )
    pending = await pool.fetch("SELECT event_id FROM outbox WHERE published_at IS NULL")
    assert sorted(row["event_id"] for row in pending) == sorted(rest)
