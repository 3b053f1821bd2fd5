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
from services.platform import kafka as platform_kafka
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


async def group_lag(kafka: Kafka, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages not yet consumed by ``group``, by topic: end offsets minus committed offsets
    (minus the beginning, on a partition where the group has committed nothing)."""
    committed = await kafka.admin.list_consumer_group_offsets(group)
    partitions = await kafka.partitions({*topics, *(tp.topic for tp in committed)})
    if not partitions:
        return {}
    begins = await kafka.consumer.beginning_offsets(partitions)
    ends = await kafka.consumer.end_offsets(partitions)
    lag: Counter[str] = Counter()
    for tp in partitions:
        done = committed.get(tp)
        lag[tp.topic] += unread(
            end=ends[tp], beginning=begins[tp], committed=done.offset if done is not None else None
        )
    return dict(lag)


async def oldest_unconsumed(kafka: Kafka, group: str, topics: Iterable[str]) -> dict[str, int]:
    """See :func:`services.platform.kafka.oldest_unconsumed`."""
    return await platform_kafka.oldest_unconsumed(kafka.admin, kafka.consumer, group, topics)
