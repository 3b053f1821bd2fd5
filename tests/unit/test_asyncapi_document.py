from __future__ import annotations

import asyncio
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
import pytest
from aiokafka import ConsumerRecord

from contracts.events import EVENT_TYPES, FOREVER, Topic
from services.platform import deadletters
from services.platform.asyncapi import DEAD_LETTER, HANDLED
from services.platform.cloudevents import source
from services.platform.consumer import EventConsumer, Subscription
from services.platform.deadletters import topic_for as dlq

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "contracts" / "asyncapi.json"
GENERATOR = ROOT / "infra" / "scripts" / "gen_asyncapi.py"
CACHE = Path(os.environ.get("SUPERVISION_CACHE_DIR") or ROOT / ".cache")
OFFICIAL_SCHEMA = CACHE / "npm" / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return loaded


def subscriptions() -> dict[str, Subscription]:
    """The consumers' subscriptions, as the generator builds them."""
    built: dict[str, Subscription] = runpy.run_path(str(GENERATOR))["SUBSCRIPTIONS"]
    return built


def ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def operations(doc: dict[str, Any], action: str, channel: str) -> list[dict[str, Any]]:
    return [
        operation
        for operation in doc["operations"].values()
        if operation["action"] == action and operation["channel"] == ref("channels", channel)
    ]


def test_the_committed_asyncapi_document_matches_the_code(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True)
    assert [p.name for p in tmp_path.iterdir()] == [COMMITTED.name]
    assert COMMITTED.exists(), "run `make asyncapi`"
    assert COMMITTED.read_bytes() == (tmp_path / COMMITTED.name).read_bytes(), (
        f"stale {COMMITTED.relative_to(ROOT)}: run `make asyncapi`"
    )


def test_every_topic_has_a_channel_and_a_dead_letter_channel() -> None:
    channels = document()["channels"]
    assert set(channels) == {
        *(name for topic in Topic for name in (topic.value, dlq(topic))),
        deadletters.HANDLED_TOPIC,
    }
    for topic in Topic:
        assert channels[topic.value]["address"] == topic.value
        assert channels[dlq(topic)]["messages"] == {
            DEAD_LETTER: ref("components", "messages", DEAD_LETTER)
        }


def test_every_channel_states_how_long_kafka_keeps_it_and_nothing_is_left_to_seven_days() -> None:
    channels = document()["channels"]
    for name, channel in channels.items():
        kept = channel["bindings"]["kafka"]["topicConfiguration"]
        assert kept["retention.ms"] == FOREVER, name
        assert kept["retention.bytes"] == FOREVER, name
        assert "Kept:" in channel["description"], name
    compacted = {
        name
        for name, channel in channels.items()
        if channel["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    }
    assert compacted == {Topic.AGENCIES.value, deadletters.HANDLED_TOPIC}


def test_the_operators_marks_on_dead_letters_are_a_channel_with_their_schema() -> None:
    doc = document()
    channel = doc["channels"][deadletters.HANDLED_TOPIC]
    assert channel["messages"] == {HANDLED: ref("components", "messages", HANDLED)}
    message = doc["components"]["messages"][HANDLED]
    assert message["payload"] == ref("components", "schemas", "Handled")
    schema = doc["components"]["schemas"]["Handled"]
    assert {"dead_letter", "message", "by", "at"} <= set(schema["required"])
    assert doc["operations"]["ops.mark_handled"]["channel"] == ref(
        "channels", deadletters.HANDLED_TOPIC
    )


def test_every_event_type_is_a_message_its_topics_owner_sends() -> None:
    doc = document()
    for ce_type, model in EVENT_TYPES.items():
        message = doc["components"]["messages"][ce_type]
        headers = message["headers"]["properties"]
        assert headers["ce_type"]["const"] == ce_type
        assert headers["ce_source"]["const"] == source(model.topic.owner)
        assert message["payload"] == ref("components", "schemas", model.__name__)
        assert message["bindings"]["kafka"]["key"]
        channel = doc["channels"][model.topic.value]
        assert channel["messages"][ce_type] == ref("components", "messages", ce_type)
        (send,) = operations(doc, "send", model.topic.value)
        assert ref("channels", model.topic.value, "messages", ce_type) in send["messages"]
        assert send["summary"].startswith(f"{model.topic.owner} ")


def test_every_handler_of_every_consumer_is_an_operation_its_group_receives() -> None:
    doc = document()
    for service, subscription in subscriptions().items():
        for topic in subscription.topics:
            (receive,) = [
                operation
                for operation in operations(doc, "receive", topic)
                if operation["bindings"]["kafka"]["groupId"]["const"] == subscription.name
            ]
            assert receive["messages"] == [
                ref("channels", topic, "messages", model.ce_type)
                for model in subscription.handlers
                if model.topic == topic
            ], service
            dead_letters = doc["operations"][f"{subscription.name}.dead_letter.{topic}"]
            assert dead_letters["action"] == "send"
            assert dead_letters["channel"] == ref("channels", dlq(topic))


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, bytes]]]] = []

    async def send(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> asyncio.Future[None]:
        self.sent.append((topic, headers))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


async def test_a_dead_letter_carries_the_headers_the_document_names() -> None:
    doc = document()
    producer = RecordingProducer()
    consumer = EventConsumer(
        Subscription(name="documented", topics=(Topic.CASES,), handlers={}),
        pool=cast(Any, None),  # an undecodable record never reaches the database
        producer=cast(Any, producer),
        max_attempts=1,
    )
    original = [("origin", b"elsewhere")]
    record = ConsumerRecord(
        topic=Topic.CASES.value,
        partition=1,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"key",
        value=b"not an event",
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=12,
        headers=original,
    )

    await consumer.handle([record])

    ((topic, headers),) = producer.sent
    assert topic == doc["channels"][dlq(Topic.CASES)]["address"]
    assert headers[: len(original)] == original
    documented = doc["components"]["messages"][DEAD_LETTER]["headers"]
    added = [name for name, _ in headers[len(original) :]]
    assert all(name.startswith(deadletters.HEADER_PREFIX) for name in added)
    assert added == documented["required"]
    assert set(added) == set(documented["properties"])


def test_the_document_is_valid_asyncapi_3() -> None:
    if not OFFICIAL_SCHEMA.exists():
        pytest.skip(f"the AsyncAPI 3.0 JSON Schema is not in {OFFICIAL_SCHEMA}: `make tools`")
    schema = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(map(str, error.instance_path))}: {error.message}"
        for error in jsonschema_rs.validator_for(schema).iter_errors(document())
    ]
    assert not errors, errors
