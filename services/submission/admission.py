"""Whether submission takes on more work for the pipeline: pure rules, no I/O.

A write the API accepts is a promise that it becomes public within the pipeline's bound (accept
→ public). Offered more than the pipeline behind the API sustains, accepting everything only
builds a backlog that is published minutes later; past a bound on that backlog, the API refuses
writes instead (``503`` with ``Retry-After``), so that what it does accept is still on time and
the client knows to come back. Two backlogs are watched: submission's own outbox (events written
but not yet on Kafka) and the lag of the consumer groups on every topic of the pipeline behind a
write: tracking's and disclosure's on ``submission.critiques``, and disclosure's on
``tracking.cases``, which carries the agencies' answers a critique waits for before it is public.
Each (group, topic) lag is bounded on its own, in events and in seconds: how long ago the oldest
event the group has not consumed there reached Kafka, which is what a write accepted now will wait
behind on that hop (:class:`Arrivals` tells it from the end offsets read anyway, no record
fetched). :class:`services.submission.backlog.BacklogWatch` reads them; :func:`overload` decides.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

MIN_RETRY_AFTER: Final = 1
MAX_RETRY_AFTER: Final = 30
"""A refusal asks for a wait of 1 to 30 s: the time the backlog takes to drain back under its
bound at the rate it was seen draining, or the longest when it is not draining at all."""


class Bound(StrEnum):
    """Which bound a refused write passed (the label of the metric counting refusals)."""

    OUTBOX_ROWS = "outbox_rows"
    OUTBOX_AGE = "outbox_age"
    CONSUMER_LAG = "consumer_lag"
    CONSUMER_LAG_AGE = "consumer_lag_age"
    WRITES_IN_FLIGHT = "writes_in_flight"


@dataclass(frozen=True)
class Bounds:
    """What the API tolerates behind it; ``0`` is no bound."""

    outbox_rows: int = 0
    outbox_age_seconds: float = 0.0
    consumer_lag: int = 0
    """Events each watched consumer group may be behind on each watched topic."""
    consumer_lag_seconds: float = 0.0
    """How long ago the oldest event each watched group has not consumed on each watched topic
    may have reached Kafka."""
    writes_in_flight: int = 0
    """Writes being handled at once: past it a write would wait for the others inside the
    service (its accept latency, and its accept → public, growing with the queue)."""

    @property
    def outbox_checked(self) -> bool:
        return self.outbox_rows > 0 or self.outbox_age_seconds > 0

    @property
    def lag_checked(self) -> bool:
        return self.consumer_lag > 0 or self.consumer_lag_seconds > 0

    @property
    def any(self) -> bool:
        return self.outbox_checked or self.lag_checked


@dataclass(frozen=True)
class Outbox:
    """Submission's outbox rows not yet on Kafka, as last read."""

    rows: int
    oldest_age_seconds: float
    drain_per_second: float | None = None
    """Rows published per second lately; None before two readings."""


@dataclass(frozen=True)
class Lag:
    """How far one consumer group is behind on one topic, as last read."""

    group: str
    topic: str
    events: int
    drain_per_second: float | None = None
    """Events the group consumed per second lately; None before two readings."""
    oldest_age_seconds: float = 0.0
    """How long ago the oldest of the ``events`` reached Kafka, as far as the watch has seen
    (never more than it is: an event older than the watch's readings counts from the first)."""


@dataclass(frozen=True)
class Load:
    """The backlogs as last read; a part not read lately is left out (never shed on a guess)."""

    outbox: Outbox | None = None
    lags: tuple[Lag, ...] = ()
    writes_in_flight: int = 0
    """Writes being handled now, not counting the one to decide."""


@dataclass(frozen=True)
class Overload:
    """A bound passed: refuse writes, and ask the client to come back in ``retry_after`` s."""

    bound: Bound
    measured: float
    limit: float
    retry_after: int
    group: str | None = None
    """The consumer group behind, for :attr:`Bound.CONSUMER_LAG` and ``CONSUMER_LAG_AGE``."""
    topic: str | None = None
    """The topic it is behind on, likewise."""

    @property
    def detail(self) -> str:
        """The bound passed, for the client and the operator."""
        if self.bound is Bound.OUTBOX_ROWS:
            what = (
                f"{self.measured:.0f} events are waiting to be published (bound {self.limit:.0f})"
            )
        elif self.bound is Bound.OUTBOX_AGE:
            what = (
                f"the oldest event waiting to be published was written {_over(self.measured)} s ago"
                f" (bound {self.limit:g} s)"
            )
        elif self.bound is Bound.CONSUMER_LAG_AGE:
            what = (
                f"the oldest event consumer group {self.group} has not consumed on {self.topic}"
                f" was published {_over(self.measured)} s ago (bound {self.limit:g} s)"
            )
        elif self.bound is Bound.WRITES_IN_FLIGHT:
            what = f"{self.measured:.0f} writes are being handled already (bound {self.limit:.0f})"
        else:
            what = (
                f"consumer group {self.group} is {self.measured:.0f} events behind on"
                f" {self.topic} (bound {self.limit:.0f})"
            )
        return f"{what}. Nothing was stored; retry in {self.retry_after} s."


def _over(seconds: float) -> str:
    """An age for the refusal's words, rounded up to a tenth: one over the bound never reads as
    the bound itself ("10.04 s", refused at 10 s, is "10.1 s", not "10.0 s")."""
    return f"{math.ceil(seconds * 10) / 10:.1f}"


def retry_after(excess: float, drain_per_second: float | None) -> int:
    """Seconds until ``excess`` is drained at ``drain_per_second``, within 1..30 (the longest
    when nothing is seen draining)."""
    if drain_per_second is None or drain_per_second <= 0:
        return MAX_RETRY_AFTER
    wait = math.ceil(excess / drain_per_second)
    return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, wait))


def overload(load: Load, bounds: Bounds) -> Overload | None:
    """The bound ``load`` passes that will take longest to drain, or None: admit the write.

    A backlog exactly at its bound is admitted. The lag bounds hold for each (group, topic)
    apart: a group behind on the answers' topic refuses writes though it keeps up on the
    critiques'. An age (the outbox's, a lag's) is passed by the events older than the bound,
    taken as written evenly over the oldest one's age."""
    passed: list[Overload] = []
    outbox = load.outbox
    if outbox is not None and bounds.outbox_rows and outbox.rows > bounds.outbox_rows:
        wait = retry_after(outbox.rows - bounds.outbox_rows, outbox.drain_per_second)
        passed.append(Overload(Bound.OUTBOX_ROWS, outbox.rows, bounds.outbox_rows, wait))
    if (
        outbox is not None
        and bounds.outbox_age_seconds
        and outbox.rows > 0
        and outbox.oldest_age_seconds > bounds.outbox_age_seconds
    ):
        share = (outbox.oldest_age_seconds - bounds.outbox_age_seconds) / outbox.oldest_age_seconds
        wait = retry_after(outbox.rows * share, outbox.drain_per_second)
        passed.append(
            Overload(Bound.OUTBOX_AGE, outbox.oldest_age_seconds, bounds.outbox_age_seconds, wait)
        )
    for lag in load.lags:
        if (
            bounds.consumer_lag_seconds
            and lag.events > 0
            and lag.oldest_age_seconds > bounds.consumer_lag_seconds
        ):
            share = (lag.oldest_age_seconds - bounds.consumer_lag_seconds) / lag.oldest_age_seconds
            passed.append(
                Overload(
                    Bound.CONSUMER_LAG_AGE,
                    lag.oldest_age_seconds,
                    bounds.consumer_lag_seconds,
                    retry_after(lag.events * share, lag.drain_per_second),
                    group=lag.group,
                    topic=lag.topic,
                )
            )
    if bounds.consumer_lag:
        for lag in load.lags:
            if lag.events > bounds.consumer_lag:
                wait = retry_after(lag.events - bounds.consumer_lag, lag.drain_per_second)
                passed.append(
                    Overload(
                        Bound.CONSUMER_LAG,
                        lag.events,
                        bounds.consumer_lag,
                        wait,
                        group=lag.group,
                        topic=lag.topic,
                    )
                )
    if bounds.writes_in_flight and load.writes_in_flight >= bounds.writes_in_flight:
        # Those in flight finish in well under a second (or the other bounds pass as well).
        passed.append(
            Overload(
                Bound.WRITES_IN_FLIGHT,
                load.writes_in_flight,
                bounds.writes_in_flight,
                MIN_RETRY_AFTER,
            )
        )
    return max(passed, key=lambda found: found.retry_after, default=None)


class DrainRate:
    """How fast a count of work done (events published, offsets committed) grows: over the
    readings of the last ``window`` seconds, so that one slow batch does not swing it."""

    def __init__(self, window: float = 10.0) -> None:
        self._window = window
        self._readings: deque[tuple[float, int]] = deque()

    def add(self, at: float, done: int) -> None:
        """Note that ``done`` units of work were done by time ``at`` (seconds, monotonic)."""
        if self._readings and done < self._readings[-1][1]:
            self._readings.clear()  # counted afresh (a group reset, an outbox emptied): start over
        self._readings.append((at, done))
        while len(self._readings) > 2 and at - self._readings[1][0] >= self._window:
            self._readings.popleft()

    def per_second(self) -> float | None:
        """Units per second over the readings kept; None before two readings apart in time."""
        if len(self._readings) < 2:
            return None
        (first_at, first), (last_at, last) = self._readings[0], self._readings[-1]
        if last_at <= first_at:
            return None
        return (last - first) / (last_at - first_at)


class Arrivals:
    """When each partition's end offset passed each value, as the watch's readings saw it: so
    that the age of a group's oldest unconsumed event, the one at its committed offset, is known
    without fetching it (to within one reading, and never more than it is).

    Only readings that moved an end offset are kept, over ``horizon`` seconds and one before:
    an event older than that counts as old as the oldest kept, which is past any bound shorter
    than ``horizon``."""

    def __init__(self, horizon: float) -> None:
        self._horizon = horizon
        self._ends: dict[tuple[str, int], deque[tuple[float, int]]] = {}

    def add(self, at: float, ends: Mapping[tuple[str, int], int]) -> None:
        """Note the end offsets read at ``at`` (seconds, monotonic), per (topic, partition)."""
        for partition, end in ends.items():
            seen = self._ends.setdefault(partition, deque())
            if seen and end < seen[-1][1]:
                seen.clear()  # the partition recreated: counted afresh
            if not seen or end > seen[-1][1]:
                seen.append((at, end))
            while len(seen) > 2 and at - seen[1][0] >= self._horizon:
                seen.popleft()

    def age(self, at: float, partition: tuple[str, int], start: int) -> float:
        """How long before ``at`` the record at offset ``start`` reached the partition, as far
        as the readings tell (0: not there yet, or nothing read)."""
        for seen_at, end in self._ends.get(partition, ()):
            if end > start:
                return max(0.0, at - seen_at)
        return 0.0
