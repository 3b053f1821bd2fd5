"""A three-node Kafka cluster (KRaft, replication factor 3, min.insync.replicas 2) losing one
broker at a time under load: first the broker leading most partitions of ``submission.critiques``
is killed (SIGKILL) and started again, then, once every replica is back in sync, another broker
is stopped (SIGTERM) and started again.

While a broker is down the cluster stays available (two replicas are in sync, which acks=all and
min.insync.replicas 2 accept): submissions are taken and disclosed, and every service stays
ready. Afterwards every submission that got a 201 is disclosed exactly once with its answer, and
on the Kafka side every event the outboxes published is in its topic exactly once: no record
lost, none written twice (the producer's idempotence holds across leader changes, and no relay
re-sent a batch), and nothing was dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import ExitStack
from typing import Final

import asyncpg
import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contracts.events import Topic
from tests.support.directory import Directory
from tests.support.engines import Engines, KafkaCluster
from tests.support.load import Load, assert_nothing_lost
from tests.support.services import Deployment, deployed

REPLICATION_FACTOR: Final = 3
MIN_INSYNC_REPLICAS: Final = 2
OUTAGE_SECONDS: Final = 18.0
PAUSE: Final = 0.2
"""Seconds each submitter waits between submissions: steady load, and few enough to check."""
EVENT_TOPICS: Final = tuple(topic.value for topic in Topic)


@pytest.fixture(scope="module")
def cluster(engines: Engines) -> Iterator[KafkaCluster]:
    """Three Kafka nodes of this module's own (the session's single broker is not used)."""
    workdir = engines.workdir / "kafka-cluster"
    workdir.mkdir()
    kafka = KafkaCluster.create(
        workdir, replication_factor=REPLICATION_FACTOR, min_insync_replicas=MIN_INSYNC_REPLICAS
    )
    with ExitStack() as stack:
        stack.callback(kafka.stop)
        kafka.start()
        yield kafka


@pytest.fixture(scope="module")
async def deployment(engines: Engines, cluster: KafkaCluster) -> AsyncIterator[Deployment]:
    """The three services on the cluster, creating their topics with replication factor 3."""
    async with deployed(
        engines,
        "kafka-cluster",
        kafka_bootstrap=cluster.bootstrap,
        extra_env={"SUPERVISION_KAFKA_REPLICATION_FACTOR": str(REPLICATION_FACTOR)},
    ) as running:
        yield running


async def test_topics_are_replicated_three_times_with_two_in_sync(
    cluster: KafkaCluster, deployment: Deployment
) -> None:
    topics = [name for topic in EVENT_TOPICS for name in (topic, f"{topic}.dlq")]
    described = await cluster.describe([*topics, "__consumer_offsets"])
    for topic in described:
        assert topic["error_code"] == 0, topic
        for partition in topic["partitions"]:
            assert len(partition["replicas"]) == REPLICATION_FACTOR, (topic["topic"], partition)
            assert sorted(partition["isr"]) == sorted(partition["replicas"]), partition
    assert {topic["topic"] for topic in described} == {*topics, "__consumer_offsets"}
    assert await min_insync_replicas(cluster, topics) == dict.fromkeys(topics, MIN_INSYNC_REPLICAS)


async def test_losing_one_broker_at_a_time_loses_and_doubles_nothing(
    cluster: KafkaCluster, deployment: Deployment, directory: Directory
) -> None:
    began = time.monotonic()
    async with Load(deployment, directory, pause=PAUSE) as load:
        await asyncio.sleep(5)
        leaders = await cluster.leaders(Topic.CRITIQUES.value)
        first = Counter(leaders.values()).most_common(1)[0][0]
        await outage(cluster, deployment, load, first, signal.SIGKILL)
        second = next(node for node in cluster.nodes if node != first)
        await outage(cluster, deployment, load, second, signal.SIGTERM)
        await asyncio.sleep(3)
    print(
        f"accepted {len(load.accepted)} in {time.monotonic() - began:.0f}s,"
        f" retries {dict(load.retries)}"
    )
    await assert_nothing_lost(load)

    # On the Kafka side: every event published exactly once. The services stop first, so that
    # no new event (a signed checkpoint) lands between reading the outboxes and the topics.
    deployment.stop()
    published = await outbox_events(deployment)
    records = await read_event_ids(cluster, EVENT_TOPICS)
    for topic in EVENT_TOPICS:
        doubled = {event: n for event, n in records[topic].items() if n > 1}
        assert not doubled, f"{topic}: events written more than once: {doubled}"
        assert set(records[topic]) == published[topic], (
            f"{topic}: {len(published[topic] - set(records[topic]))} published events missing,"
            f" {len(set(records[topic]) - published[topic])} records no outbox sent"
        )
    dead = await read_event_ids(cluster, [f"{topic}.dlq" for topic in EVENT_TOPICS])
    assert not any(dead.values()), dead
    print({topic: sum(ids.values()) for topic, ids in records.items()})


async def outage(
    cluster: KafkaCluster, deployment: Deployment, load: Load, node: int, signum: int
) -> None:
    """Take ``node`` down with ``signum`` for a while under load, start it again and wait until
    it has caught up; while it is down the services keep taking submissions and disclosing them."""
    accepted, disclosed = len(load.accepted), await disclosed_count(deployment)
    status = await asyncio.to_thread(cluster.kill, node, signum)
    print(f"node {node} down ({signal.Signals(signum).name}, exit {status})")
    unready = await unready_while(deployment, asyncio.sleep(OUTAGE_SECONDS))
    during = len(load.accepted) - accepted, await disclosed_count(deployment) - disclosed
    restarting = time.monotonic()
    await asyncio.to_thread(cluster.restart, node)
    await cluster.wait_in_sync()
    print(
        f"node {node} back and in sync after {time.monotonic() - restarting:.0f}s;"
        f" while it was down: {during[0]} accepted, {during[1]} disclosed"
    )
    assert during[0] > 0, "no submission was accepted while one broker was down"
    assert during[1] > 0, "nothing was disclosed while one broker was down"
    assert not unready, f"not ready while one broker of three was down: {unready}"


async def unready_while(deployment: Deployment, outage: Awaitable[None]) -> Counter[str]:
    """Every readiness probe of every service that failed while ``outage`` ran, by service and
    failing dependency: losing one broker of three leaves Kafka available, so none should."""
    failed: Counter[str] = Counter()

    async def probe() -> None:
        async with (
            httpx.AsyncClient(timeout=10) as http,
            grpc.aio.insecure_channel(deployment.tracking_address) as channel,
        ):
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                for name, url in (
                    ("submission", deployment.submission_url),
                    ("disclosure", deployment.disclosure_url),
                ):
                    reply = await http.get(f"{url}/readyz")
                    if reply.status_code != 200:
                        failed[f"{name} {reply.status_code} {reply.text[:200]}"] += 1
                checked = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
                if checked.status != health_pb2.HealthCheckResponse.SERVING:
                    failed["tracking NOT_SERVING"] += 1
                await asyncio.sleep(0.5)

    probing = asyncio.create_task(probe())
    try:
        await outage
    finally:
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
    return failed


async def min_insync_replicas(cluster: KafkaCluster, topics: list[str]) -> dict[str, int]:
    """Each topic's effective min.insync.replicas (its own setting or the brokers' default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})
                for topic in topics
            ]
        )
    finally:
        await admin.close()
    found: dict[str, int] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0, resource
            for entry in resource["config_entries"]:
                found[resource["resource_name"]] = int(entry["config_value"])
    return found


async def disclosed_count(deployment: Deployment) -> int:
    connection = await asyncpg.connect(deployment.database_urls["disclosure"])
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM records WHERE published_at IS NOT NULL"
        )
        return count
    finally:
        await connection.close()


async def outbox_events(deployment: Deployment) -> dict[str, set[str]]:
    """topic → the ids of the events the services' outboxes published to it."""
    published: dict[str, set[str]] = {topic: set() for topic in EVENT_TOPICS}
    for url in deployment.database_urls.values():
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT topic, event_id FROM outbox WHERE published_at IS NOT NULL"
            )
        finally:
            await connection.close()
        for row in rows:
            published.setdefault(row["topic"], set()).add(str(row["event_id"]))
    return published


async def read_event_ids(cluster: KafkaCluster, topics: Sequence[str]) -> dict[str, Counter[str]]:
    """topic → how many records of each CloudEvent id (``ce_id``) it holds, read from the
    beginning to its current end with a plain consumer (no group)."""
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in await cluster.describe(list(topics))
        for partition in topic["partitions"]
    ]
    assert {tp.topic for tp in partitions} == set(topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        counts: dict[str, Counter[str]] = {topic: Counter() for topic in topics}
        async with asyncio.timeout(60):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < ends[tp]:
                            headers = dict(record.headers)
                            counts[tp.topic][headers["ce_id"].decode()] += 1
        return counts
    finally:
        await consumer.stop()
