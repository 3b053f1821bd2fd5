"""Plain aiokafka helpers for tests: produce raw records and read a topic back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from contracts.events import (
    THE_RECORD,
    CritiqueEvent,
    CritiqueKind,
    CritiqueSubmitted,
    Level,
    OrganisationRef,
    Point,
)
from services.platform import deadletters
from services.platform.cloudevents import Envelope, source
from services.platform.kafka import ensure_topics
from tests.support.directory import Directory

Record = tuple[bytes, bytes | None, list[tuple[str, bytes]]]
"""(key, value, headers), as :func:`produce` sends them."""


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


async def create_topics(bootstrap: str, *topics: str) -> None:
    await ensure_topics(bootstrap, topics, partitions=3, replication_factor=1, retention=THE_RECORD)


async def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Send (key, value, headers) records in order and wait until Kafka has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``until(records)`` holds; fail after ``timeout``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(records):
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def message_count(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` holds (its end offsets, summed over partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        assert topic in await consumer.topics()  # also loads the metadata of every topic
        partitions = [
            TopicPartition(topic, number) for number in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()


def critique_submitted(
    directory: Directory, title: str, point: str, critique_id: uuid.UUID | None = None
) -> CritiqueSubmitted:
    """A submission of ``directory``'s commune committee to its agency, as submission would
    publish it: for tests that put events on the topics themselves."""
    return CritiqueSubmitted(
        critique_id=critique_id or uuid.uuid4(),
        organisation=OrganisationRef(
            id=directory.organisation_id, name="Ủy ban MTTQ xã Hòa Bình", level=Level.COMMUNE
        ),
        agency_id=directory.agency_id,
        kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
        title=title,
        points=(Point(number=1, text=point),),
        submitted_at=datetime.now(UTC),
    )


def event_record(event: CritiqueEvent, event_id: uuid.UUID) -> Record:
    """``event`` as its owner's outbox publishes it, with id ``event_id``."""
    headers = Envelope(
        id=event_id,
        type=event.ce_type,
        source=source(event.topic.owner),
        time=datetime.now(UTC),
        subject=str(event.critique_id),
    ).headers({})
    return event.key.encode(), event.model_dump_json().encode(), headers


def dead_letter_record(
    event: CritiqueEvent, event_id: uuid.UUID, *, consumer: str, was_at: int
) -> Record:
    """``event`` as ``consumer`` sets it aside when its handler keeps failing: what a fix
    deployed since would apply once replayed."""
    key, value, headers = event_record(event, event_id)
    stamp = deadletters.Stamp(
        error_kind="handler",
        error="InterfaceError: the handler failed before the fix",
        consumer=consumer,
        topic=event.topic,
        partition=0,
        offset=was_at,
    )
    return key, value, [*headers, *stamp.headers()]
