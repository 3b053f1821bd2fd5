"""Topics on a real Kafka get the retention their policy names, at creation and at every start:
a topic left with the broker's seven days (as every topic was before) is set back to its policy,
keeping the settings the policy does not name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.events import THE_RECORD, UNTIL_HANDLED, Topic
from services.platform.kafka import (
    ensure_topics,
    read_retention,
    retention_of,
    shortfalls,
    topic_configs,
    with_dead_letters,
)
from tests.support.engines import Engines
from tests.support.kafka import unique_topic

SEVEN_DAYS = "604800000"


@pytest.fixture
async def admin(engines: Engines) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=engines.kafka_bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


def values(configs: dict[str, tuple[str, bool]]) -> dict[str, str]:
    return {key: value for key, (value, _) in configs.items()}


async def test_the_systems_topics_keep_their_policy_on_kafka(
    engines: Engines, admin: AIOKafkaAdminClient
) -> None:
    await ensure_topics(engines.kafka_bootstrap, list(Topic), partitions=3, replication_factor=1)
    names = with_dead_letters(Topic)
    found = await topic_configs(admin, names)
    assert set(found) == set(names)
    for name in names:
        configs = values(found[name])
        for key, wanted in retention_of(name).configs().items():
            assert configs[key] == wanted, (name, key, configs[key])
            assert found[name][key][1], f"{name} {key} is the broker's, not the topic's own"
    assert (await read_retention(admin, names)).shortfalls == {}


async def test_a_topic_left_with_seven_days_is_set_back_keeping_its_other_settings(
    engines: Engines, admin: AIOKafkaAdminClient
) -> None:
    name = unique_topic("retention")
    await admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=1,
                replication_factor=1,
                topic_configs={"retention.ms": SEVEN_DAYS, "segment.ms": "3600000"},
            )
        ]
    )
    before = values((await topic_configs(admin, [name]))[name])
    assert before["retention.ms"] == SEVEN_DAYS
    assert shortfalls(THE_RECORD, before)

    await ensure_topics(
        engines.kafka_bootstrap, [name], partitions=1, replication_factor=1, retention=THE_RECORD
    )

    after = await topic_configs(admin, [name, f"{name}.dlq"])
    assert values(after[name]) | THE_RECORD.configs() == values(after[name])
    assert after[name]["segment.ms"] == ("3600000", True), "a setting outside the policy is kept"
    assert shortfalls(THE_RECORD, values(after[name])) == []
    dlq = values(after[f"{name}.dlq"])
    assert dlq | UNTIL_HANDLED.configs() == dlq
