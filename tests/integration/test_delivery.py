"""Delivery guarantees on the real engines: the outbox publishes only what was committed, the
inbox applies an event once however often it is delivered, and poison goes to the dead letters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.events import (
    CritiqueKind,
    CritiqueSubmitted,
    Event,
    Level,
    OrganisationRef,
    Point,
)
from services.platform import db, outbox
from services.platform.cloudevents import Envelope, header_map
from services.platform.consumer import EventConsumer, Handler, Subscription
from services.platform.outbox import OutboxRelay, new_producer
from tests.support.engines import Engines
from tests.support.kafka import create_topics, message_count, produce, read, unique_topic
from tests.support.plans import statement_calls

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("test", MIGRATIONS, max_size=5) as pool:
        yield pool


def submitted(critique_id: uuid.UUID | None = None) -> CritiqueSubmitted:
    return CritiqueSubmitted(
        critique_id=critique_id or uuid.uuid4(),
        organisation=OrganisationRef(
            id="mttq-xa-tan-lap", name="Ủy ban MTTQ xã Tân Lập", level=Level.COMMUNE
        ),
        agency_id="ubnd-xa-tan-lap",
        kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
        title="Kiến nghị về quy hoạch khu dân cư",
        points=(Point(number=1, text="Công khai quy hoạch chi tiết."),),
        submitted_at=datetime.now(UTC),
    )


def as_record(event: Event, event_id: uuid.UUID) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    envelope = Envelope(
        id=event_id,
        type=event.ce_type,
        source="urn:test",
        time=datetime.now(UTC),
        subject=event.key,
    )
    return event.key.encode(), event.model_dump_json().encode(), envelope.headers({})


async def count_effect(connection: db.Connection, _: Envelope, event: CritiqueSubmitted) -> None:
    await connection.execute(
        "INSERT INTO effects (critique_id, applied) VALUES ($1, 1)"
        " ON CONFLICT (critique_id) DO UPDATE SET applied = effects.applied + 1",
        event.critique_id,
    )


@asynccontextmanager
async def consuming(
    engines: Engines, pool: db.Pool, topic: str, handlers: Mapping[type[Event], Handler]
) -> AsyncIterator[EventConsumer]:
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    broker = KafkaBroker(engines.kafka_bootstrap)
    consumer = EventConsumer(
        Subscription(name=f"test-{uuid.uuid4().hex[:8]}", topics=(topic,), handlers=handlers),
        pool=pool,
        producer=producer,
        max_attempts=2,
    )
    consumer.register(broker)
    await broker.start()
    try:
        yield consumer
    finally:
        await broker.stop()
        await producer.stop()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.1)
    return result


async def applied(pool: db.Pool, critique_id: uuid.UUID) -> int | None:
    value: int | None = await pool.fetchval(
        "SELECT applied FROM effects WHERE critique_id = $1", critique_id
    )
    return value


async def test_an_event_published_twice_is_applied_once(engines: Engines, pool: db.Pool) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    event, marker = submitted(), submitted()
    event_id = uuid.uuid4()
    await produce(
        engines.kafka_bootstrap,
        topic,
        [as_record(event, event_id), as_record(event, event_id), as_record(marker, uuid.uuid4())],
    )
    async with consuming(engines, pool, topic, {CritiqueSubmitted: count_effect}):
        await eventually(lambda: applied(pool, marker.critique_id))
        await eventually(lambda: applied(pool, event.critique_id))

    assert await applied(pool, event.critique_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id) == 1


async def test_a_paused_consumer_applies_nothing_until_resumed_then_everything_once(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    first, held = submitted(), [submitted() for _ in range(20)]
    await produce(engines.kafka_bootstrap, topic, [as_record(first, uuid.uuid4())])
    async with consuming(engines, pool, topic, {CritiqueSubmitted: count_effect}) as consumer:
        await eventually(lambda: applied(pool, first.critique_id))
        consumer.pause()
        await produce(engines.kafka_bootstrap, topic, [as_record(e, uuid.uuid4()) for e in held])
        await asyncio.sleep(2.0)
        assert not await pool.fetchval(
            "SELECT count(*) FROM effects WHERE critique_id = ANY($1)",
            [e.critique_id for e in held],
        )
        consumer.resume()

        async def all_applied() -> bool:
            count = await pool.fetchval(
                "SELECT count(*) FROM effects WHERE critique_id = ANY($1)",
                [e.critique_id for e in held],
            )
            return bool(count == len(held))

        await eventually(all_applied)
    assert await pool.fetchval(
        "SELECT sum(applied) FROM effects WHERE critique_id = ANY($1)",
        [e.critique_id for e in held],
    ) == len(held)


async def test_a_redelivered_batch_after_a_restart_changes_nothing(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    events = [submitted() for _ in range(5)]
    await produce(engines.kafka_bootstrap, topic, [as_record(e, uuid.uuid4()) for e in events])
    records = await read(
        engines.kafka_bootstrap, topic, until=lambda records: len(records) >= len(events)
    )
    # A consumer killed after its database commit but before its offset commit gets the same
    # batch again when it restarts: the second delivery must change nothing.
    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    try:
        consumer = EventConsumer(
            Subscription(
                name="restarted", topics=(topic,), handlers={CritiqueSubmitted: count_effect}
            ),
            pool=pool,
            producer=producer,
            max_attempts=2,
        )
        await consumer.handle(records)
        await consumer.handle(records)
    finally:
        await producer.stop()

    counts = [await applied(pool, e.critique_id) for e in events]
    assert counts == [1] * len(events)


async def test_a_batch_takes_one_inbox_statement_and_is_settled_once_in_order(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    one, two, three = submitted(), submitted(), submitted()
    repeated = uuid.uuid4()  # one event id delivered twice in the same batch
    sent: list[tuple[bytes, bytes | None, list[tuple[str, bytes]]]] = [
        as_record(one, repeated),
        as_record(two, uuid.uuid4()),
        as_record(one, repeated),
        as_record(three, uuid.uuid4()),
        as_record(two, uuid.uuid4()),  # another event about the same critique
    ]
    await produce(engines.kafka_bootstrap, topic, sent)
    records = await read(engines.kafka_bootstrap, topic, until=lambda got: len(got) >= len(sent))
    settled: list[list[Any]] = []

    async def named(connection: db.Connection, envelope: Envelope, event: Any) -> list[Any]:
        await count_effect(connection, envelope, event)
        return [event.critique_id]

    async def settle(connection: db.Connection, keys: Any) -> None:
        assert connection.is_in_transaction()
        settled.append(list(keys))

    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    try:
        consumer = EventConsumer(
            Subscription(
                name=f"batch-{uuid.uuid4().hex[:8]}",
                topics=(topic,),
                handlers={CritiqueSubmitted: named},
                settle=settle,
            ),
            pool=pool,
            producer=producer,
            max_attempts=2,
        )
        before = await statement_calls(pool, "%INSERT INTO inbox%")
        await consumer.handle(records)
        inbox_statements = await statement_calls(pool, "%INSERT INTO inbox%") - before
        await consumer.handle(records)  # redelivered whole: nothing handled, nothing settled
    finally:
        await producer.stop()

    assert [await applied(pool, e.critique_id) for e in (one, two, three)] == [1, 2, 1]
    assert inbox_statements == 1
    # Each critique once, in the order the batch first named it (partitions interleave).
    assert settled == [list(dict.fromkeys(uuid.UUID(r.key.decode()) for r in records if r.key))]
    assert sorted(settled[0]) == sorted([one.critique_id, two.critique_id, three.critique_id])


async def test_poison_goes_to_the_dead_letter_topic_and_the_consumer_carries_on(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    good_before, good_after, poisonous = submitted(), submitted(), submitted()
    invalid_headers = as_record(good_before, uuid.uuid4())[2]

    async def refuse_poison(connection: db.Connection, envelope: Envelope, event: Any) -> None:
        if event.critique_id == poisonous.critique_id:
            raise ValueError("this event breaks a rule of the handler")
        await count_effect(connection, envelope, event)

    unknown = [
        (name, b"vn.mttq.supervision.critique.teleported.v9" if name == "ce_type" else value)
        for name, value in invalid_headers
    ]
    await produce(
        engines.kafka_bootstrap,
        topic,
        [
            as_record(good_before, uuid.uuid4()),
            (b"k", b'{"critique_id": "not even a uuid"}', invalid_headers),
            (b"k", b"\xff\xfe garbage", []),
            (b"k", b"{}", unknown),
            as_record(poisonous, uuid.uuid4()),
            as_record(good_after, uuid.uuid4()),
        ],
    )
    async with consuming(engines, pool, topic, {CritiqueSubmitted: refuse_poison}):
        await eventually(lambda: applied(pool, good_after.critique_id))
        dead = await read(engines.kafka_bootstrap, f"{topic}.dlq", until=lambda r: len(r) >= 4)

    assert await applied(pool, good_before.critique_id) == 1
    assert await applied(pool, poisonous.critique_id) is None
    kinds = sorted(header_map(record.headers)["dlq_error_kind"] for record in dead)
    assert kinds == ["envelope", "handler", "payload", "unknown_type"]
    for record in dead:
        headers = header_map(record.headers)
        assert headers["dlq_topic"] == topic
        assert headers["dlq_error"]
        assert int(headers["dlq_offset"]) >= 0


async def test_an_outbox_row_written_in_a_rolled_back_transaction_is_never_published(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    rolled_back, committed = submitted(), submitted()

    class Abandon(Exception):
        pass

    async def write_then_abandon() -> None:
        async with pool.acquire() as connection, connection.transaction():
            await outbox.record(connection, rolled_back, source="urn:test", topic=topic)
            raise Abandon

    with pytest.raises(Abandon):
        await write_then_abandon()
    async with pool.acquire() as connection, connection.transaction():
        committed_id = await outbox.record(connection, committed, source="urn:test", topic=topic)

    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    relay = asyncio.create_task(OutboxRelay(pool, producer, poll_interval=0.2).run())
    try:
        await eventually(
            lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")
        )
        records = await read(engines.kafka_bootstrap, topic, until=lambda r: len(r) >= 1)
        await asyncio.sleep(1.0)
        records = await read(engines.kafka_bootstrap, topic, until=lambda r: len(r) >= 1)
    finally:
        relay.cancel()
        await producer.stop()

    published = [header_map(record.headers)["ce_id"] for record in records]
    assert published == [str(committed_id)]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_the_relay_keeps_the_order_of_one_critiques_events_and_their_trace(
    engines: Engines, pool: db.Pool, spans: InMemorySpanExporter
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    critique_id = uuid.uuid4()
    event_ids = []
    tracer = trace.get_tracer(__name__)
    for _ in range(30):
        with tracer.start_as_current_span("a request"):
            async with pool.acquire() as connection, connection.transaction():
                event_ids.append(
                    await outbox.record(
                        connection, submitted(critique_id), source="urn:test", topic=topic
                    )
                )

    producer = new_producer(engines.kafka_bootstrap)
    await producer.start()
    relay = asyncio.create_task(OutboxRelay(pool, producer, poll_interval=0.2).run())
    try:
        records = await read(engines.kafka_bootstrap, topic, until=lambda r: len(r) >= 30)
    finally:
        relay.cancel()
        await producer.stop()

    assert [header_map(r.headers)["ce_id"] for r in records] == [str(i) for i in event_ids]
    assert {r.key for r in records} == {str(critique_id).encode()}
    headers = header_map(records[0].headers)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == CritiqueSubmitted.ce_type
    requests = [s for s in spans.get_finished_spans() if s.name == "a request"]
    sends = [s for s in spans.get_finished_spans() if s.name == f"send {topic}"]
    assert requests
    assert sends
    request_trace = requests[0].context.trace_id
    # The relay's send span continues the request's trace, and Kafka carries the send span.
    assert {s.context.trace_id for s in sends} >= {request_trace}
    trace_id = headers["traceparent"].split("-")[1]
    assert int(trace_id, 16) == request_trace


async def test_an_event_is_retried_while_the_database_is_unreachable_never_dead_lettered(
    engines: Engines, pool: db.Pool
) -> None:
    topic = unique_topic()
    await create_topics(engines.kafka_bootstrap, topic)
    event, follower = submitted(), submitted()
    failures = 0

    async def flaky_database(connection: db.Connection, envelope: Envelope, event: Any) -> None:
        nonlocal failures
        if failures < 3:
            failures += 1
            raise ConnectionRefusedError("PostgreSQL is restarting")
        await count_effect(connection, envelope, event)

    await produce(
        engines.kafka_bootstrap,
        topic,
        [as_record(event, uuid.uuid4()), as_record(follower, uuid.uuid4())],
    )
    async with consuming(engines, pool, topic, {CritiqueSubmitted: flaky_database}):
        await eventually(lambda: applied(pool, event.critique_id))
        await eventually(lambda: applied(pool, follower.critique_id))

    assert failures == 3
    assert await applied(pool, event.critique_id) == 1
    assert await message_count(engines.kafka_bootstrap, f"{topic}.dlq") == 0
