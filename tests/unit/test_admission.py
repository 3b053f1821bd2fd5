"""Whether submission admits a write, given the backlogs behind it (submission.admission)."""

from __future__ import annotations

import pytest

from contracts.events import Topic
from services.submission.admission import (
    MAX_RETRY_AFTER,
    Arrivals,
    Bound,
    Bounds,
    DrainRate,
    Lag,
    Load,
    Outbox,
    overload,
    retry_after,
)
from services.submission.backlog import PIPELINE, BacklogWatch, Behind

CRITIQUES, CASES = Topic.CRITIQUES.value, Topic.CASES.value
BOUNDS = Bounds(outbox_rows=1000, outbox_age_seconds=10, consumer_lag=500)


def test_a_backlog_under_every_bound_is_admitted() -> None:
    load = Load(
        Outbox(999, 9.9, 50.0),
        (Lag("tracking", CRITIQUES, 499, 40.0), Lag("disclosure", CRITIQUES, 0, 40.0)),
    )
    assert overload(load, BOUNDS) is None


def test_a_backlog_exactly_at_its_bound_is_admitted() -> None:
    load = Load(Outbox(1000, 10.0, 50.0), (Lag("tracking", CRITIQUES, 500, 40.0),))
    assert overload(load, BOUNDS) is None


def test_an_outbox_over_its_rows_is_refused_until_the_excess_is_published() -> None:
    refused = overload(Load(Outbox(1200, 1.0, 50.0)), BOUNDS)
    assert refused is not None
    assert refused.bound is Bound.OUTBOX_ROWS
    assert (refused.measured, refused.limit) == (1200, 1000)
    assert refused.retry_after == 4  # 200 rows over, 50 published a second
    assert "1200 events are waiting to be published (bound 1000)" in refused.detail
    assert refused.detail.endswith("Nothing was stored; retry in 4 s.")


def test_an_outbox_older_than_its_bound_is_refused_for_the_rows_past_it() -> None:
    # 100 rows over 20 s: half of them are older than the bound, 10 published a second.
    refused = overload(Load(Outbox(100, 20.0, 10.0)), BOUNDS)
    assert refused is not None
    assert refused.bound is Bound.OUTBOX_AGE
    assert refused.retry_after == 5
    assert "written 20.0 s ago (bound 10 s)" in refused.detail


def test_a_consumer_group_behind_is_refused_and_named() -> None:
    load = Load(
        Outbox(0, 0.0, 0.0),
        (Lag("disclosure", CRITIQUES, 10, 40.0), Lag("tracking", CRITIQUES, 800, 30.0)),
    )
    refused = overload(load, BOUNDS)
    assert refused is not None
    assert (refused.bound, refused.group) == (Bound.CONSUMER_LAG, "tracking")
    assert refused.retry_after == 10  # 300 events over, 30 consumed a second
    assert "consumer group tracking is 800 events behind on submission.critiques" in refused.detail


def test_a_group_behind_on_the_answers_topic_alone_is_refused_and_named() -> None:
    # Disclosure keeps up with the critiques but not with the agencies' answers, which a
    # critique waits for before it is public: each (group, topic) is bounded apart.
    load = Load(
        Outbox(0, 0.0, 0.0),
        (
            Lag("tracking", CRITIQUES, 10, 40.0),
            Lag("disclosure", CRITIQUES, 10, 40.0),
            Lag("disclosure", CASES, 700, 20.0),
        ),
    )
    refused = overload(load, BOUNDS)
    assert refused is not None
    assert (refused.bound, refused.group, refused.topic) == (
        Bound.CONSUMER_LAG,
        "disclosure",
        "tracking.cases",
    )
    assert refused.retry_after == 10  # 200 events over, 20 consumed a second
    assert "consumer group disclosure is 700 events behind on tracking.cases" in refused.detail
    assert "(bound 500)" in refused.detail


def test_a_group_whose_oldest_unconsumed_event_is_older_than_its_bound_is_refused() -> None:
    bounds = Bounds(consumer_lag_seconds=2)
    # 100 events over 4 s: half of them arrived more than 2 s ago, 10 consumed a second.
    late = Lag("disclosure", CASES, 100, 10.0, oldest_age_seconds=4.0)
    refused = overload(Load(lags=(Lag("tracking", CRITIQUES, 5, 10.0, 0.3), late)), bounds)
    assert refused is not None
    assert (refused.bound, refused.group, refused.topic) == (
        Bound.CONSUMER_LAG_AGE,
        "disclosure",
        "tracking.cases",
    )
    assert (refused.measured, refused.limit, refused.retry_after) == (4.0, 2, 5)
    assert (
        "the oldest event consumer group disclosure has not consumed on tracking.cases was"
        " published 4.0 s ago (bound 2 s)"
    ) in refused.detail
    assert bounds.lag_checked
    # At the bound, or with nothing left to consume, it is admitted.
    assert overload(Load(lags=(Lag("disclosure", CASES, 100, 10.0, 2.0),)), bounds) is None
    assert overload(Load(lags=(Lag("disclosure", CASES, 0, 10.0, 60.0),)), bounds) is None
    assert overload(Load(lags=(late,)), Bounds(consumer_lag=500)) is None  # no age bound


def test_arrivals_tell_when_the_record_at_an_offset_reached_kafka() -> None:
    arrivals = Arrivals(horizon=10)
    partition = (CASES, 0)
    assert arrivals.age(5.0, partition, 0) == 0  # nothing read yet
    arrivals.add(100.0, {partition: 40})  # 0..39 there when the watch first looked
    arrivals.add(100.5, {partition: 40})
    arrivals.add(101.0, {partition: 45})  # 40..44 arrived in (100.5, 101]
    arrivals.add(102.0, {partition: 50})
    assert arrivals.age(103.0, partition, 10) == 3  # at least as old as the first reading
    assert arrivals.age(103.0, partition, 40) == 2  # counted from the reading that saw it
    assert arrivals.age(103.0, partition, 44) == 2
    assert arrivals.age(103.0, partition, 45) == 1
    assert arrivals.age(103.0, partition, 50) == 0  # not there yet: nothing unconsumed
    # Readings older than the horizon go, all but one: what is older counts from that one.
    for second in range(103, 130):
        arrivals.add(float(second), {partition: 50 + second})
    assert arrivals.age(130.0, partition, 40) >= 10
    assert arrivals.age(130.0, partition, 50 + 125) == 4
    arrivals.add(131.0, {partition: 3})  # the partition recreated: counted afresh
    assert arrivals.age(132.0, partition, 0) == 1


def test_a_backlog_that_is_not_draining_asks_for_the_longest_wait() -> None:
    stopped = overload(Load(lags=(Lag("tracking", CRITIQUES, 501, 0.0),)), BOUNDS)
    unknown = overload(Load(lags=(Lag("tracking", CRITIQUES, 501, None),)), BOUNDS)
    assert stopped is not None
    assert unknown is not None
    assert stopped.retry_after == unknown.retry_after == MAX_RETRY_AFTER


def test_of_several_bounds_passed_the_slowest_to_drain_is_the_one_answered() -> None:
    load = Load(Outbox(2000, 1.0, 1000.0), (Lag("tracking", CRITIQUES, 600, 10.0),))
    refused = overload(load, BOUNDS)
    assert refused is not None
    assert (refused.bound, refused.retry_after) == (Bound.CONSUMER_LAG, 10)


@pytest.mark.parametrize(
    ("excess", "rate", "wait"),
    [(1, 1000.0, 1), (0.5, 1.0, 1), (90, 10.0, 9), (91, 10.0, 10), (10_000, 1.0, 30)],
)
def test_retry_after_is_the_time_to_drain_within_1_to_30_s(
    excess: float, rate: float, wait: int
) -> None:
    assert retry_after(excess, rate) == wait


def test_a_bound_of_zero_is_no_bound() -> None:
    load = Load(Outbox(10**9, 10**6, 0.0), (Lag("tracking", CRITIQUES, 10**9, 0.0),))
    assert overload(load, Bounds()) is None
    assert not Bounds().any
    assert Bounds(outbox_age_seconds=1).outbox_checked
    assert not Bounds().lag_checked


def test_a_backlog_not_read_is_never_refused() -> None:
    assert overload(Load(), BOUNDS) is None


def test_the_drain_rate_is_taken_over_the_last_window() -> None:
    rate = DrainRate(window=10)
    assert rate.per_second() is None
    rate.add(0.0, 100)
    assert rate.per_second() is None
    rate.add(1.0, 110)
    assert rate.per_second() == 10
    for second in range(2, 30):
        rate.add(float(second), 110 + 50 * (second - 1))  # 50 a second from now on
    assert rate.per_second() == 50


def test_a_count_that_falls_starts_the_drain_rate_afresh() -> None:
    rate = DrainRate()
    rate.add(0.0, 1000)
    rate.add(1.0, 1100)
    rate.add(2.0, 5)  # a consumer group reset, say
    assert rate.per_second() is None
    rate.add(3.0, 25)
    assert rate.per_second() == 20


def test_a_watch_decides_on_its_last_readings_and_forgets_stale_ones() -> None:
    now = [100.0]
    watch = BacklogWatch(
        BOUNDS,
        bootstrap_servers="unused.invalid:9092",
        groups={CRITIQUES: ["tracking"]},
        interval=0.5,
        clock=lambda: now[0],
    )
    assert watch.overload() is None
    assert watch.warnings() == {}
    watch.note_lags({("tracking", CRITIQUES): Behind(400, 1000)})
    now[0] += 1
    watch.note_lags(
        {("tracking", CRITIQUES): Behind(600, 1020)}
    )  # behind by 600, consuming 20 a second
    watch.note_outbox(rows=3, oldest_age_seconds=0.1, written=5000)
    refused = watch.overload()
    assert refused is not None
    assert (refused.bound, refused.group, refused.retry_after) == (
        Bound.CONSUMER_LAG,
        "tracking",
        5,
    )
    assert watch.warnings() == {
        "shedding": {
            "bound": "consumer_lag",
            "group": "tracking",
            "topic": "submission.critiques",
            "retry_after": 5,
            "detail": refused.detail,
        }
    }
    now[0] += 60  # no reading since: the watch no longer knows, and refuses nothing
    assert watch.load() == Load()
    assert watch.overload() is None


def test_a_write_past_the_writes_in_flight_is_refused_for_a_second() -> None:
    bounds = Bounds(writes_in_flight=4)
    assert overload(Load(writes_in_flight=3), bounds) is None
    refused = overload(Load(writes_in_flight=4), bounds)
    assert refused is not None
    assert refused.bound is Bound.WRITES_IN_FLIGHT
    assert refused.retry_after == 1
    assert "4 writes are being handled already (bound 4)" in refused.detail
    assert overload(Load(writes_in_flight=10_000), Bounds()) is None  # 0: no bound


def test_the_watch_counts_the_writes_in_flight_until_they_are_answered() -> None:
    watch = BacklogWatch(
        Bounds(writes_in_flight=2), bootstrap_servers="127.0.0.1:1", groups={}, interval=1.0
    )
    with watch.admitted():
        assert watch.overload() is None
        with watch.admitted():
            refused = watch.overload()
            assert refused is not None
            assert refused.bound is Bound.WRITES_IN_FLIGHT
        assert watch.overload() is None
    with pytest.raises(RuntimeError), watch.admitted():
        raise RuntimeError  # a failed write is no longer in flight either
    assert watch.writes_in_flight == 0


def test_the_watch_reads_every_topic_of_the_pipeline_and_drains_each_apart() -> None:
    now = [100.0]
    watch = BacklogWatch(
        BOUNDS,
        bootstrap_servers="unused.invalid:9092",
        groups=PIPELINE,
        interval=0.5,
        clock=lambda: now[0],
    )
    assert watch.watched == (
        ("tracking", CRITIQUES),
        ("disclosure", CRITIQUES),
        ("disclosure", CASES),
    )
    watch.note_lags(
        {("disclosure", CRITIQUES): Behind(0, 1000), ("disclosure", CASES): Behind(450, 2000)}
    )
    now[0] += 1
    # Disclosure consumes 100 critiques' events a second but only 10 answers' events: the wait
    # asked is the answers' backlog at the answers' rate.
    watch.note_lags(
        {("disclosure", CRITIQUES): Behind(0, 1100), ("disclosure", CASES): Behind(600, 2010)}
    )
    refused = watch.overload()
    assert refused is not None
    assert (refused.group, refused.topic, refused.retry_after) == ("disclosure", CASES, 10)
    assert watch.warnings()["shedding"] == {
        "bound": "consumer_lag",
        "group": "disclosure",
        "topic": "tracking.cases",
        "retry_after": 10,
        "detail": refused.detail,
    }
    watch.bounds = Bounds(consumer_lag_seconds=1)
    watch.note_lags({("disclosure", CASES): Behind(600, 2020, oldest_age_seconds=3.0)})
    refused = watch.overload()
    assert refused is not None
    assert (refused.bound, refused.topic, refused.measured) == (
        Bound.CONSUMER_LAG_AGE,
        CASES,
        3.0,
    )


def test_the_pipeline_watched_by_default_is_the_services_own_groups_and_topics() -> None:
    from services.disclosure import main as disclosure
    from services.submission import main as submission
    from services.tracking import main as tracking

    unused = "postgresql://unused.invalid/unused"
    consumed = {
        subscription.name: set(subscription.topics)
        for subscription in (
            tracking.subscription(tracking.TrackingSettings(tracking_database_url=unused)),
            disclosure.subscription(disclosure.DisclosureSettings(disclosure_database_url=unused)),
        )
    }
    # Every topic between an accepted write and the public record, every group downstream on it
    # (submission's own group reads tracking.cases too, for the organisations, not the public).
    expected = {
        CRITIQUES: [g for g, topics in consumed.items() if CRITIQUES in topics],
        CASES: [g for g, topics in consumed.items() if CASES in topics],
    }
    assert {topic: list(groups) for topic, groups in PIPELINE.items()} == expected
    settings = submission.SubmissionSettings(submission_database_url=unused)
    assert settings.shed_consumer_groups == expected
    assert submission.backlog_watch(settings).watched == (
        ("tracking", CRITIQUES),
        ("disclosure", CRITIQUES),
        ("disclosure", CASES),
    )
