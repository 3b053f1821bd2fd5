"""The backlogs behind submission's API, read in the background and kept in memory, so that
deciding whether to admit a write (:mod:`services.submission.admission`) costs no query.

Every ``interval`` seconds: the outbox's pending rows and the age of the oldest (one query
through ``outbox_pending``, and the outbox's highest id, to tell how fast it drains), and, per
topic of the pipeline behind a write (``submission.critiques``, then ``tracking.cases`` with the
agencies' answers) and consumer group downstream on it, the group's committed offsets against
the partitions' end offsets (an admin client and a consumer of no group: nothing is committed),
and how long ago the oldest event it has not consumed reached Kafka (from when the readings saw
the end offsets pass its committed offset: no record is fetched). A
reading that fails is logged when that starts and stops; a part not read for
``STALE_AFTER_INTERVALS`` intervals (at least ``MIN_STALE_SECONDS``) is left out of the load,
so a watch that cannot see never refuses anything: a database that is away answers 503 by
itself, and a Kafka that is away shows as the outbox growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.events import Topic
from services.platform import db
from services.platform.kafka import unread
from services.platform.outbox import read_backlog
from services.submission.admission import (
    Arrivals,
    Bounds,
    DrainRate,
    Lag,
    Load,
    Outbox,
    Overload,
    overload,
)

log = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS: Final = 2.0
STALE_AFTER_INTERVALS: Final = 10
MIN_STALE_SECONDS: Final = 5.0
KAFKA_RETRY_SECONDS: Final = 5.0
"""How long the lag goes unread after Kafka did not answer."""
PARTITIONS_TTL_SECONDS: Final = 60.0
"""How long the topics' partitions are reused before they are asked again (they may be added)."""

PIPELINE: Final[Mapping[str, Sequence[str]]] = {
    Topic.CRITIQUES: ("tracking", "disclosure"),
    Topic.CASES: ("disclosure",),
}
"""Per topic a write's events pass through on their way to the public record, the consumer
groups downstream on it (the services' own group names): tracking opens the case from the
critique, the agency answers it over gRPC, and disclosure publishes the critique once it has the
answer from ``tracking.cases``."""

GroupTopic = tuple[str, str]
"""A consumer group and a topic it consumes."""

MIN_ARRIVALS_HORIZON_SECONDS: Final = 10.0
"""The end offsets' history is kept at least this long, and twice the lag's age bound."""


class Behind(NamedTuple):
    """One group's progress on one topic, as one reading found it."""

    events: int
    """Events it has yet to consume."""
    consumed: int
    """Events it has consumed (to tell how fast it drains)."""
    oldest_age_seconds: float = 0.0
    """How long ago the oldest of ``events`` reached Kafka, as far as the readings saw."""


@dataclass(frozen=True)
class _Reading:
    at: float
    outbox: Outbox | None = None
    lags: tuple[Lag, ...] = ()


async def _outbox_written(executor: db.Executor) -> int:
    """The outbox's highest id: rows written so far, give or take the ids of rolled-back
    transactions (the primary key's index, read backwards: one page)."""
    written: int = await executor.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    return written


class BacklogWatch:
    """Reads the backlogs while :meth:`watching`; :meth:`overload` decides on the last reading."""

    def __init__(
        self,
        bounds: Bounds,
        *,
        bootstrap_servers: str,
        groups: Mapping[str, Sequence[str]],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self.writes_in_flight = 0
        """Writes admitted and not yet answered."""
        self.watched: tuple[GroupTopic, ...] = tuple(
            (group, topic) for topic, named in groups.items() for group in dict.fromkeys(named)
        )
        """Each (group, topic) whose lag is bounded: ``groups`` names the groups per topic."""
        self._bootstrap = bootstrap_servers
        self._interval = interval
        self._clock = clock
        self._stale_after = max(MIN_STALE_SECONDS, STALE_AFTER_INTERVALS * interval)
        self._outbox: _Reading | None = None
        self._lags: _Reading | None = None
        self._published = DrainRate()
        self._consumed: dict[GroupTopic, DrainRate] = {}
        self._failing: set[str] = set()

    @property
    def lag_checked(self) -> bool:
        return self.bounds.lag_checked and bool(self.watched)

    def load(self) -> Load:
        """The backlogs as last read, without the parts not read lately."""
        now = self._clock()
        fresh = [r for r in (self._outbox, self._lags) if r and now - r.at <= self._stale_after]
        outbox = next((r.outbox for r in fresh if r.outbox is not None), None)
        lags = tuple(lag for r in fresh for lag in r.lags)
        return Load(outbox=outbox, lags=lags, writes_in_flight=self.writes_in_flight)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Count a write in flight while the block runs."""
        self.writes_in_flight += 1
        try:
            yield
        finally:
            self.writes_in_flight -= 1

    def overload(self) -> Overload | None:
        """The bound passed, if any: the write is to be refused."""
        return overload(self.load(), self.bounds)

    @contextlib.asynccontextmanager
    async def watching(self, pool: db.Pool) -> AsyncIterator[None]:
        """Read the backlogs every interval until the block ends (nothing, with no bound)."""
        if not self.bounds.any:
            yield
            return
        topics = list(dict.fromkeys(topic for _, topic in self.watched))
        horizon = max(MIN_ARRIVALS_HORIZON_SECONDS, 2 * self.bounds.consumer_lag_seconds)
        kafka = _Kafka(self._bootstrap, topics, horizon) if self.lag_checked else None
        task = asyncio.create_task(self._run(pool, kafka), name="submission-backlog-watch")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if kafka is not None:
                await kafka.close()

    async def _run(self, pool: db.Pool, kafka: _Kafka | None) -> None:
        kafka_again_at = float("-inf")
        while True:
            readings = [self._read_outbox(pool)] if self.bounds.outbox_checked else []
            lags_read = kafka is not None and self._clock() >= kafka_again_at
            if kafka is not None and lags_read:
                readings.append(self._read_lags(kafka))
            await asyncio.gather(*readings)
            if lags_read and "consumer lag" in self._failing:
                # Kafka away: asked again less often (its client logs every failed connection).
                kafka_again_at = self._clock() + KAFKA_RETRY_SECONDS
            await asyncio.sleep(self._interval)

    def note_outbox(self, *, rows: int, oldest_age_seconds: float, written: int) -> None:
        """Note a reading of the outbox: ``rows`` pending, of ``written`` so far."""
        at = self._clock()
        self._published.add(at, written - rows)
        outbox = Outbox(rows, oldest_age_seconds, self._published.per_second())
        self._outbox = _Reading(at, outbox=outbox)

    def note_lags(self, found: Mapping[GroupTopic, Behind]) -> None:
        """Note a reading of the groups' lag, per (group, topic)."""
        at = self._clock()
        lags = []
        for (group, topic), behind in found.items():
            rate = self._consumed.setdefault((group, topic), DrainRate())
            rate.add(at, behind.consumed)
            lag = Lag(group, topic, behind.events, rate.per_second(), behind.oldest_age_seconds)
            lags.append(lag)
        self._lags = _Reading(at, lags=tuple(lags))

    async def _read_outbox(self, pool: db.Pool) -> None:
        async def read() -> None:
            async with pool.acquire() as connection:
                backlog = await read_backlog(connection)
                written = await _outbox_written(connection)
            self.note_outbox(
                rows=backlog.rows, oldest_age_seconds=backlog.oldest_age_seconds, written=written
            )

        await self._attempt("outbox", read)

    async def _read_lags(self, kafka: _Kafka) -> None:
        async def read() -> None:
            self.note_lags(await kafka.lags(self.watched))

        await self._attempt("consumer lag", read)

    async def _attempt(self, what: str, read: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                await read()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if what not in self._failing:
                log.info(
                    "backlog not read; not shed on until it is",
                    extra={"backlog": what, "error": repr(error)},
                )
                self._failing.add(what)
            return
        if what in self._failing:
            log.info("backlog read again", extra={"backlog": what})
            self._failing.discard(what)

    def warnings(self) -> dict[str, object]:
        """For ``/readyz``: the bound passed while writes are refused (readiness stays true)."""
        found = self.overload()
        if found is None:
            return {}
        shedding: dict[str, object] = {
            "bound": found.bound.value,
            "detail": found.detail,
            "retry_after": found.retry_after,
        }
        if found.group is not None:
            shedding["group"] = found.group
        if found.topic is not None:
            shedding["topic"] = found.topic
        return {"shedding": shedding}


class _Kafka:
    """Downstream groups' progress on the pipeline's topics, from outside them."""

    def __init__(self, bootstrap_servers: str, topics: Sequence[str], horizon: float) -> None:
        self.topics = tuple(topics)
        self._arrivals = Arrivals(horizon)
        timeout_ms = int(READ_TIMEOUT_SECONDS * 1000)
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="submission-backlog",
            request_timeout_ms=timeout_ms,
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="submission-backlog",
            enable_auto_commit=False,
            request_timeout_ms=timeout_ms,
        )
        self._started: set[str] = set()
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._partitions_at = float("-inf")
        self._coordinators: dict[str, int] = {}

    async def _start(self) -> None:
        """Start each client once (again at the next reading if Kafka did not answer)."""
        if "admin" not in self._started:
            await self._admin.start()
            self._started.add("admin")
        if "consumer" not in self._started:
            await self._consumer.start()
            self._started.add("consumer")

    async def _topic_partitions(self) -> dict[str, list[TopicPartition]]:
        """Per topic that exists, its partitions (asked again sooner while one is missing)."""
        stale = time.monotonic() - self._partitions_at > PARTITIONS_TTL_SECONDS
        if stale or len(self._partitions) < len(self.topics):
            described = await self._admin.describe_topics(list(self.topics))
            self._partitions = {
                topic["topic"]: sorted(
                    TopicPartition(topic["topic"], partition["partition"])
                    for partition in topic["partitions"]
                )
                for topic in described
                if not topic["error_code"] and topic["partitions"]
            }
            self._partitions_at = time.monotonic()
        return self._partitions

    async def _committed(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The group's committed offsets on ``partitions`` (those it has committed)."""
        coordinator = self._coordinators.get(group)
        if coordinator is None:
            coordinator = self._coordinators[group] = await self._admin.find_coordinator(group)
        try:
            offsets = await self._admin.list_consumer_group_offsets(
                group, group_coordinator_id=coordinator, partitions=partitions
            )
        except Exception:
            self._coordinators.pop(group, None)  # moved, perhaps: found again next time
            raise
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def _has_members(self, group: str) -> bool:
        coordinator = self._coordinators.get(group)
        [response] = await self._admin.describe_consumer_groups(
            [group], group_coordinator_id=coordinator
        )
        described = response.to_object()["groups"][0]
        return not described["error_code"] and bool(described["members"])

    async def lags(self, watched: Sequence[GroupTopic]) -> dict[GroupTopic, Behind]:
        """Per (group, topic): the events the group has yet to consume on the topic, how many
        it has consumed, and how long ago the oldest it has yet to consume arrived. A group
        that has committed nothing on a topic counts from the beginning there while it has
        members (it is running, and has not finished a batch of the topic yet), and is left out
        otherwise: it is not this deployment's, or has never run (such a name would look behind
        by the whole topic and refuse every write). A topic that does not exist yet is left
        out."""
        await self._start()
        partitions = await self._topic_partitions()
        watched = [(group, topic) for group, topic in watched if topic in partitions]
        if not watched:
            return {}
        every = [tp for topic in partitions for tp in partitions[topic]]
        groups = list(dict.fromkeys(group for group, _ in watched))
        theirs = {
            group: [
                tp
                for watched_group, topic in watched
                if watched_group == group
                for tp in partitions[topic]
            ]
            for group in groups
        }
        # All at once: one round trip's wait, however many groups and topics.
        (ends, begins), committed = await asyncio.gather(
            asyncio.gather(
                self._consumer.end_offsets(every),
                self._consumer.beginning_offsets(every),
            ),
            asyncio.gather(*(self._committed(group, theirs[group]) for group in groups)),
        )
        now = time.monotonic()
        self._arrivals.add(now, {(tp.topic, tp.partition): end for tp, end in ends.items()})
        done_by = dict(zip(groups, committed, strict=True))
        members: dict[str, bool] = {}
        found = {}
        for group, topic in watched:
            done = done_by[group]
            on_topic = partitions[topic]
            if not any(tp in done for tp in on_topic):
                if group not in members:
                    members[group] = await self._has_members(group)
                if not members[group]:
                    continue
            behind = {
                tp: unread(end=ends[tp], beginning=begins[tp], committed=done.get(tp))
                for tp in on_topic
            }
            oldest = max(
                (
                    self._arrivals.age(now, (tp.topic, tp.partition), ends[tp] - count)
                    for tp, count in behind.items()
                    if count
                ),
                default=0.0,
            )
            events = sum(behind.values())
            consumed = sum(ends[tp] for tp in on_topic) - events
            found[group, topic] = Behind(events, consumed, oldest)
        return found

    async def close(self) -> None:
        for stop in (self._consumer.stop, self._admin.close):  # started or not, or half
            with contextlib.suppress(Exception):
                await stop()
