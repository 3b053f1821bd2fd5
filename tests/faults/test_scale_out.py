"""Scale-out: two instances of every service side by side on the same Kafka and PostgreSQL.

The consumers of each service split the partitions of their group; only one outbox relay per
database publishes (an advisory lock), so no event reaches Kafka twice; the deadline steps that
both trackers' schedulers find due fire once each; and an instance killed mid-way (SIGKILL, one
service at a time, the one holding the relay lock) hands its work over to the other: the
survivor takes the relay lock and all the partitions, and under load nothing is lost, doubled or
left stuck.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any, Final, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from contracts.events import CaseEscalated, CaseOverdue, CheckpointSigned, Topic
from contracts.vocabulary import VIETNAM
from services.platform import outbox
from services.tracking import schedule, store
from services.tracking.domain import SchedulePolicy, Step
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import critique_body
from tests.support.load import Load, assert_nothing_lost
from tests.support.services import SERVICES, Deployment, deployed, wait_ready

GROUPS: Final = {
    # consumer group → the topics it reads (services/*/consumers.py)
    "submission": (Topic.CASES.value, Topic.AGENCIES.value, Topic.DRAFTS.value),
    "tracking": (Topic.CRITIQUES.value,),
    "disclosure": (
        Topic.CRITIQUES.value,
        Topic.CASES.value,
        Topic.AGENCIES.value,
        Topic.DRAFTS.value,
    ),
}
PARTITIONS: Final = 3
T = TypeVar("T")
SCHEDULED_CASES: Final = 60
"""Two steps each: more than one scheduler round takes (100), so both trackers get a share."""


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """Two instances of every service, on one set of databases, Kafka and consumer groups."""
    async with deployed(
        engines,
        "scale-out",
        extra_env={"SUPERVISION_SCHEDULER_INTERVAL_SECONDS": "0.5"},
        instances=2,
    ) as running:
        yield running


# -- what the engines say ------------------------------------------------------------------------


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, what: str
) -> T:
    """Probe until ``done(result)``; fail with the last result after ``timeout`` seconds."""
    result = await probe()
    deadline = time.monotonic() + timeout
    while not done(result):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {result!r} after {timeout}s")
        await asyncio.sleep(0.5)
        result = await probe()
    return result


async def relay_holder(deployment: Deployment, service: str) -> str | None:
    """The instance whose outbox relay holds ``service``'s relay lock (session advisory lock)."""
    key = outbox._RELAY_LOCK
    connection = await asyncpg.connect(deployment.database_urls[service])
    try:
        holder: str | None = await connection.fetchval(
            """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
              AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
            """,
            key >> 32,
            key & 0xFFFF_FFFF,
        )
    finally:
        await connection.close()
    return holder


Assignment = list[dict[str, set[int]]]
"""Per member of a consumer group: topic → the partitions it is assigned."""


async def assignment(bootstrap: str, group: str) -> Assignment:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    described = response.to_object()["groups"][0]
    if described["state"] != "Stable":
        return []
    members: Assignment = []
    for member in described["members"]:
        decoded = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
        shares: dict[str, set[int]] = {}
        for topic, partitions in decoded.assignment:
            shares.setdefault(topic, set()).update(partitions)
        members.append(shares)
    return members


def split_between(members: int) -> Callable[[Assignment], bool]:
    """``members`` members, each with a share of every topic, together all of it, no overlap."""

    def holds(found: Assignment) -> bool:
        if len(found) != members:
            return False
        topics = {topic for member in found for topic in member}
        for topic in topics:
            shares = [member.get(topic, set()) for member in found]
            if not all(shares) or sum(len(share) for share in shares) != PARTITIONS:
                return False
            if set().union(*shares) != set(range(PARTITIONS)):
                return False
        return True

    return holds


async def group_split(engines: Engines, group: str, members: int) -> None:
    found = await eventually(
        lambda: assignment(engines.kafka_bootstrap, group),
        split_between(members),
        60,
        f"group {group} split between {members}",
    )
    assert {topic for member in found for topic in member} == set(GROUPS[group]), found


async def events(bootstrap: str, topic: str, keys: set[str]) -> list[tuple[str, str, str]]:
    """(ce_id, ce_type, key) of every record of ``topic`` with one of ``keys``, from the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    found = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(60):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        key = (record.key or b"").decode()
                        if key in keys:
                            headers = {name: value.decode() for name, value in record.headers}
                            found.append((headers["ce_id"], headers["ce_type"], key))
    finally:
        await consumer.stop()
    return found


def once_each(found: list[tuple[str, str, str]]) -> None:
    twice = {event_id: n for event_id, n in Counter(e[0] for e in found).items() if n > 1}
    assert not twice, f"{len(twice)} events published more than once: {list(twice)[:5]}"


async def rows(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


NOTABLE: Final = (
    "event dead-lettered",
    "a batch failed; applying its events one by one",
    "outbox rows found already published by the previous relay; marked sent",
)


def logged(deployment: Deployment) -> Counter[str]:
    """How often each NOTABLE message appears in the logs of all the instances."""
    seen: Counter[str] = Counter()
    for process in deployment.processes.values():
        for line in process.log_path.read_text(errors="replace").splitlines():
            seen.update(message for message in NOTABLE if f'"{message}"' in line)
    return seen


# -- the tests -------------------------------------------------------------------------------------


async def test_each_group_splits_its_partitions_between_the_two_instances(
    deployment: Deployment, engines: Engines
) -> None:
    assert all(len(deployment.instances(service)) == 2 for service in SERVICES)
    for group in GROUPS:
        await group_split(engines, group, members=2)
    for service in SERVICES:
        assert await relay_holder(deployment, service) in deployment.instances(service)


async def test_both_schedulers_fire_each_due_step_once(
    deployment: Deployment, engines: Engines
) -> None:
    """Many cases fall due at once; both trackers' own scheduler loops fire them (one of the two
    is killed right after they fall due, and comes back): each step fires exactly once."""
    directory = await register(deployment)
    urls = deployment.endpoints("submission")
    headers = {"Authorization": f"Bearer {directory.organisation_token}"}
    critiques = []
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        for n in range(SCHEDULED_CASES):
            reply = await http.post(
                f"{urls[n % len(urls)]}/v1/critiques",
                json=critique_body(directory, title=f"Kiến nghị đến hạn {n}"),
            )
            assert reply.status_code == 201, reply.text
            critiques.append(uuid.UUID(reply.json()["id"]))
    tracking_db = deployment.database_urls["tracking"]

    async def opened() -> int:
        return len(
            await rows(tracking_db, "SELECT id FROM cases WHERE critique_id = ANY($1)", critiques)
        )

    await eventually(opened, lambda n: n == SCHEDULED_CASES, 60, "cases opened")

    # As make_overdue does, but for all the cases at once and leaving the firing to the services.
    yesterday = (schedule.system_clock().astimezone(VIETNAM) - timedelta(days=1)).date()
    steps = [
        step
        for step in SchedulePolicy().steps(
            yesterday, after=datetime.combine(yesterday, clock_time(0), VIETNAM)
        )
        if step.step is not Step.REMINDER
    ]
    connection = await asyncpg.connect(tracking_db)
    try:
        async with connection.transaction():
            cases = [
                row["id"]
                for row in await connection.fetch(
                    "UPDATE cases SET due_date = $2 WHERE critique_id = ANY($1) RETURNING id",
                    critiques,
                    yesterday,
                )
            ]
            await connection.execute(
                "DELETE FROM deadline_steps WHERE case_id = ANY($1) AND fired_at IS NULL", cases
            )
            for case_id in cases:
                await store.plan_steps(connection, case_id, yesterday, steps)
    finally:
        await connection.close()

    async def unfired() -> int:
        return len(
            await rows(
                tracking_db,
                "SELECT 1 FROM deadline_steps WHERE case_id = ANY($1) AND fired_at IS NULL",
                cases,
            )
        )

    # Once the first steps have fired, one tracker is killed (perhaps in the middle of a round,
    # its transaction then rolled back): the other fires the rest.
    await eventually(unfired, lambda n: n < len(cases) * len(steps), 30, "steps not fired")
    victim = deployment.instances("tracking")[1]
    await deployment.kill(victim)
    await eventually(unfired, lambda n: n == 0, 60, "steps not fired")
    await deployment.restart(victim)
    await wait_ready(deployment)
    await asyncio.sleep(2)  # a few more rounds of both schedulers: nothing fires again

    history = await rows(
        tracking_db,
        "SELECT case_id, change, count(*) AS n FROM case_history"
        " WHERE case_id = ANY($1) AND change IN ('overdue', 'escalated')"
        " GROUP BY case_id, change",
        cases,
    )
    assert {(r["case_id"], r["change"]): r["n"] for r in history} == {
        (case_id, change): 1 for case_id in cases for change in ("overdue", "escalated")
    }
    fired = await rows(
        tracking_db,
        "SELECT case_id, count(*) AS n FROM deadline_steps WHERE case_id = ANY($1)"
        " GROUP BY case_id",
        cases,
    )
    assert {r["case_id"]: r["n"] for r in fired} == dict.fromkeys(cases, len(steps))

    # Each step announced once on tracking.cases (after the relay has caught up).
    keys = {str(critique_id) for critique_id in critiques}
    deadline_types = {CaseOverdue.ce_type, CaseEscalated.ce_type}

    async def announced() -> list[tuple[str, str, str]]:
        found = await events(engines.kafka_bootstrap, Topic.CASES.value, keys)
        return [event for event in found if event[1] in deadline_types]

    found = await eventually(
        announced, lambda found: len(found) >= 2 * SCHEDULED_CASES, 60, "deadline events"
    )
    once_each(found)
    assert Counter((key, kind) for _, kind, key in found) == {
        (key, kind): 1 for key in keys for kind in deadline_types
    }
    by_instance = {
        path.stem: sum(line.count('"name":"deadline ') for line in path.read_text().splitlines())
        for path in deployment.traces_dir.glob("tracking*.jsonl")
    }
    print(
        f"deadline steps fired per tracking instance (spans; {victim}'s may be lost): {by_instance}"
    )


async def test_an_instance_of_each_service_killed_under_load_hands_its_work_over(
    deployment: Deployment, engines: Engines, directory: Directory
) -> None:
    load = Load(
        deployment,
        directory,
        submitters=2,
        submission_urls=deployment.endpoints("submission"),
        tracking_addresses=deployment.endpoints("tracking"),
    )
    started = time.monotonic()
    async with load:
        await asyncio.sleep(3)
        for service in SERVICES:
            # The relay lock holder: killing it is what tests the relay's handover.
            victim = await relay_holder(deployment, service) or deployment.instances(service)[0]
            [survivor] = [name for name in deployment.instances(service) if name != victim]
            before = len(load.accepted)
            await deployment.kill(victim)
            print(f"{time.monotonic() - started:5.1f}s killed {victim} ({before} accepted)")
            await eventually(
                lambda service=service: relay_holder(deployment, service),  # type: ignore[misc]
                lambda holder, survivor=survivor: holder == survivor,  # type: ignore[misc]
                30,
                f"{service}'s relay lock taken over by {survivor}",
            )
            await group_split(engines, service, members=1)
            print(f"{time.monotonic() - started:5.1f}s {survivor} took over")
            await deployment.restart(victim)  # the survivor carries the load alone while it starts
            await wait_ready(deployment)
            print(f"{time.monotonic() - started:5.1f}s {victim} ready")
            await group_split(engines, service, members=2)
            print(f"{time.monotonic() - started:5.1f}s {victim} back ({len(load.accepted)})")
    print(f"accepted {len(load.accepted)}, retries {dict(load.retries)}")
    await assert_nothing_lost(load)
    print(f"{time.monotonic() - started:5.1f}s nothing lost")
    seen = logged(deployment)
    print(f"in the services' logs: {seen}")
    assert not seen.get("event dead-lettered"), seen

    # Kafka holds each event once: the relays never published one twice.
    accepted = set(load.accepted)
    for topic in (Topic.CRITIQUES.value, Topic.CASES.value):
        found = await events(engines.kafka_bootstrap, topic, accepted)
        assert {key for _, _, key in found} == accepted, topic
        once_each(found)

    # The transparency log: dense indexes, one checkpoint per size, each announced once.
    disclosure_db = deployment.database_urls["disclosure"]
    [leaves] = await rows(
        disclosure_db, "SELECT count(*) AS n, coalesce(max(index) + 1, 0) AS size FROM log_leaves"
    )
    assert leaves["n"] == leaves["size"]
    origin = deployment.log_verifier_key.split("+")[0]
    stored = await rows(disclosure_db, "SELECT size FROM log_checkpoints ORDER BY size")
    assert stored

    async def announced() -> list[tuple[str, str, str]]:
        return await events(engines.kafka_bootstrap, Topic.CHECKPOINTS.value, {origin})

    signed = await eventually(
        announced, lambda found: len(found) >= len(stored), 30, "checkpoints announced"
    )
    once_each(signed)
    assert all(kind == CheckpointSigned.ce_type for _, kind, _ in signed)
    print(f"{leaves['n']} leaves, {len(stored)} checkpoints, {len(signed)} announced")
