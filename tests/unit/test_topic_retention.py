"""Each topic's retention is chosen on purpose: the record kept for ever, the directory compacted,
dead letters kept until handled; and a topic set otherwise is found out, saying how."""

from __future__ import annotations

from contracts.events import FOREVER, LATEST_PER_KEY, THE_RECORD, UNTIL_HANDLED, Topic
from services.platform.kafka import drift, retention_of, shortfalls, with_dead_letters

BROKER_DEFAULTS = {"cleanup.policy": "delete", "retention.ms": "604800000", "retention.bytes": "-1"}
"""What a topic created without settings gets from Kafka: deleted after seven days."""


def test_no_topic_of_the_system_is_left_to_the_brokers_seven_days() -> None:
    for name in with_dead_letters(Topic):
        policy = retention_of(name)
        assert policy.configs()["retention.ms"] == str(FOREVER), name
        assert policy.configs()["retention.bytes"] == str(FOREVER), name
        assert drift(policy, BROKER_DEFAULTS), name
        assert shortfalls(policy, BROKER_DEFAULTS), name


def test_the_directory_is_compacted_the_streams_and_dead_letters_are_not() -> None:
    assert retention_of(Topic.AGENCIES) is LATEST_PER_KEY
    assert LATEST_PER_KEY.configs()["cleanup.policy"] == "compact"
    for topic in (Topic.CRITIQUES, Topic.CASES, Topic.CHECKPOINTS):
        assert retention_of(topic) is THE_RECORD
    for topic in Topic:
        assert retention_of(f"{topic}.dlq") is UNTIL_HANDLED
    assert UNTIL_HANDLED.configs()["cleanup.policy"] == "delete"


def test_a_topic_set_as_its_policy_has_no_drift_and_no_shortfall() -> None:
    for name in with_dead_letters(Topic):
        policy = retention_of(name)
        assert drift(policy, policy.configs()) == {}
        assert shortfalls(policy, policy.configs()) == []


def test_each_shortfall_says_how_the_topic_may_lose_records() -> None:
    assert shortfalls(THE_RECORD, BROKER_DEFAULTS) == [
        "retention.ms=604800000: records deleted after 7d 0h, the policy keeps them for ever"
    ]
    assert shortfalls(THE_RECORD, {**THE_RECORD.configs(), "retention.bytes": "1073741824"}) == [
        "retention.bytes=1073741824: the oldest records deleted beyond that size"
    ]
    assert shortfalls(THE_RECORD, {**THE_RECORD.configs(), "cleanup.policy": "compact"}) == [
        "cleanup.policy=compact: all but the latest record of each key cleaned away"
    ]
    assert shortfalls(LATEST_PER_KEY, BROKER_DEFAULTS) == [
        "retention.ms=604800000: records deleted after 7d 0h, the policy keeps them for ever",
        "cleanup.policy=delete: not compacted, so the retention deletes whole keys",
    ]
    # Compacted as well as deleted is still compacted; the retention is what falls short.
    assert shortfalls(LATEST_PER_KEY, {**BROKER_DEFAULTS, "cleanup.policy": "compact,delete"}) == [
        "retention.ms=604800000: records deleted after 7d 0h, the policy keeps them for ever"
    ]
    assert "1h 30m" in shortfalls(THE_RECORD, {**BROKER_DEFAULTS, "retention.ms": "5400000"})[0]


def test_drift_names_only_the_settings_that_differ_with_the_value_wanted() -> None:
    assert drift(THE_RECORD, BROKER_DEFAULTS) == {"retention.ms": "-1"}
    assert drift(LATEST_PER_KEY, {}) == LATEST_PER_KEY.configs()
