"""Topics: each service declares the topics it writes and reads, with their dead-letter topics;
they are created, and kept, with the retention their policy names (``Topic.retention``); and how
far a consumer group is behind on one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from contracts.events import FOREVER, LATEST_PER_KEY, UNTIL_HANDLED, Retention, Topic
from services.platform import deadletters
from services.platform.durations import spoken

log = logging.getLogger(__name__)


def unread(*, end: int, beginning: int, committed: int | None) -> int:
    """A consumer group's lag on one partition: the records from its committed offset to the
    partition's end offset, from the beginning where it has committed nothing (or committed an
    offset retention has since deleted)."""
    start = beginning if committed is None else max(committed, beginning)
    return max(end - start, 0)


def with_dead_letters(topics: Iterable[str]) -> list[str]:
    """The topics and their ``.dlq`` companions, sorted."""
    return sorted({name for topic in topics for name in (topic, deadletters.topic_for(topic))})


def retention_of(name: str) -> Retention:
    """The policy of a topic of ours, by name (a ``.dlq`` keeps its letters until handled, and
    the operators' marks of what is handled are a directory)."""
    if deadletters.is_dead_letter_topic(name):
        return UNTIL_HANDLED
    if name == deadletters.HANDLED_TOPIC:
        return LATEST_PER_KEY
    return Topic(name).retention


def drift(policy: Retention, configs: Mapping[str, str]) -> dict[str, str]:
    """The settings of a topic, set as ``configs``, that differ from its policy: each with the
    value the policy wants."""
    return {key: wanted for key, wanted in policy.configs().items() if configs.get(key) != wanted}


def _duration(ms: int) -> str:
    return "for ever" if ms == FOREVER else spoken(ms / 1000)


def shortfalls(policy: Retention, configs: Mapping[str, str]) -> list[str]:
    """Each way a topic set as ``configs`` may delete what its policy keeps."""
    found = []
    kept_ms = int(configs.get("retention.ms", FOREVER))
    if kept_ms != FOREVER and (policy.retention_ms == FOREVER or kept_ms < policy.retention_ms):
        found.append(
            f"retention.ms={kept_ms}: records deleted after {_duration(kept_ms)},"
            f" the policy keeps them {_duration(policy.retention_ms)}"
        )
    kept_bytes = int(configs.get("retention.bytes", FOREVER))
    if kept_bytes != FOREVER:
        found.append(f"retention.bytes={kept_bytes}: the oldest records deleted beyond that size")
    policies = set(configs.get("cleanup.policy", "delete").split(","))
    if policy.cleanup_policy == "delete" and "compact" in policies:
        found.append("cleanup.policy=compact: all but the latest record of each key cleaned away")
    if policy.cleanup_policy == "compact" and "compact" not in policies:
        found.append("cleanup.policy=delete: not compacted, so the retention deletes whole keys")
    return found


_DYNAMIC_TOPIC_CONFIG = 1
"""``config_source`` of a setting made on the topic itself (DescribeConfigs v1 and later)."""


async def topic_configs(
    admin: AIOKafkaAdminClient, names: Iterable[str], *, wait_seconds: float = 10.0
) -> dict[str, dict[str, tuple[str, bool]]]:
    """Each topic's settings as Kafka applies them, each with whether it was set on the topic
    itself (rather than inherited from the broker). Raises when Kafka refuses; a topic not known
    yet is asked about again for up to ``wait_seconds`` (a topic just created reaches every
    broker's metadata a moment later)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await _describe(admin, wanted)
        except UnknownTopicOrPartitionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _describe(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, tuple[str, bool]]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for response in responses:
        version = response.API_VERSION
        for error_code, message, _type, name, entries in response.resources:
            if error_code:
                raise for_code(error_code)(f"describing {name}: {message}")
            found[name] = {
                entry[0]: (
                    entry[1],
                    entry[3] == _DYNAMIC_TOPIC_CONFIG if version >= 1 else not entry[3],
                )
                for entry in entries
            }
    return found


async def reconcile(
    admin: AIOKafkaAdminClient, policies: Mapping[str, Retention]
) -> dict[str, dict[str, str]]:
    """Set every topic of ``policies`` whose settings drifted from its policy (or that only
    inherits one from the broker) back to it; what was
    changed, per topic (each setting with the value it had). Settings of a topic that its
    policy does not name (say ``segment.ms``) are kept: Kafka's AlterConfigs replaces a topic's
    whole set, so they are sent again with it."""
    current = await topic_configs(admin, policies)
    changed: dict[str, dict[str, str]] = {}
    resources = []
    for name, configs in current.items():
        values = {key: value for key, (value, _) in configs.items()}
        # Set on the topic itself, even where the broker's default has the same value today:
        # the topic keeps its policy whatever the broker's defaults become.
        inherited = {
            key: value
            for key, value in policies[name].configs().items()
            if not configs.get(key, ("", False))[1]
        }
        wanted = drift(policies[name], values) | inherited
        if not wanted:
            continue
        kept = {key: value for key, (value, own) in configs.items() if own and value is not None}
        resources.append(ConfigResource(ConfigResourceType.TOPIC, name, configs=kept | wanted))
        changed[name] = {key: values.get(key, "") for key in wanted}
    if resources:
        for response in await admin.alter_configs(resources):
            for error_code, message, _type, name in response.resources:
                if error_code:
                    raise for_code(error_code)(f"setting the retention of {name}: {message}")
        await _until_applied(admin, {name: policies[name] for name in changed})
        for name, before in changed.items():
            log.warning(
                "topic settings reconciled with their policy",
                extra={
                    "topic": name,
                    "before": before,
                    "after": policies[name].configs(),
                },
            )
    return changed


async def _until_applied(
    admin: AIOKafkaAdminClient, policies: Mapping[str, Retention], *, wait_seconds: float = 10.0
) -> None:
    """Wait until the broker serves the settings just altered: under KRaft the controller
    answers AlterConfigs once the change is in the metadata log, and a broker applies it a
    moment later, so a DescribeConfigs right after may still read the old values."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        found = await _describe(admin, sorted(policies))
        pending = [
            name
            for name, configs in found.items()
            if any(
                configs.get(key, ("", False)) != (value, True)
                for key, value in policies[name].configs().items()
            )
        ]
        if not pending:
            return
        if loop.time() > deadline:
            raise KafkaError(
                f"Kafka accepted the retention of {', '.join(pending)} but did not apply it"
                f" within {wait_seconds:g} s"
            )
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class RetentionReading:
    """The system's topics' retention as Kafka applies it now."""

    shortfalls: dict[str, list[str]]
    """The topics that may delete what their policy keeps, each with how."""
    kept_ms: dict[str, int]
    """Each topic's ``retention.ms`` (``FOREVER``: -1)."""


async def read_retention(admin: AIOKafkaAdminClient, names: Iterable[str]) -> RetentionReading:
    """How long Kafka keeps each topic of ``names`` (all the system's), against its policy."""
    current = {
        name: {key: value for key, (value, _) in configs.items()}
        for name, configs in (await topic_configs(admin, names)).items()
    }
    return RetentionReading(
        shortfalls={
            name: found
            for name, values in current.items()
            if (found := shortfalls(retention_of(name), values))
        },
        kept_ms={
            name: int(values.get("retention.ms", FOREVER)) for name, values in current.items()
        },
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    wait_seconds: float = 60.0,
    retention: Retention | None = None,
    dead_letters: bool = True,
) -> None:
    """Create the topics and their ``.dlq`` companions if missing, with their retention policy,
    and set back to it any whose settings have drifted; waiting for Kafka to answer.

    ``retention`` is for topics that are not the system's (a benchmark's, a test's); their
    ``.dlq`` keeps its letters until handled all the same. ``dead_letters=False``: a topic no
    consumer of ours reads (the operators' marks), without a ``.dlq``."""
    names = with_dead_letters(topics) if dead_letters else sorted(set(topics))
    policies = {
        name: retention
        if retention is not None and not deadletters.is_dead_letter_topic(name)
        else retention_of(name)
        for name in names
    }
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
                            topic_configs=policies[name].configs(),
                        )
                        for name in missing
                    ]
                )
        await reconcile(admin, policies)
    finally:
        await admin.close()
