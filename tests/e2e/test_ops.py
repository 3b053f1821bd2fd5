"""`supervision ops`, run as the operator on duty runs it (a process, with the addresses of the
running services in its environment): the status table, the dead letters and their replay."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.events import CritiqueSubmitted, Topic
from services.platform import deadletters
from services.platform.cloudevents import Envelope, header_map
from services.platform.kafka import ensure_topics, topic_configs
from tests.support.directory import register
from tests.support.engines import ROOT, Engines
from tests.support.journeys import case_of, eventually, submit
from tests.support.kafka import critique_submitted, dead_letter_record, produce, read
from tests.support.prometheus import Scrape, scrape, total
from tests.support.services import Deployment, deployed, wait_ready

CRITIQUES_DLQ = f"{Topic.CRITIQUES}.dlq"
OLDEST_AGE = "supervision_consumer_oldest_unconsumed_age_seconds"
RETENTION = "supervision_topic_retention_seconds"
SEVEN_DAYS = "604800000"


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The services reading their topics' settings back every second (not every minute)."""
    async with deployed(
        engines, "ops", extra_env={"SUPERVISION_KAFKA_RETENTION_CHECK_INTERVAL_SECONDS": "1"}
    ) as running:
        yield running


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def operator_env(deployment: Deployment, engines: Engines, tmp_path: Path) -> dict[str, str]:
    """The environment `make run` gives the services, pointed at this module's deployment."""
    tracking_host, tracking_port = deployment.tracking_address.rsplit(":", 1)
    return {
        "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": engines.kafka_bootstrap,
        "SUPERVISION_SUBMISSION_HTTP_PORT": deployment.submission_url.rsplit(":", 1)[1],
        "SUPERVISION_DISCLOSURE_HTTP_PORT": deployment.disclosure_url.rsplit(":", 1)[1],
        "SUPERVISION_TRACKING_GRPC_HOST": tracking_host,
        "SUPERVISION_TRACKING_GRPC_PORT": tracking_port,
        **{
            f"SUPERVISION_{name.upper()}_DATABASE_URL": url
            for name, url in deployment.database_urls.items()
        },
        "SUPERVISION_RUN_DIR": str(tmp_path / "run"),
    }


async def supervision(env: dict[str, str], *args: str) -> Run:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERVISION_", "OTEL_"))}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.cli", *args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, **env, "COLUMNS": "250"},
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    run = Run(process.returncode or 0, stdout.decode(), stderr.decode())
    # Captured by pytest, and shown when a test fails: the session as the operator saw it.
    print(f"$ supervision {' '.join(args)}  # exit {run.code}\n{run.stdout}{run.stderr}")
    assert "Traceback" not in run.stdout + run.stderr
    return run


def row(run: Run, *cells: str) -> bool:
    """Whether one line of a table has cells beginning with these, in this order."""
    pattern = "│ ".join(re.escape(cell) + "[^│]*" for cell in cells)
    return any(re.search(f"│ {pattern}│", line) for line in run.stdout.splitlines())


def dlq_row(run: Run, letter: ConsumerRecord[bytes, bytes], consumer: str, kind: str) -> bool:
    """Whether `dlq list` shows this dead letter, set aside by ``consumer`` for ``kind``."""
    return any(
        re.search(
            rf"│ {re.escape(Topic.CRITIQUES)}\s*│ {letter.partition}:{letter.offset}\s*│"
            rf".*│ {consumer}\s*│.*│ {kind}\s*│",
            line,
        )
        for line in run.stdout.splitlines()
    )


async def dead_letters(
    bootstrap: str, header: str, value: str, count: int = 1
) -> list[ConsumerRecord[bytes, bytes]]:
    """The dead letters (at least ``count``) whose ``header`` (or ``"key"``) is ``value``, once
    they exist."""

    def matching(records: list[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
        if header == "key":
            return [r for r in records if r.key == value.encode()]
        return [r for r in records if header_map(r.headers).get(header) == value]

    records = await read(
        bootstrap, CRITIQUES_DLQ, until=lambda rs: len(matching(rs)) >= count, timeout=60
    )
    return matching(records)


def of_consumer(
    letters: list[ConsumerRecord[bytes, bytes]], consumer: str
) -> ConsumerRecord[bytes, bytes]:
    return next(r for r in letters if header_map(r.headers)["dlq_consumer"] == consumer)


def envelope_headers(event_id: uuid.UUID, critique_id: uuid.UUID) -> list[tuple[str, bytes]]:
    return Envelope(
        id=event_id,
        type=CritiqueSubmitted.ce_type,
        source="urn:vn:mttq:supervision:submission",
        time=datetime.now(UTC),
        subject=str(critique_id),
    ).headers({})


async def test_status_shows_the_three_services_ready(operator_env: dict[str, str]) -> None:
    status = await supervision(operator_env, "ops", "status")
    assert status.code == 0
    for service in ("submission", "tracking", "disclosure"):
        assert row(status, service, "ready"), service
    assert "unreachable" not in status.stdout
    assert f"{CRITIQUES_DLQ} " in status.stdout  # the dead-letter topics, with their sizes

    # What the operator sees when a source is down: said so, not a traceback.
    elsewhere = {**operator_env, "SUPERVISION_SUBMISSION_HTTP_PORT": "1"}
    down = await supervision(elsewhere, "ops", "status")
    assert down.code == 1
    assert row(down, "submission", "submission /readyz unreachable: ConnectError: All")
    assert row(down, "tracking", "ready")


async def test_a_poison_message_is_listed_with_its_error_kind(
    operator_env: dict[str, str], engines: Engines
) -> None:
    key = f"poison-{uuid.uuid4().hex[:8]}"
    await produce(
        engines.kafka_bootstrap, Topic.CRITIQUES, [(key.encode(), b"\x00\xff not json", [])]
    )
    letters = await dead_letters(engines.kafka_bootstrap, "key", key, count=2)
    for consumer in ("tracking", "disclosure"):
        letter = of_consumer(letters, consumer)
        assert header_map(letter.headers)["dlq_error_kind"] == "envelope"

    listed = await supervision(operator_env, "ops", "dlq", "list", "--limit", "100000")
    assert listed.code == 0
    for consumer in ("tracking", "disclosure"):
        assert dlq_row(listed, of_consumer(letters, consumer), consumer, "envelope")
    assert "ce_specversion is None, expected '1.0'" in listed.stdout

    status = await supervision(operator_env, "ops", "status")
    assert row(status, "tracking", "ready", "0", "0", f"{CRITIQUES_DLQ}: ")


async def test_an_event_still_invalid_when_replayed_is_dead_lettered_again(
    operator_env: dict[str, str], engines: Engines
) -> None:
    bootstrap = engines.kafka_bootstrap
    critique_id, event_id = uuid.uuid4(), uuid.uuid4()
    await produce(
        bootstrap,
        Topic.CRITIQUES,
        [
            (
                str(critique_id).encode(),
                json.dumps({"critique_id": str(critique_id), "title": ""}).encode(),
                envelope_headers(event_id, critique_id),
            )
        ],
    )
    first = await dead_letters(bootstrap, "ce_id", str(event_id), count=2)
    tracking_copy = of_consumer(first, "tracking")
    disclosure_copy = of_consumer(first, "disclosure")
    assert header_map(tracking_copy.headers)["dlq_error_kind"] == "payload"
    position = f"{tracking_copy.partition}:{tracking_copy.offset}"

    replayed = await supervision(
        operator_env, "ops", "dlq", "replay", "--topic", Topic.CRITIQUES, "--offset", position,
        "--yes",
    )  # fmt: skip
    assert replayed.code == 0
    disclosure_position = f"{disclosure_copy.partition}:{disclosure_copy.offset}"
    assert f"replayed {CRITIQUES_DLQ} {position} (with its copies {disclosure_position})" in (
        replayed.stdout
    )
    assert "1 replayed" in replayed.stdout

    # Still invalid: both consumers set it aside again, saying it is a replay.
    ident = f"{CRITIQUES_DLQ}:{position}"
    again = await dead_letters(bootstrap, deadletters.REPLAY_OF, ident, count=2)
    assert {header_map(r.headers)["dlq_consumer"] for r in again} == {"tracking", "disclosure"}
    for letter in again:
        headers = header_map(letter.headers)
        assert headers["ce_id"] == str(event_id)
        assert headers["dlq_error_kind"] == "payload"
        assert letter.key == str(critique_id).encode()
        assert letter.value == tracking_copy.value
        # One set of dlq_* headers: those of the replay's failure, not the first one's too.
        assert [name for name, _ in letter.headers].count("dlq_offset") == 1
    listed = await supervision(operator_env, "ops", "dlq", "list", "--limit", "100000")
    assert f"failed again: replay of {position}" in listed.stdout
    assert dlq_row(listed, of_consumer(again, "tracking"), "tracking", "payload")

    # Replayed once: refused a second time, whichever copy is named, unless --again.
    for named in (position, disclosure_position):
        refused = await supervision(
            operator_env, "ops", "dlq", "replay", "--topic", CRITIQUES_DLQ, "--offset", named,
            "--yes",
        )  # fmt: skip
        assert refused.code == 1
        assert f"Refused {CRITIQUES_DLQ} {named}: already replayed 20" in refused.stderr
        assert "--again" in refused.stderr
    # Each copy marked handled, on Kafka (every operator reads the same queue), replayed there.
    names = {ident, f"{CRITIQUES_DLQ}:{disclosure_position}"}
    marks = await read(
        bootstrap,
        deadletters.HANDLED_TOPIC,
        until=lambda rs: names <= {r.key.decode() for r in rs if r.key},
    )
    handled = [deadletters.Handled.model_validate_json(r.value or b"") for r in marks]
    mine = [m for m in handled if m.dead_letter in names]
    assert {m.ce_id for m in mine} == {str(event_id)}
    assert {m.how for m in mine} == {"replayed"}
    assert {m.replayed_to for m in mine} == {f"{Topic.CRITIQUES}:{landed_at(replayed)}"}


def landed_at(run: Run) -> str:
    """Where `dlq replay` says it published: ``partition:offset``."""
    landed = re.search(rf"→ {re.escape(Topic.CRITIQUES)} (\d+):(\d+)", run.stdout)
    assert landed, run.stdout
    return f"{landed[1]}:{landed[2]}"


async def test_a_dead_letter_marked_handled_leaves_the_queue_and_stays_in_the_topic(
    operator_env: dict[str, str], engines: Engines
) -> None:
    bootstrap = engines.kafka_bootstrap
    key = f"garbage-{uuid.uuid4().hex[:8]}"
    await produce(bootstrap, Topic.CRITIQUES, [(key.encode(), b"\x00\xff not json", [])])
    letters = await dead_letters(bootstrap, "key", key, count=2)
    tracking_copy, disclosure_copy = (of_consumer(letters, c) for c in ("tracking", "disclosure"))
    position = f"{tracking_copy.partition}:{tracking_copy.offset}"
    name = f"{CRITIQUES_DLQ}:{position}"
    dlq = ("--topic", Topic.CRITIQUES)

    inspected = await supervision(
        operator_env, "ops", "dlq", "inspect", *dlq, "--offset", position, "--json"
    )
    assert inspected.code == 0
    whole = json.loads(inspected.stdout)
    assert whole["dead_letter"] == name
    assert (whole["state"], whole["consumer"], whole["error_kind"]) == (
        "waiting",
        "tracking",
        "envelope",
    )
    assert whole["key"] == key
    assert whole["value"] == {"base64": "AP8gbm90IGpzb24="}  # not UTF-8: given as base64
    was = header_map(tracking_copy.headers)
    assert whole["read_from"] == f"{Topic.CRITIQUES}:{was['dlq_partition']}:{was['dlq_offset']}"
    disclosure_name = f"{CRITIQUES_DLQ}:{disclosure_copy.partition}:{disclosure_copy.offset}"
    assert whole["copies"] == [
        {"dead_letter": disclosure_name, "consumer": "disclosure", "state": "waiting"}
    ]
    shown = await supervision(operator_env, "ops", "dlq", "inspect", *dlq, "--offset", position)
    assert shown.code == 0
    assert f"Dead letter {name}" in shown.stdout
    assert "ce_specversion is None" in shown.stdout

    # Settled without a replay: a reason is required.
    unsaid = await supervision(
        operator_env, "ops", "dlq", "mark-handled", *dlq, "--offset", position, "--note", " "
    )
    assert unsaid.code == 2
    assert "Say why with --note" in unsaid.stderr
    marked = await supervision(
        operator_env, "ops", "dlq", "mark-handled", *dlq, "--offset", position,
        "--note", "bytes from a test producer, nothing to apply",
    )  # fmt: skip
    assert marked.code == 0
    assert f"marked handled: {CRITIQUES_DLQ} {position}" in marked.stdout

    # Out of the queue, the other group's copy still in it; still in the topic's history.
    queue = await supervision(operator_env, "ops", "dlq", "list", "--limit", "100000")
    assert not dlq_row(queue, tracking_copy, "tracking", "envelope")
    assert dlq_row(queue, disclosure_copy, "disclosure", "envelope")
    everything = await supervision(
        operator_env, "ops", "dlq", "list", "--handled", "--limit", "100000"
    )
    assert dlq_row(everything, tracking_copy, "tracking", "envelope")
    assert "settled" in everything.stdout
    after = await supervision(
        operator_env, "ops", "dlq", "inspect", *dlq, "--offset", position, "--json"
    )
    mark = json.loads(after.stdout)["handled"]
    assert json.loads(after.stdout)["state"] == "settled"
    assert (mark["note"], mark["by"]) == (
        "bytes from a test producer, nothing to apply",
        getpass.getuser(),
    )
    assert any(r.key == key.encode() for r in await dead_letters(bootstrap, "key", key, count=2))
    again = await supervision(
        operator_env, "ops", "dlq", "mark-handled", *dlq, "--offset", position, "--note", "twice"
    )
    assert again.code == 1
    assert f"Refused {CRITIQUES_DLQ} {position}: already settled" in again.stderr
    refused = await supervision(
        operator_env, "ops", "dlq", "replay", *dlq, "--offset", position, "--yes"
    )
    assert refused.code == 1
    assert "already settled" in refused.stderr
    status = await supervision(operator_env, "ops", "status")
    assert re.search(rf"{re.escape(CRITIQUES_DLQ)}: \d+ waiting \(\d+ handled\)", status.stdout)

    # The marks are a directory: compacted, the latest mark of each letter kept for ever.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        configs = await topic_configs(admin, [deadletters.HANDLED_TOPIC])
    finally:
        await admin.close()
    assert configs[deadletters.HANDLED_TOPIC]["cleanup.policy"][0] == "compact"
    assert configs[deadletters.HANDLED_TOPIC]["retention.ms"][0] == "-1"

    # Put back in the queue, by whoever settled it too soon.
    reopened = await supervision(operator_env, "ops", "dlq", "reopen", *dlq, "--offset", position)
    assert reopened.code == 0
    assert f"back in the queue: {CRITIQUES_DLQ} {position}" in reopened.stdout
    queue = await supervision(operator_env, "ops", "dlq", "list", "--limit", "100000")
    assert dlq_row(queue, tracking_copy, "tracking", "envelope")


async def test_a_dead_letter_replayed_after_the_fix_is_applied_once(
    deployment: Deployment, operator_env: dict[str, str], engines: Engines
) -> None:
    """A valid submission that tracking set aside (its handler kept failing, say, until a fix
    was deployed): once replayed, tracking opens its case; replayed again with --again, the
    inbox keeps it from being applied twice."""
    bootstrap = engines.kafka_bootstrap
    directory = await register(deployment)
    critique_id, event_id = uuid.uuid4(), uuid.uuid4()
    event = critique_submitted(
        directory,
        "Kiến nghị về chiếu sáng công cộng",
        "Lắp đèn đường tại thôn Đông.",
        critique_id=critique_id,
    )
    was_at = 10_000_000 + uuid.uuid4().int % 1_000_000
    letter_record = dead_letter_record(event, event_id, consumer="tracking", was_at=was_at)
    await produce(bootstrap, CRITIQUES_DLQ, [letter_record])
    (letter,) = await dead_letters(bootstrap, "ce_id", str(event_id))
    position = f"{letter.partition}:{letter.offset}"

    listed = await supervision(
        operator_env, "ops", "dlq", "list", "--topic", Topic.CRITIQUES, "--limit", "100000"
    )
    assert dlq_row(listed, letter, "tracking", "handler")
    assert str(event_id) in listed.stdout

    replayed = await supervision(
        operator_env, "ops", "dlq", "replay", "--topic", Topic.CRITIQUES, "--offset", position,
        "--yes",
    )  # fmt: skip
    assert replayed.code == 0
    case = await case_of(deployment, directory, str(critique_id))
    assert case.title == event.title

    # Once more, on purpose: published again, consumed, and still one case.
    twice = await supervision(
        operator_env, "ops", "dlq", "replay", "--topic", Topic.CRITIQUES, "--offset", position,
        "--again", "--yes",
    )  # fmt: skip
    assert twice.code == 0
    partition, offset = landed_at(twice).split(":")
    await _consumed(bootstrap, "tracking", Topic.CRITIQUES, int(partition), int(offset))
    connection = await asyncpg.connect(deployment.database_urls["tracking"])
    try:
        cases = await connection.fetchval(
            "SELECT count(*) FROM cases WHERE critique_id = $1", critique_id
        )
        applied = await connection.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = 'tracking' AND event_id = $1", event_id
        )
    finally:
        await connection.close()
    assert (cases, applied) == (1, 1)


async def _consumed(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    """Wait until ``group`` has committed past ``offset``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def past() -> bool:
            committed = await admin.list_consumer_group_offsets(group)
            done = committed.get(TopicPartition(topic, partition))
            return done is not None and done.offset > offset

        await eventually(past, timeout=60)
    finally:
        await admin.close()


async def test_a_topic_set_to_delete_after_a_week_is_reported_until_a_start_sets_it_back(
    deployment: Deployment, engines: Engines, operator_env: dict[str, str]
) -> None:
    """An operator shortens a topic's retention by hand (or a topic predates its policy): every
    service says so at /readyz, still serving, and `ops status` fails saying how; the next start
    of a service sets the topic back to its policy."""
    topic = Topic.CASES.value
    admin = AIOKafkaAdminClient(bootstrap_servers=engines.kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    configs={"cleanup.policy": "delete", "retention.ms": SEVEN_DAYS},
                )
            ]
        )
        said: dict[str, Any] = {}

        async def warned() -> bool:
            nonlocal said
            async with httpx.AsyncClient(timeout=5) as http:
                answer = await http.get(f"{deployment.submission_url}/readyz")
            said = answer.json()
            assert answer.status_code == 200, said
            return topic in said.get("warnings", {}).get("retention", {})

        await eventually(warned, timeout=20)
        assert said["warnings"] == {
            "retention": {
                topic: [
                    f"retention.ms={SEVEN_DAYS}: records deleted after 7d 0h,"
                    " the policy keeps them for ever"
                ]
            }
        }
        status = await supervision(operator_env, "ops", "status")
        assert status.code == 1
        assert (
            f"Retention shorter than policy: {topic}: retention.ms={SEVEN_DAYS}: records deleted"
            " after 7d 0h, the policy keeps them for ever" in status.stdout
        )
        for service in ("submission", "tracking", "disclosure"):
            assert row(status, service, "ready"), service

        await deployment.restart("disclosure")
        await wait_ready(deployment)
        configs = await topic_configs(admin, [topic])
        assert configs[topic]["retention.ms"] == ("-1", True)
        assert configs[topic]["retention.bytes"] == ("-1", True)
    finally:
        # Whatever happened, the session's other tests find the topic as its policy says.
        await ensure_topics(engines.kafka_bootstrap, [topic], partitions=3, replication_factor=1)
        await admin.close()

    async def cleared() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            return "warnings" not in (await http.get(f"{deployment.submission_url}/readyz")).json()

    await eventually(cleared, timeout=20)
    status = await supervision(operator_env, "ops", "status")
    assert status.code == 0
    assert "Retention: every topic keeps what its policy keeps." in status.stdout


async def produce_to_partitions(bootstrap: str, topic: str, key: str) -> int:
    """A record that is not an event (``key`` as its key) on every partition of ``topic``; how
    many partitions it has."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for partition in partitions:
            await producer.send_and_wait(
                topic, b"not an event", key=key.encode(), partition=partition
            )
    finally:
        await producer.stop()
    return len(partitions)


async def test_a_paused_consumers_oldest_unread_event_is_shown_against_its_retention(
    deployment: Deployment, operator_env: dict[str, str], engines: Engines
) -> None:
    directory = await register(deployment)
    # Disclosure reads a record on every partition first, so that its metric knows them all.
    marker = f"warm-{uuid.uuid4().hex[:8]}"
    partitions = await produce_to_partitions(engines.kafka_bootstrap, Topic.CRITIQUES, marker)
    warmed = await dead_letters(engines.kafka_bootstrap, "key", marker, count=2 * partitions)
    assert {header_map(r.headers)["dlq_consumer"] for r in warmed} == {"tracking", "disclosure"}
    disclosure = deployment.processes["disclosure"].popen
    disclosure.send_signal(signal.SIGUSR1)  # its consumers pause; the API goes on serving
    try:
        await submit(deployment, directory, title="Kiến nghị chờ bên công khai đọc")

        async def behind() -> Run | None:
            status = await supervision(operator_env, "ops", "status")
            return status if "kept for ever" in status.stdout else None

        status = await eventually(behind, timeout=90)
        assert re.search(
            r"submission\.critiques \d+ \(oldest \d+s, kept for ever\)",
            status.stdout,
        ), status.stdout
        assert status.code == 0, "a record kept for ever is never at risk, however far behind"

        # The same from the service itself, for Prometheus: the age against the retention.
        labels = {"messaging_consumer_group_name": "disclosure"}
        critiques = {**labels, "messaging_destination_name": str(Topic.CRITIQUES)}

        async def aged() -> Scrape | None:
            samples = await scrape(deployment.disclosure_url)
            return samples if total(samples, OLDEST_AGE, **critiques) >= 1 else None

        samples = await eventually(aged, timeout=60)
        assert total(samples, RETENTION, messaging_destination_name=str(Topic.CRITIQUES)) == -1

    finally:
        disclosure.send_signal(signal.SIGUSR2)

    async def caught_up() -> bool:
        return "kept for ever" not in (await supervision(operator_env, "ops", "status")).stdout

    await eventually(caught_up, timeout=90)
