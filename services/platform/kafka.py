"""Topics: each service declares the topics it writes and reads, with their dead-letter topics;
and how far a consumer group is behind on one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from services.platform import deadletters

log = logging.getLogger(__name__)


def unread(*, end: int, beginning: int, committed: int | None) -> int:
    """A consumer group's lag on one partition: the records from its committed offset to the
    partition's end offset, from the beginning where it has committed nothing (or committed an
    offset retention has since deleted)."""
    start = beginning if committed is None else max(committed, beginning)
    return max(end - start, 0)


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    wait_seconds: float = 60.0,
) -> None:
    """Create the topics and their ``.dlq`` companions if missing, waiting for Kafka to answer."""
    names = sorted({name for topic in topics for name in (topic, deadletters.topic_for(topic))})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if loop.time() > deadline:
                raise
            log.info("waiting for Kafka", extra={"bootstrap_servers": bootstrap_servers})
            await asyncio.sleep(1.0)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            # Another service may create the same topics meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                        )
                        for name in missing
                    ]
                )
    finally:
        await admin.close()
