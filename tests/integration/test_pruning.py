"""What is done with is deleted, on the real engines: published outbox rows past their retention
(never a pending one), inbox ids applied longer ago than theirs, and an event delivered again
is still applied once; the relay and the pruning read only what they work on, however many rows
of history the tables hold (counted by PostgreSQL, never timed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from contracts.events import CritiqueSubmitted
from services.platform import consumer, db, outbox, pruning
from services.platform.consumer import EventConsumer
from services.platform.outbox import OutboxRelay, new_producer
from tests.integration.test_delivery import (
    applied,
    as_record,
    consuming,
    count_effect,
    eventually,
    submitted,
)
from tests.support.engines import Engines
from tests.support.kafka import create_topics, produce, read, unique_topic
from tests.support.plans import Plan, explained

MIGRATIONS = Path(__file__).parent / "migrations"
DAY = timedelta(days=1)
HISTORY = 50_000


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("test", MIGRATIONS, max_size=5) as pool:
        yield pool


async def record_events(pool: db.Pool, count: int, *, topic: str = "test.pruning") -> None:
    async with pool.acquire() as connection, connection.transaction():
        for _ in range(count):
            await outbox.record(connection, submitted(), topic=topic)


async def add_history(pool: db.Pool, rows: int, *, published: datetime) -> None:
    """``rows`` outbox rows as the relay leaves them: written pending, then marked sent."""
    await pool.execute(
        """
        INSERT INTO outbox (event_id, topic, key, event_type, source, occurred_at, payload)
        SELECT gen_random_uuid(), 'test.history', 'k', 't', 's', now(), '\\x00'
        FROM generate_series(1, $1)
        """,
        rows,
    )
    await pool.execute("UPDATE outbox SET published_at = $1 WHERE published_at IS NULL", published)


async def test_published_rows_past_the_retention_are_deleted_and_pending_ones_never(
    pool: db.Pool,
) -> None:
    now = datetime.now(UTC)
    await record_events(pool, 3)  # published two days ago
    await pool.execute("UPDATE outbox SET published_at = $1", now - 2 * DAY)
    await record_events(pool, 2)  # published an hour ago
    await pool.execute(
        "UPDATE outbox SET published_at = $1 WHERE published_at IS NULL", now - timedelta(hours=1)
    )
    await record_events(pool, 4)  # never published, written long ago
    await pool.execute(
        "UPDATE outbox SET created_at = $1 WHERE published_at IS NULL", now - 30 * DAY
    )

    pruned = await pruning.prune_once(pool, outbox_retention=DAY, inbox_retention=30 * DAY)

    assert pruned.outbox_rows == 3
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 4
    kept = await pool.fetch("SELECT published_at FROM outbox WHERE published_at IS NOT NULL")
    assert [row["published_at"] for row in kept] == [now - timedelta(hours=1)] * 2
    assert (await outbox.read_backlog(pool)).rows == 4


async def test_pruning_goes_in_batches_until_nothing_past_the_retention_is_left(
    pool: db.Pool,
) -> None:
    await add_history(pool, 2 * pruning.BATCH_SIZE + 7, published=datetime.now(UTC) - 2 * DAY)

    pruned = await pruning.prune_once(pool, outbox_retention=DAY, inbox_retention=30 * DAY)

    assert pruned.outbox_rows == 2 * pruning.BATCH_SIZE + 7
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_relay_publishes_what_is_pending_after_its_history_was_pruned(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    await record_events(pool, 3, topic=topic)
    await pool.execute("UPDATE outbox SET published_at = now() - interval '2 days'")
    await record_events(pool, 2, topic=topic)
    await pruning.prune_once(pool, outbox_retention=DAY, inbox_retention=30 * DAY)
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer)
        async with pool.acquire() as connection:
            assert await relay.mark_published_by_predecessor(connection) == 0
            assert await relay.publish_pending(connection) == 2
    finally:
        await producer.stop()
    on_kafka = await read(engines.kafka_bootstrap, topic, until=lambda records: len(records) >= 2)
    assert len(on_kafka) == 2


async def test_the_relay_reads_only_pending_rows_however_many_were_published(
    engines: Engines, pool: db.Pool
) -> None:
    """On the one connection it keeps, the relay's SELECT goes through ``outbox_pending`` and
    its UPDATE through the primary key: 50,000 rows published since its statements were first
    planned cost it nothing more than a few did."""
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    await pool.execute("ALTER TABLE outbox SET (autovacuum_enabled = off)")  # stats stay behind
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(pool, producer)

    async def batch(connection: db.Connection) -> list[Plan]:
        await record_events(pool, 5, topic=topic)
        async with explained(connection) as plans:
            assert await relay.publish_pending(connection) == 5
        return [plans.one("FROM outbox WHERE published_at IS NULL"), plans.one("UPDATE outbox")]

    try:
        async with pool.acquire() as connection:
            await relay.prepare(connection)
            for _ in range(8):  # past the plan cache's five custom plans
                few = await batch(connection)
            # Written published: as the rows marked sent are once vacuumed (autovacuum does
            # after 1,000 of them), with no VACUUM here to have the plans made again.
            await pool.execute(
                """
                INSERT INTO outbox (event_id, topic, key, event_type, source, occurred_at,
                                    payload, published_at)
                SELECT gen_random_uuid(), 'test.history', 'k', 't', 's', now(), '\\x00', now()
                FROM generate_series(1, $1)
                """,
                HISTORY,
            )
            many = await batch(connection)
    finally:
        await producer.stop()

    pages = await pool.fetchval(
        "SELECT pg_relation_size('outbox') / current_setting('block_size')::int"
    )
    selected, marked = many
    assert marked.rows_read == 5, marked.scans
    assert selected.rows_read <= 5 + 5, selected.scans  # and the last batch's, not vacuumed yet
    for small, large in zip(few, many, strict=True):
        # Each of the five rows goes one or two levels deeper into each of the table's B-trees
        # (the UPDATE writes into three); reading the history would touch its hundreds of pages.
        assert large.buffers <= small.buffers + 5 * 3 * 2 + 6 < pages, large.scans


async def test_pruning_reads_only_what_it_deletes(pool: db.Pool) -> None:
    await add_history(pool, HISTORY, published=datetime.now(UTC))  # within the retention
    await add_history(pool, 10, published=datetime.now(UTC) - 2 * DAY)
    await pool.execute("ANALYZE outbox")
    async with pool.acquire() as connection, explained(connection) as plans:
        deleted = await outbox.prune_published(
            connection, older_than=datetime.now(UTC) - DAY, limit=pruning.BATCH_SIZE
        )

    assert deleted == 10
    plan = plans.one("DELETE FROM outbox")
    assert plan.rows_read <= 2 * 10 + 1, plan.scans
    assert "Seq Scan on outbox" not in plan.scans


async def inbox_ids(pool: db.Pool, name: str) -> set[uuid.UUID]:
    rows = await pool.fetch("SELECT event_id FROM inbox WHERE consumer = $1", name)
    return {row["event_id"] for row in rows}


async def test_inbox_ids_past_the_retention_are_pruned_and_redeliveries_still_applied_once(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    old, recent = submitted(), submitted()
    old_id, recent_id = uuid.uuid4(), uuid.uuid4()
    await produce(
        engines.kafka_bootstrap, topic, [as_record(old, old_id), as_record(recent, recent_id)]
    )
    async with consuming(engines, pool, topic, {CritiqueSubmitted: count_effect}) as group:
        await eventually(lambda: applied(pool, recent.critique_id))
        await eventually(lambda: applied(pool, old.critique_id))
        name = group.subscription.name
        for event_id, age in ((old_id, 40 * DAY), (recent_id, 20 * DAY)):
            await pool.execute(
                "UPDATE inbox SET applied_at = now() - $2::interval WHERE event_id = $1",
                event_id,
                age,
            )

        pruned = await pruning.prune_once(pool, outbox_retention=DAY, inbox_retention=30 * DAY)

        assert pruned.inbox_ids == 1
        assert await inbox_ids(pool, name) == {recent_id}
        # Within the retention: published again (at a new offset), dropped by its id.
        await produce(engines.kafka_bootstrap, topic, [as_record(recent, recent_id)])
        records = await read(engines.kafka_bootstrap, topic, until=lambda found: len(found) >= 3)
        await eventually(lambda: dealt_with(group, records))
        # The group reads its topic again from the beginning (as one does whose committed
        # offsets are lost): the pruned id at its old offset, the others by their ids.
        await group.handle(records)

    assert await applied(pool, old.critique_id) == 1
    assert await applied(pool, recent.critique_id) == 1
    assert await inbox_ids(pool, name) == {recent_id}


async def dealt_with(group: EventConsumer, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
    """The group has consumed (applied or dropped) every one of ``records``."""
    return all(
        (seen := group.seen.get(TopicPartition(r.topic, r.partition))) is not None
        and seen.offset > r.offset
        for r in records
    )


async def all_applied(pool: db.Pool, events: list[CritiqueSubmitted]) -> None:
    async def every() -> bool:
        return all([await applied(pool, event.critique_id) for event in events])

    await eventually(every)


async def test_an_id_redelivered_at_its_old_offset_after_pruning_is_dropped(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    events = [(submitted(), uuid.uuid4()) for _ in range(5)]
    await produce(engines.kafka_bootstrap, topic, [as_record(e, i) for e, i in events])
    async with consuming(engines, pool, topic, {CritiqueSubmitted: count_effect}) as group:
        await all_applied(pool, [event for event, _ in events])
        await pool.execute("UPDATE inbox SET applied_at = now() - interval '40 days'")
        pruned = await consumer.prune_applied(
            pool, older_than=datetime.now(UTC) - 30 * DAY, limit=pruning.BATCH_SIZE
        )
        assert pruned == 5
        assert await inbox_ids(pool, group.subscription.name) == set()
        records = await read(engines.kafka_bootstrap, topic, until=lambda found: len(found) >= 5)

        await group.handle(records)

    assert [await applied(pool, event.critique_id) for event, _ in events] == [1] * 5


async def test_an_event_not_applied_before_is_applied_after_pruning(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    first = submitted()
    await produce(engines.kafka_bootstrap, topic, [as_record(first, uuid.uuid4())])
    async with consuming(engines, pool, topic, {CritiqueSubmitted: count_effect}):
        await eventually(lambda: applied(pool, first.critique_id))
        await pool.execute("UPDATE inbox SET applied_at = now() - interval '40 days'")
        await pruning.prune_once(pool, outbox_retention=DAY, inbox_retention=30 * DAY)
        later = [submitted() for _ in range(6)]  # every partition gets some
        await produce(engines.kafka_bootstrap, topic, [as_record(e, uuid.uuid4()) for e in later])
        await all_applied(pool, later)

    assert [await applied(pool, event.critique_id) for event in later] == [1] * 6
