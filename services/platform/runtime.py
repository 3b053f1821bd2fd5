"""The running parts every service has: pool, producer, outbox relay, consumers. Started and
stopped in one place, in the order that loses nothing: consumers stop (committing what they
applied) before the relay, and the producer flushes before the pool closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.platform import db, metrics
from services.platform.consumer import EventConsumer, Subscription
from services.platform.kafka import ensure_topics
from services.platform.outbox import OutboxRelay, new_producer
from services.platform.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    name: str
    pool: asyncpg.Pool[Any]
    producer: AIOKafkaProducer
    broker: KafkaBroker

    async def check_database(self) -> None:
        async with asyncio.timeout(2.0):
            await self.pool.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        async with asyncio.timeout(2.0):
            if not await self.producer.client.force_metadata_update():
                raise ConnectionError("Kafka metadata unavailable")


@contextlib.asynccontextmanager
async def running(
    *,
    name: str,
    settings: CommonSettings,
    database_url: str,
    migrations: Path,
    topics: Iterable[str],
    subscriptions: Sequence[Subscription] = (),
) -> AsyncIterator[Runtime]:
    await db.migrate(database_url, component=name, folder=migrations)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        topics,
        partitions=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
    pool = await db.create_pool(
        database_url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size
    )
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    relay = asyncio.create_task(
        OutboxRelay(pool, producer, poll_interval=settings.outbox_poll_interval_seconds).run(),
        name=f"{name}-outbox-relay",
    )
    broker = KafkaBroker(bootstrap_list(settings.kafka_bootstrap_servers), logger=log)
    consumers = [
        EventConsumer(
            subscription,
            pool=pool,
            producer=producer,
            max_attempts=settings.consumer_max_attempts,
        )
        for subscription in subscriptions
    ]
    for consumer in consumers:
        consumer.register(broker)
    await broker.start()
    unobserve = metrics.observe_runtime(
        pool, {consumer.subscription.name: _lookup(consumer) for consumer in consumers}
    )
    try:
        yield Runtime(name=name, pool=pool, producer=producer, broker=broker)
    finally:
        unobserve()
        await broker.stop()
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await producer.stop()
        await pool.close()


def bootstrap_list(servers: str) -> list[str]:
    """``host:port,host:port`` as a list. aiokafka splits such a string itself, FastStream takes
    a string for one server only: given a cluster's servers, its consumers could not start."""
    return [server.strip() for server in servers.split(",") if server.strip()]


def _lookup(consumer: EventConsumer) -> metrics.ConsumerLookup:
    return lambda: consumer.kafka_consumer
