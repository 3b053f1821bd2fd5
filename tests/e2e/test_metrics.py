"""Metrics for operators, scraped as Prometheus scrapes them: ``/metrics`` on the HTTP services
and tracking's own listener. Requests and gRPC calls are counted per route template and method,
consumer lag is reported per group and partition, dead letters are counted, tracking counts its
open cases per level, and the outbox backlog shows a Kafka outage: it rises while Kafka is down
and falls back to nothing once Kafka is back, with every critique delivered.

The outage runs on a Kafka broker of this module's own, which the test stops and starts again
(same data directory, same ports); everything else runs on the session's engines."""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.events import Level, Topic
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform import metrics
from tests.support import kafka
from tests.support.directory import register
from tests.support.engines import Engines, OwnKafka, free_port
from tests.support.journeys import agency_metadata, case_of, eventually, submit
from tests.support.prometheus import Scrape, scrape, total
from tests.support.services import Deployment, start_services, wait_ready

# The names Prometheus sees (OpenTelemetry's, with dots as underscores and the unit appended).
HTTP_REQUESTS = "http_server_request_duration_seconds_count"
RPC_CALLS = "rpc_server_call_duration_seconds_count"
LAG = "supervision_consumer_lag"
DEAD_LETTERS = "supervision_consumer_dead_letters_total"
BACKLOG = "supervision_outbox_backlog"
OUTBOX_AGE = "supervision_outbox_age_seconds"
CASES_OPEN = "supervision_cases_open"
CASES_OVERDUE = "supervision_cases_overdue"

AGENCY_SERVICE = "supervision.agency.v1.AgencyService"


def label_values(samples: Scrape, name: str, label: str) -> set[str]:
    return {s.labels[label] for s in samples.get(name, []) if label in s.labels}


# With the session's Kafka.


async def test_http_requests_are_measured_per_route_template_not_per_path(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    before = await scrape(deployment.submission_url)
    critique_id = await submit(deployment, directory)
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        for _ in range(3):
            missing = await http.get(f"/v1/records/{uuid.uuid4()}")
            assert missing.status_code == 404
        await http.get("/healthz")
    after = await scrape(deployment.submission_url)
    posted = {
        "http_route": "/v1/critiques",
        "http_request_method": "POST",
        "http_response_status_code": "201",
    }
    assert total(after, HTTP_REQUESTS, **posted) == total(before, HTTP_REQUESTS, **posted) + 1
    assert total(after, "http_server_request_duration_seconds_sum", **posted) > 0
    infinite = {**posted, "le": "+Inf"}
    assert total(after, "http_server_request_duration_seconds_bucket", **infinite) == total(
        after, HTTP_REQUESTS, **posted
    )

    disclosure = await scrape(deployment.disclosure_url)
    assert (
        total(
            disclosure,
            HTTP_REQUESTS,
            http_route="/v1/records/{critique_id}",
            http_response_status_code="404",
        )
        >= 3
    )
    for samples in (after, disclosure):
        routes = label_values(samples, HTTP_REQUESTS, "http_route")
        assert routes, "no request was measured"
        assert not any(critique_id in route or route.count("-") >= 4 for route in routes), routes
        # Probes and scrapes are left out, as they are of the traces.
        assert not routes & {"/healthz", "/readyz", "/metrics"}
    # The process's resource is there for joins: target_info{service_name=...}.
    assert total(after, "target_info", service_name="submission") == 1
    assert total(disclosure, "target_info", service_name="disclosure") == 1


async def test_grpc_calls_are_measured_per_method_and_status(deployment: Deployment) -> None:
    directory = await register(deployment)
    before = await scrape(deployment.tracking_metrics_url)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        for _ in range(2):
            await agency.ListCases(pb.ListCasesRequest(), metadata=agency_metadata(directory))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.ListCases(pb.ListCasesRequest())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(deployment.tracking_metrics_url)
    method = f"{AGENCY_SERVICE}/ListCases"
    for status, calls in (("OK", 2), ("UNAUTHENTICATED", 1)):
        labels = {"rpc_method": method, "rpc_response_status_code": status}
        assert total(after, RPC_CALLS, **labels) == total(before, RPC_CALLS, **labels) + calls
    assert label_values(after, RPC_CALLS, "rpc_system_name") == {"grpc"}
    assert total(after, "target_info", service_name="tracking") == 1


async def test_consumer_lag_is_reported_per_group_and_partition(deployment: Deployment) -> None:
    groups = {
        deployment.submission_url: ("submission", {Topic.AGENCIES, Topic.DRAFTS, Topic.CASES}),
        deployment.tracking_metrics_url: ("tracking", {Topic.CRITIQUES}),
        deployment.disclosure_url: (
            "disclosure",
            {Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS},
        ),
    }
    for url, (group, topics) in groups.items():
        expected = {(str(topic), str(partition)) for topic in topics for partition in range(3)}

        async def caught_up(
            url: str = url, group: str = group, expected: set[tuple[str, str]] = expected
        ) -> dict[tuple[str, str], float] | None:
            lags = {
                (
                    s.labels["messaging_destination_name"],
                    s.labels["messaging_destination_partition_id"],
                ): s.value
                for s in (await scrape(url)).get(LAG, [])
                if s.labels["messaging_consumer_group_name"] == group
            }
            # Every partition is assigned, and nothing is left to read once the journeys are in.
            return lags if set(lags) == expected and not any(lags.values()) else None

        assert await eventually(caught_up, timeout=60)


async def test_lag_is_the_log_end_offset_minus_the_committed_offset(engines: Engines) -> None:
    """What the gauge computes, on a consumer whose position the test controls."""
    topic = kafka.unique_topic("metrics-lag")
    await kafka.create_topics(engines.kafka_bootstrap, topic)
    await kafka.produce(
        engines.kafka_bootstrap, topic, [(f"k{n}".encode(), b"x", []) for n in range(12)]
    )
    group = f"metrics-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=engines.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, n) for n in range(3)]
        consumer.assign(partitions)

        def lags(readings: list[metrics.PartitionLag]) -> dict[int, int]:
            assert {(r.group, r.topic) for r in readings} == {(group, topic)}
            return {r.partition: r.lag for r in readings}

        ends = await consumer.end_offsets(partitions)
        seen: dict[TopicPartition, metrics.Seen] = {}
        assert lags(await metrics.read_lag({group: lambda: (consumer, seen)})) == {
            tp.partition: ends[tp] for tp in partitions
        }  # nothing committed yet: everything from the beginning
        await consumer.commit({partitions[0]: ends[partitions[0]], partitions[1]: 1})
        written = int(time.time() * 1000) - 90_000
        seen[partitions[1]] = metrics.Seen(1, written, exact=True)  # its batch in hand
        readings = await metrics.read_lag({group: lambda: (consumer, seen)})
        assert lags(readings) == {0: 0, 1: ends[partitions[1]] - 1, 2: ends[partitions[2]]}
        ages = {r.partition: r.oldest_age_seconds for r in readings}
        assert ages[0] == 0  # caught up
        assert ages[1] is not None
        assert 90 <= ages[1] < 120
        assert ages[2] is None  # behind, and nothing seen of it: unknown, not made up
        assert await metrics.read_lag({group: lambda: None}) == []
    finally:
        await consumer.stop()


async def test_poison_messages_are_counted_as_dead_letters(
    deployment: Deployment, engines: Engines
) -> None:
    labels = {
        "messaging_consumer_group_name": "tracking",
        "messaging_destination_name": str(Topic.CRITIQUES),
        "error_type": "envelope",
    }
    before = total(await scrape(deployment.tracking_metrics_url), DEAD_LETTERS, **labels)
    disclosure_before = total(await scrape(deployment.disclosure_url), DEAD_LETTERS)
    await kafka.produce(
        engines.kafka_bootstrap,
        str(Topic.CRITIQUES),
        [(b"poison", b"\x00 not an event \xff", []), (b"poison", b"{}", [("ce_id", b"?")])],
    )

    async def counted() -> bool:
        samples = await scrape(deployment.tracking_metrics_url)
        return total(samples, DEAD_LETTERS, **labels) == before + 2

    await eventually(counted, timeout=60)

    async def counted_by_disclosure() -> bool:
        samples = await scrape(deployment.disclosure_url)
        return total(samples, DEAD_LETTERS) == disclosure_before + 2

    await eventually(counted_by_disclosure, timeout=60)


async def test_tracking_counts_open_cases_per_level(deployment: Deployment) -> None:
    directory = await register(deployment)  # a commune organisation
    before = await scrape(deployment.tracking_metrics_url)
    assert label_values(before, CASES_OPEN, "supervision_organisation_level") == {
        level.value for level in Level
    }
    assert label_values(before, CASES_OVERDUE, "supervision_organisation_level") == {
        level.value for level in Level
    }
    commune = {"supervision_organisation_level": Level.COMMUNE.value}
    opened = total(before, CASES_OPEN, **commune)
    critique_ids = [await submit(deployment, directory) for _ in range(2)]
    for critique_id in critique_ids:
        await case_of(deployment, directory, critique_id)

    async def counted() -> Scrape | None:
        samples = await scrape(deployment.tracking_metrics_url)
        return samples if total(samples, CASES_OPEN, **commune) == opened + 2 else None

    after = await eventually(counted, timeout=30)  # readings are reused for up to 5 s
    assert total(after, CASES_OVERDUE, **commune) == total(before, CASES_OVERDUE, **commune)


# With a Kafka that goes away.


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[OwnKafka]:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="supervision-metrics-"))
        stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
        broker = OwnKafka(port=free_port(), controller_port=free_port(), workdir=workdir)
        broker.start()
        stack.callback(broker.stop)
        yield broker


@pytest.fixture(scope="module")
async def on_own_kafka(engines: Engines, own_kafka: OwnKafka) -> AsyncIterator[Deployment]:
    urls = {
        name: await engines.create_database(f"metrics_{name}")
        for name in ("submission", "tracking", "disclosure")
    }
    with ExitStack() as stack:
        running = start_services(
            stack,
            engines,
            urls,
            own_kafka.workdir / "services",
            kafka_bootstrap=own_kafka.bootstrap,
        )
        await wait_ready(running)
        yield running


async def test_the_outbox_backlog_rises_while_kafka_is_down_and_drains_when_it_is_back(
    on_own_kafka: Deployment, own_kafka: OwnKafka
) -> None:
    deployment = on_own_kafka
    directory = await register(deployment)

    async def backlog() -> tuple[float, float]:
        samples = await scrape(deployment.submission_url)
        assert len(samples[BACKLOG]) == 1, samples.get(BACKLOG)
        return total(samples, BACKLOG), total(samples, OUTBOX_AGE)

    async def drained() -> bool:
        return await backlog() == (0, 0)

    await eventually(drained, timeout=30)

    started = time.monotonic()
    own_kafka.stop()
    stopped = time.monotonic()
    critique_ids = [await submit(deployment, directory) for _ in range(3)]
    timings = {"kafka stop": stopped - started}

    async def risen() -> tuple[float, float] | None:
        pending, age = await backlog()
        return (pending, age) if pending >= 3 and age > 0 else None

    pending, age = await eventually(risen, timeout=30)
    timings["backlog seen"] = time.monotonic() - stopped
    assert pending == 3  # nothing else was waiting: the directory's events had gone out

    async def older() -> bool:  # the age grows while the rows wait (readings live 5 s)
        pending_now, age_now = await backlog()
        return pending_now == 3 and age_now > age

    await eventually(older, timeout=15)

    restarted = time.monotonic()
    own_kafka.start()
    timings["kafka start"] = time.monotonic() - restarted
    await eventually(drained, timeout=120)
    timings["drained after start"] = time.monotonic() - restarted
    for critique_id in critique_ids:
        await case_of(deployment, directory, critique_id)
    timings["cases opened after start"] = time.monotonic() - restarted
    print("outage timings (s):", {name: round(value, 1) for name, value in timings.items()})
