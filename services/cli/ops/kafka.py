"""Kafka seen from outside: its topics, their sizes, a consumer group's lag."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.platform import deadletters
from services.platform.kafka import unread


@dataclass(frozen=True)
class Kafka:
    """An admin client and a consumer without a group (it commits nothing)."""

    admin: AIOKafkaAdminClient
    consumer: AIOKafkaConsumer

    async def topics(self) -> list[str]:
        return sorted(await self.admin.list_topics())

    async def dlq_topics(self) -> list[str]:
        return [topic for topic in await self.topics() if deadletters.is_dead_letter_topic(topic)]

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """The partitions of those of ``topics`` that exist."""
        names = sorted(set(topics))
        if not names:
            return []
        return sorted(
            TopicPartition(described["topic"], partition["partition"])
            for described in await self.admin.describe_topics(names)
            if not described["error_code"]
            for partition in described["partitions"]
        )

    async def sizes(self, topics: Iterable[str]) -> dict[str, int]:
        """How many messages each topic holds now (end minus beginning offsets)."""
        names = list(topics)
        partitions = await self.partitions(names)
        if not partitions:
            return dict.fromkeys(names, 0)
        begins = await self.consumer.beginning_offsets(partitions)
        ends = await self.consumer.end_offsets(partitions)
        sizes: Counter[str] = Counter(dict.fromkeys(names, 0))
        for tp in partitions:
            sizes[tp.topic] += ends[tp] - begins[tp]
        return dict(sizes)


@contextlib.asynccontextmanager
async def connect(bootstrap: str, wait: float) -> AsyncIterator[Kafka]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(wait * 1000))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=int(wait * 1000)
    )
    try:
        await admin.start()
        await consumer.start()
        yield Kafka(admin, consumer)
    finally:
        for client in (consumer.stop, admin.close):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(wait):
                    await client()


async def _unread_range(
    kafka: Kafka, group: str, topics: Iterable[str]
) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition of ``topics`` (and any the group committed on): the offsets ``group`` has
    yet to consume, from its committed offset (the beginning where it has committed nothing, or
    committed an offset retention has since deleted) to the end."""
    committed = await kafka.admin.list_consumer_group_offsets(group)
    partitions = await kafka.partitions({*topics, *(tp.topic for tp in committed)})
    if not partitions:
        return {}
    begins = await kafka.consumer.beginning_offsets(partitions)
    ends = await kafka.consumer.end_offsets(partitions)
    ranges = {}
    for tp in partitions:
        done = committed.get(tp)
        count = unread(
            end=ends[tp], beginning=begins[tp], committed=done.offset if done is not None else None
        )
        ranges[tp] = (ends[tp] - count, ends[tp])
    return ranges


async def group_lag(kafka: Kafka, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages not yet consumed by ``group``, by topic: end offsets minus committed offsets
    (minus the beginning, on a partition where the group has committed nothing)."""
    lag: Counter[str] = Counter()
    for tp, (start, end) in (await _unread_range(kafka, group, topics)).items():
        lag[tp.topic] += end - start
    return dict(lag)


async def oldest_unconsumed(kafka: Kafka, group: str, topics: Iterable[str]) -> dict[str, int]:
    """For each topic where ``group`` is behind: the timestamp (ms since the epoch, as Kafka
    keeps it) of the oldest record it has not consumed yet, the one at its committed offset (or
    at the beginning, where it has committed nothing or retention deleted what it had not read).
    That record is the first retention would take from the group."""
    starts = {
        tp: start
        for tp, (start, end) in (await _unread_range(kafka, group, topics)).items()
        if start < end
    }
    if not starts:
        return {}
    consumer = kafka.consumer
    consumer.assign(list(starts))
    for tp, start in starts.items():
        consumer.seek(tp, start)
    oldest: dict[str, int] = {}
    remaining = set(starts)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0  # a partition that gives nothing in time is left out
    while remaining and loop.time() < deadline:
        batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=len(remaining))
        for tp, records in batch.items():
            if records and tp in remaining:
                remaining.discard(tp)
                stamp = records[0].timestamp
                oldest[tp.topic] = min(stamp, oldest.get(tp.topic, stamp))
    return oldest
