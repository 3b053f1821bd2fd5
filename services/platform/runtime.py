"""The running parts every service has: pool, producer, outbox relay, consumers. Started and
stopped in one place, in the order that loses nothing: consumers stop (committing what they
applied) before the relay, and the producer flushes before the pool closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from faststream.kafka import KafkaBroker

from services.platform import db, metrics, pruning, tokens
from services.platform.consumer import EventConsumer, Subscription
from services.platform.kafka import (
    ensure_topics,
    read_retention,
    with_dead_letters,
)
from services.platform.outbox import OutboxRelay, new_producer, read_backlog
from services.platform.settings import CommonSettings

log = logging.getLogger(__name__)

RELAY_STOP_SECONDS = 10.0
"""How long a stopping service waits for the outbox relay to finish the batch it is sending."""

PAUSE_SIGNAL: Final = signal.SIGUSR1
"""Pauses the process's consumers (for maintenance, or to hold a service's view still): they
finish and commit the batch in hand, then take nothing until ``RESUME_SIGNAL``. The APIs go on
serving, readiness stays true, and the lag grows (``supervision_consumer_lag``)."""
RESUME_SIGNAL: Final = signal.SIGUSR2


def hold_pause_signals() -> None:
    """Until the consumers run (:func:`running` handles the signals then), a pause or resume
    is ignored, rather than ending the process as these signals do by default."""
    for signum in (PAUSE_SIGNAL, RESUME_SIGNAL):
        signal.signal(signum, signal.SIG_IGN)


def _every(switch: Callable[[EventConsumer], None], consumers: Sequence[EventConsumer]) -> None:
    for consumer in consumers:
        switch(consumer)


@dataclass
class Runtime:
    name: str
    pool: asyncpg.Pool[Any]
    producer: AIOKafkaProducer
    broker: KafkaBroker
    kafka_probe: AIOKafkaClient
    """A client of its own for :meth:`check_kafka`, on connections that carry nothing else."""
    retention: RetentionWatch

    async def check_database(self) -> None:
        async with asyncio.timeout(2.0):
            await self.pool.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        """Some broker answers a metadata request (raises when none does).

        Not over the producer's connections: a broker answers the requests of one connection in
        order, and an acks=all produce request waits until every in-sync replica has the
        records; when a follower dies, that is until the cluster drops it from the ISR (seconds).
        A check queued behind such a request timed out, and the services reported themselves not
        ready whenever one broker of three went away, though Kafka was still available."""
        async with asyncio.timeout(2.0):
            await self.kafka_probe.fetch_all_metadata()


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
    retention = RetentionWatch(settings.kafka_bootstrap_servers, with_dead_letters(topics))
    pool = await db.create_pool(
        database_url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size
    )
    producer = new_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    kafka_probe = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id=f"{name}-readiness"
    )
    await kafka_probe.bootstrap()
    watching = asyncio.create_task(
        retention.run(settings.kafka_retention_check_interval_seconds), name=f"{name}-retention"
    )
    relay = OutboxRelay(pool, producer, poll_interval=settings.outbox_poll_interval_seconds)
    relaying = asyncio.create_task(relay.run(), name=f"{name}-outbox-relay")
    pruning_task = asyncio.create_task(
        pruning.run(
            pool,
            outbox_retention=timedelta(seconds=settings.outbox_retention_seconds),
            inbox_retention=timedelta(seconds=settings.inbox_retention_seconds),
            interval=settings.pruning_interval_seconds,
        ),
        name=f"{name}-pruning",
    )
    noting = asyncio.create_task(tokens.keep_noting_uses(pool), name=f"{name}-token-uses")
    # FastStream's "Received" / "Processed" lines of every batch at DEBUG, which is not written:
    # they cost 1-6 % of a consumer's CPU and said nothing the consumers' own lines do not. Its
    # errors keep their level.
    broker = KafkaBroker(
        bootstrap_list(settings.kafka_bootstrap_servers), logger=log, log_level=logging.DEBUG
    )
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
    loop = asyncio.get_running_loop()
    for signum, switch in (
        (PAUSE_SIGNAL, EventConsumer.pause),
        (RESUME_SIGNAL, EventConsumer.resume),
    ):
        loop.add_signal_handler(signum, _every, switch, consumers)
    unobserve = metrics.observe_runtime(
        lambda: read_backlog(pool),
        {consumer.subscription.name: _lookup(consumer) for consumer in consumers},
    )
    unobserve_retention = metrics.observe_retention(lambda: retention.kept_ms)
    try:
        yield Runtime(
            name=name,
            pool=pool,
            producer=producer,
            broker=broker,
            kafka_probe=kafka_probe,
            retention=retention,
        )
    finally:
        for signum in (PAUSE_SIGNAL, RESUME_SIGNAL):
            loop.remove_signal_handler(signum)
        hold_pause_signals()
        unobserve()
        unobserve_retention()
        await broker.stop()
        # The batch in flight is finished: sent and marked sent. Cancelled only if Kafka keeps it
        # waiting; the next relay then marks what reached Kafka before publishing (no duplicates).
        relay.stop()
        try:
            await asyncio.wait_for(relaying, timeout=RELAY_STOP_SECONDS)
        except TimeoutError:
            log.warning("outbox relay did not finish its batch in time; cancelled")
        await producer.stop()
        for task in (watching, pruning_task, noting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await kafka_probe.close()
        await pool.close()


class RetentionWatch:
    """Reads the service's topics' settings back from Kafka now and then, and keeps the topics
    that may delete what their retention policy keeps (``shortfalls``), logging each change.

    Start-up sets every topic to its policy (:func:`ensure_topics`); a topic can still be changed
    by hand afterwards (``kafka-configs --alter``), and the operator is told, at ``/readyz`` and
    in ``supervision ops status``, rather than have the service undo it while running."""

    def __init__(self, bootstrap_servers: str, names: Sequence[str]) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.names = tuple(names)
        self.shortfalls: dict[str, list[str]] = {}
        self.kept_ms: dict[str, int] = {}
        """Each topic's ``retention.ms`` as last read (-1: for ever)."""

    async def check(self) -> dict[str, list[str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        try:
            await admin.start()
            reading = await read_retention(admin, self.names)
        finally:
            await admin.close()
        found = reading.shortfalls
        self.kept_ms = reading.kept_ms
        if found != self.shortfalls:
            if found:
                log.warning(
                    "a topic may delete what its retention policy keeps",
                    extra={"shortfalls": found},
                )
            else:
                log.info("every topic keeps what its retention policy keeps")
        self.shortfalls = found
        return found

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Kafka away: readiness says so; keep the last reading
                log.info("topic settings not read", extra={"error": type(error).__name__})
            await asyncio.sleep(interval)


def bootstrap_list(servers: str) -> list[str]:
    """``host:port,host:port`` as a list. aiokafka splits such a string itself, FastStream takes
    a string for one server only: given a cluster's servers, its consumers could not start."""
    return [server.strip() for server in servers.split(",") if server.strip()]


def _lookup(consumer: EventConsumer) -> metrics.ConsumerLookup:
    def lookup() -> tuple[AIOKafkaConsumer, dict[TopicPartition, metrics.Seen]] | None:
        kafka = consumer.kafka_consumer
        return (kafka, consumer.seen) if kafka is not None else None

    return lookup
