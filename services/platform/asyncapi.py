"""The event contract as an AsyncAPI 3.0 document, built from the code: every topic of
``contracts.events.Topic`` and its ``.dlq``, every event of ``EVENT_TYPES`` with its payload
schema, CloudEvents headers and Kafka key, who sends it (the topic's owner) and who receives it
(the consumers' subscriptions, given as arguments). ``infra/scripts/gen_asyncapi.py`` writes it
to ``contracts/asyncapi.json`` (``make asyncapi``); a unit test fails when that copy is stale.

Why our own generator rather than FastStream's (``faststream.specification.AsyncAPI``, 0.7.8):
FastStream documents its publishers and subscribers, not topics and events. It makes one channel
per publisher or subscriber, so one topic with several events becomes several channels of the
same address; a subscriber's messages come from its handler's signature (ours take raw batches),
so per-event messages would need a documentation-only broker with one publisher and subscriber
per event; and its message objects carry only a title and a payload (headers and bindings are
"TODO" there), plus a ``correlation_id`` header our events do not have. The CloudEvents headers,
the ``ce_type`` of each message and the Kafka key would all have to be patched into its output
afterwards: more code than building the document directly, and less exact.

Payloads are the models' JSON schemas in pydantic's ``validation`` mode: the consumers read with
``model_validate_json``, so the contract is what a reader accepts (a record that does not match
is dead-lettered as ``payload``), not what our own writers happen to emit. One known gap, from
pydantic: for the cleaned strings of ``contracts.events`` (``Text``, ``ShortText``, ...) the
schema keeps only the length limits, not the no-NUL pattern the validator also enforces
(``serialization`` mode keeps the pattern and drops the lengths).

Anything the code adds that this module cannot describe by itself (a CloudEvents header the
relay sets, a key that is not one payload field, a handler for an event on a topic its consumer
does not read) stops the generator with a message rather than being left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts import events
from contracts.events import (
    CE_SOURCE_PREFIX,
    EVENT_TYPES,
    LATEST_PER_KEY,
    UNTIL_HANDLED,
    Event,
    Retention,
    Topic,
)
from services.platform import cloudevents, consumer, deadletters
from services.platform.cloudevents import CONTENT_TYPE, Envelope
from services.platform.consumer import Subscription
from services.platform.settings import CommonSettings

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
TITLE: Final = "Supervision — events"
DEAD_LETTER: Final = "dead_letter"
HANDLED: Final = "dead_letter_handled"

_CONSTANT_HEADERS: Final = {
    "ce_specversion": "The CloudEvents version.",
    "ce_type": "The event and its major version: names the payload's model.",
    "ce_source": "The service that published the event: the owner of its topic.",
    "content-type": "The body's media type.",
}
"""The CloudEvents headers whose value is the same for every event of one type."""
_TRACE_HEADER = (
    "W3C Trace Context of the request that caused the event, kept in the outbox row and set"
    " again by the relay; absent when nothing was traced."
)
_DEAD_LETTER_HEADERS: Final = {
    deadletters.ERROR_KIND: "Why the consumer set it aside: `envelope`, `unknown_type`,"
    " `unknown_version` or `payload` (it could not be decoded as one of our events), or"
    " `handler` (its handler kept failing).",
    deadletters.ERROR: "The reason in words (at most 4,000 characters).",
    deadletters.CONSUMER: "The consumer group that set it aside.",
    deadletters.TOPIC: "The topic it was read from.",
    deadletters.PARTITION: "Its partition there.",
    deadletters.OFFSET: "Its offset there.",
}
"""The ``dlq_*`` headers ``EventConsumer`` adds to a dead letter (a unit test holds them to it)."""
_NUMBERED: Final = {deadletters.PARTITION, deadletters.OFFSET}


def _doc(thing: object) -> str:
    return inspect.getdoc(thing) or ""


def _key_field(model: type[Event]) -> str:
    """The payload field ``model.key`` returns, found by building one with a marker per field."""
    markers: dict[str, Any] = {name: f"<{name}>" for name in model.model_fields}
    try:
        key = model.model_construct(**markers).key
    except NotImplementedError:
        raise ValueError(f"{model.__name__} has no Kafka key") from None
    for name, marker in markers.items():
        if key == marker:
            return name
    raise ValueError(f"{model.__name__}.key is not one payload field: describe it in {__name__}")


def _headers(model: type[Event], key: dict[str, Any]) -> dict[str, Any]:
    """The headers the outbox relay sets (``Envelope.headers``), for one event type."""
    sample = Envelope(
        id=UUID(int=0),
        type=model.ce_type,
        source=cloudevents.source(model.topic.owner),
        time=datetime(2000, 1, 1, tzinfo=UTC),
        subject="",
    )
    sent = {name: value.decode() for name, value in sample.headers({})}
    per_event = {
        "ce_id": {
            "type": "string",
            "format": "uuid",
            "description": "The event's id: each consumer applies an id once (its inbox).",
        },
        "ce_time": {
            "type": "string",
            "format": "date-time",
            "description": "When the event happened (ISO 8601, with its offset).",
        },
        "ce_subject": {**key, "description": "What the event is about: its Kafka key."},
    }
    unknown = sorted(sent.keys() - per_event.keys() - _CONSTANT_HEADERS.keys())
    if unknown:
        raise ValueError(f"Envelope.headers sets {unknown}: describe them in {__name__}")
    properties = {
        name: per_event.get(name)
        or {"type": "string", "const": sent[name], "description": _CONSTANT_HEADERS[name]}
        for name in sent
    }
    for name in sorted(TraceContextTextMapPropagator().fields):
        properties[name] = {"type": "string", "description": _TRACE_HEADER}
    return {"type": "object", "required": list(sent), "properties": properties}


def _messages(schemas: dict[str, Any], payloads: dict[str, dict[str, str]]) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for ce_type, model in EVENT_TYPES.items():
        field = _key_field(model)
        schema = schemas[payloads[ce_type]["$ref"].rpartition("/")[2]]
        key = {
            **schema["properties"][field],
            "description": f"`{field}` of the payload. {_doc(Event.key)}",
        }
        messages[ce_type] = {
            "name": ce_type,
            "title": model.__name__,
            "description": _doc(model),
            "contentType": CONTENT_TYPE,
            "headers": _headers(model, key),
            "payload": payloads[ce_type],
            "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
    messages[DEAD_LETTER] = {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "description": "A record a consumer could not apply, as it came (key, value and"
        f" headers), with the reason in `{deadletters.HEADER_PREFIX}*` headers.\n\n"
        f"{_doc(consumer)}",
        "headers": {
            "type": "object",
            "description": "The original record's headers, as they came, then these.",
            "required": list(_DEAD_LETTER_HEADERS),
            "properties": {
                name: {
                    "type": "string",
                    **({"pattern": "^[0-9]+$"} if name in _NUMBERED else {}),
                    "description": description,
                }
                for name, description in _DEAD_LETTER_HEADERS.items()
            },
        },
        "payload": {
            "description": "The original record's value, byte for byte: usually one of the"
            " topic's events, but perhaps not JSON at all (which may be why it is here)."
        },
        "bindings": {
            "kafka": {
                "key": {"description": "The original record's key, as it came."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    return messages


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _readers(receivers: Mapping[str, Subscription]) -> dict[Topic, list[str]]:
    """Who reads each topic; refuses a handler its consumer would never be given an event for."""
    readers: dict[Topic, list[str]] = {topic: [] for topic in Topic}
    for service, subscription in receivers.items():
        for name in subscription.topics:
            readers[Topic(name)].append(service)
        for model in subscription.handlers:
            if model.topic not in subscription.topics:
                raise ValueError(
                    f"{service} handles {model.__name__} but does not read {model.topic}"
                )
    return readers


def _channels(readers: dict[Topic, list[str]]) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic, services in readers.items():
        read_by = ", ".join(services) or "no service of ours"
        channels[topic.value] = {
            "address": topic.value,
            "description": f"{_doc(Topic)} Written by {topic.owner} only, through its outbox;"
            f" read by {read_by}. Kept: {topic.retention.why}",
            "messages": {
                ce_type: _ref("components", "messages", ce_type)
                for ce_type, model in EVENT_TYPES.items()
                if model.topic is topic
            },
            "bindings": _retention(topic.retention),
        }
        channels[deadletters.topic_for(topic)] = {
            "address": deadletters.topic_for(topic),
            "description": f"What the consumers of {topic} could not apply, and why. Kept:"
            f" {UNTIL_HANDLED.why}",
            "messages": {DEAD_LETTER: _ref("components", "messages", DEAD_LETTER)},
            "bindings": _retention(UNTIL_HANDLED),
        }
    return channels


def _retention(retention: Retention) -> dict[str, Any]:
    """The channel's Kafka binding: the topic configurations the services create and keep it
    with (``services.platform.kafka.ensure_topics``), and why."""
    configs = retention.configs()
    return {
        "kafka": {
            "topicConfiguration": {
                "cleanup.policy": [configs["cleanup.policy"]],
                "retention.ms": int(configs["retention.ms"]),
                "retention.bytes": int(configs["retention.bytes"]),
            },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _operations(receivers: Mapping[str, Subscription], channels: dict[str, Any]) -> dict[str, Any]:
    operations: dict[str, Any] = {}

    def messages(channel: str, names: list[str]) -> list[dict[str, str]]:
        return [_ref("channels", channel, "messages", name) for name in names]

    for topic in Topic:
        sent = list(channels[topic.value]["messages"])
        if sent:
            operations[f"{topic.owner}.send.{topic}"] = {
                "action": "send",
                "channel": _ref("channels", topic.value),
                "summary": f"{topic.owner} publishes its events to {topic} from its outbox.",
                "messages": messages(topic.value, sent),
            }
    for service, subscription in receivers.items():
        group = {"type": "string", "const": subscription.name}
        for name in subscription.topics:
            topic = Topic(name)
            applied = [model.ce_type for model in subscription.handlers if model.topic is topic]
            operations[f"{subscription.name}.receive.{topic}"] = {
                "action": "receive",
                "channel": _ref("channels", topic.value),
                "summary": f"{service} applies these events of {topic}, each once; it skips the"
                " other known ones and dead-letters what it cannot read.",
                "messages": messages(topic.value, applied),
                "bindings": {"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING_VERSION}},
            }
            operations[f"{subscription.name}.dead_letter.{topic}"] = {
                "action": "send",
                "channel": _ref("channels", deadletters.topic_for(topic)),
                "summary": f"{service} sets aside what it read from {topic} and cannot apply.",
                "messages": messages(deadletters.topic_for(topic), [DEAD_LETTER]),
            }
    return operations


def _handled(
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    """The operators' marks on dead letters: written by ``supervision ops dlq``, read by it."""
    topic = deadletters.HANDLED_TOPIC
    channels[topic] = {
        "address": topic,
        "description": "The dead letters an operator has handled, replayed or settled"
        f" otherwise: `supervision ops dlq` writes and reads it. Kept: {LATEST_PER_KEY.why}",
        "messages": {HANDLED: _ref("components", "messages", HANDLED)},
        "bindings": _retention(LATEST_PER_KEY),
    }
    operations["ops.mark_handled"] = {
        "action": "send",
        "channel": _ref("channels", topic),
        "summary": "`supervision ops dlq replay` and `mark-handled` mark a dead letter handled;"
        " `reopen` takes the mark back with a record without value (a tombstone).",
        "messages": [_ref("channels", topic, "messages", HANDLED)],
    }
    messages[HANDLED] = {
        "name": HANDLED,
        "title": "Dead letter handled",
        "description": _doc(deadletters.Handled),
        "payload": payload,
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The dead letter, `<dlq topic>:<partition>:<offset>`.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _kafka_server() -> dict[str, Any]:
    field = CommonSettings.model_fields["kafka_bootstrap_servers"]
    variable = f"{CommonSettings.model_config.get('env_prefix', '')}KAFKA_BOOTSTRAP_SERVERS"
    return {
        "host": field.default,
        "protocol": "kafka",
        "description": f"The services' default, a local broker; elsewhere set {variable}"
        f" ({str(field.description).rstrip('.')}).",
    }


def document(receivers: Mapping[str, Subscription], *, version: str) -> dict[str, Any]:
    """The AsyncAPI document; ``receivers`` maps each service to its consumer's subscription."""
    models: list[type[BaseModel]] = [*EVENT_TYPES.values(), deadletters.Handled]
    refs, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top["$defs"]
    payloads = {model.ce_type: refs[(model, "validation")] for model in EVENT_TYPES.values()}
    channels = _channels(_readers(receivers))
    messages = _messages(schemas, payloads)
    operations = _operations(receivers, channels)
    _handled(channels, operations, messages, refs[(deadletters.Handled, "validation")])
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": CE_SOURCE_PREFIX,
        "info": {
            "title": TITLE,
            "version": version,
            "description": f"{_doc(events)}\n\n{_doc(cloudevents)}",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {"kafka": _kafka_server()},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
