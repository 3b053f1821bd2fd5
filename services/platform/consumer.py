"""Idempotent event consumers: inbox, offsets committed after the database, dead letters.

Each batch of Kafka records is decoded, then applied in one database transaction; the batch's
event ids are recorded in ``inbox`` in that same transaction, with one statement (``ON CONFLICT
DO NOTHING``), and only those recorded for the first time are handled, in order, so an event
delivered twice takes effect once. What the handlers name (the records they touched, say) is then
settled once per batch (:attr:`Subscription.settle`), in the same transaction. The Kafka offsets
are committed only after the transaction commits. A record that is not one of our events, or
whose handler keeps failing, is published to ``<topic>.dlq`` with the reason in its headers
(``deadletters``), and the consumer carries on; a batch that fails is applied again one event at
a time, so that only the failing event is dead-lettered. While the database is unreachable
nothing is dead-lettered: the batch is rewound and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from opentelemetry import trace

from contracts.events import CritiqueEvent, Event
from services.platform import db, deadletters, metrics, telemetry
from services.platform.cloudevents import Envelope, UndecodableEvent, decode, header_map
from services.platform.db import TRANSIENT_ERRORS
from services.platform.outbox import MAX_EVENT_BYTES

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[db.Connection, Envelope, Any], Awaitable[Iterable[Hashable] | None]]
"""Applies one event inside the consumer's transaction; raises to refuse it. What it returns
(if anything) is given to the subscription's :attr:`~Subscription.settle` once the batch's events
are applied."""

Settle = Callable[[db.Connection, Sequence[Hashable]], Awaitable[None]]
"""Finishes a batch in its transaction, given what its handlers returned (in the order first
named, each once): work done once per batch however many of its events asked for it."""


class Inapplicable(Exception):
    """Raised by a handler for an event it can never apply, whatever the retries (one naming an
    agency the consumer's service does not know, say): dead-lettered at once, its reason the
    message, rather than retried ``max_attempts`` times."""


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord[bytes, bytes]
    kind: str
    reason: str


@dataclass(frozen=True)
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope
    event: Event


@dataclass(frozen=True)
class Subscription:
    """What one consumer group reads and how it applies each event type."""

    name: str
    topics: tuple[str, ...]
    handlers: Mapping[type[Event], Handler]
    settle: Settle | None = None
    max_records: int = 200
    retry_delay: float = field(default=0.2)


async def _raw_body(message: StreamMessage[Any]) -> Any:
    """Leave bodies as bytes: decoding is ours to do, so that a bad one can be dead-lettered."""
    return message.body


def _readable(value: bytes | None) -> bytes:
    return b"" if value is None else value.decode("utf-8", "replace").encode()


async def _any_headers(
    records: tuple[ConsumerRecord[bytes, bytes], ...],
    parse: Callable[[Any], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """faststream's own parser decodes every header value as UTF-8 and, on one that is not (or
    is null), drops the whole batch unapplied, its valid events with it, without a word to the
    handler. It is given copies whose header values always decode; the handler still gets the
    records as they came, so that a bad one is dead-lettered with its headers intact."""
    readable = tuple(
        dataclasses.replace(
            record, headers=[(name, _readable(value)) for name, value in record.headers or ()]
        )
        for record in records
    )
    message = await parse(readable)
    message.raw_message = records
    return message


async def prune_applied(executor: db.Executor, *, older_than: datetime, limit: int) -> int:
    """Delete up to ``limit`` inbox ids applied before ``older_than``; return how many.

    A redelivery of a pruned id at its old offset is still dropped: each pruned partition's
    highest offset is kept in ``inbox_pruned``, and a consumer applies a partition in order, so
    everything at or below it was dealt with. One published again at a new offset later than the
    retention (a dead letter replayed with ``--again`` long after another group applied it) is
    applied again: hence a retention far longer than any redelivery (the settings say how long)."""
    deleted: int = await executor.fetchval(
        """
        WITH done AS (
            SELECT consumer, event_id FROM inbox WHERE applied_at < $1
            ORDER BY applied_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), deleted AS (
            DELETE FROM inbox i USING done
            WHERE i.consumer = done.consumer AND i.event_id = done.event_id
            RETURNING i.consumer, i.topic, i.kafka_partition, i.kafka_offset
        ), marked AS (
            INSERT INTO inbox_pruned (consumer, topic, kafka_partition, kafka_offset)
            SELECT consumer, topic, kafka_partition, max(kafka_offset) FROM deleted
            GROUP BY consumer, topic, kafka_partition
            ON CONFLICT (consumer, topic, kafka_partition) DO UPDATE
                SET kafka_offset = greatest(inbox_pruned.kafka_offset, excluded.kafka_offset)
        )
        SELECT count(*) FROM deleted
        """,
        older_than,
        limit,
    )
    return deleted


class EventConsumer:
    def __init__(
        self,
        subscription: Subscription,
        *,
        pool: asyncpg.Pool[Any],
        producer: AIOKafkaProducer,
        max_attempts: int,
    ) -> None:
        self.subscription = subscription
        self._pool = pool
        self._producer = producer
        self._max_attempts = max_attempts
        self._subscriber: BatchSubscriber | None = None
        self._paused = False
        self.seen: dict[TopicPartition, metrics.Seen] = {}
        """Per partition, the first record not consumed yet as this consumer's batches tell
        (for ``supervision.consumer.oldest_unconsumed.age``)."""

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Take no more events until :meth:`resume`: the batch in hand is finished and
        committed, then the group's partitions are fetched no more (the group keeps them, its
        lag grows). Nothing is lost: what is not applied is not committed."""
        self._paused = True
        self._pause_assigned()
        log.warning("consumer paused", extra={"consumer": self.subscription.name})

    def resume(self) -> None:
        self._paused = False
        consumer = self.kafka_consumer
        if consumer is not None:
            consumer.resume(*consumer.paused())
        log.warning("consumer resumed", extra={"consumer": self.subscription.name})

    def _pause_assigned(self) -> None:
        consumer = self.kafka_consumer
        if consumer is not None:
            consumer.pause(*consumer.assignment())

    @property
    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The group's Kafka consumer while the broker runs (for its lag), else None."""
        return self._subscriber.consumer if self._subscriber is not None else None

    def register(self, broker: KafkaBroker) -> None:
        """Subscribe to the topics on ``broker``; offsets are committed by us, after the DB."""
        subscription = self.subscription
        self._subscriber = broker.subscriber(
            *subscription.topics,
            group_id=subscription.name,
            batch=True,
            max_records=subscription.max_records,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_EVENT_BYTES,
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            parser=_any_headers,
            title=f"{subscription.name}",
        )

        @self._subscriber
        async def on_batch(message: KafkaMessage) -> None:
            if self._paused:
                # Fetched before the pause reached these partitions (or assigned to this
                # member since): rewound, to be applied once resumed.
                await message.nack()
                self._pause_assigned()
                return
            records: Sequence[ConsumerRecord[bytes, bytes]] = (
                message.raw_message
                if isinstance(message.raw_message, tuple)
                else (message.raw_message,)
            )
            self._note(records, consumed=False)
            try:
                await self.handle(records)
            except Exception as error:
                # Handler failures are dealt with inside handle(); what escapes is the database
                # or Kafka being unreachable. Rewind so that no later commit skips this batch.
                log.warning(
                    "consumer cannot apply a batch now; it will be retried",
                    extra={"consumer": subscription.name, "error": repr(error)},
                )
                await message.nack()
                await asyncio.sleep(1.0)
                return
            await message.ack()
            self._note(records, consumed=True)

    def _note(self, records: Sequence[ConsumerRecord[bytes, bytes]], *, consumed: bool) -> None:
        """Where the batch leaves each of its partitions: before it is applied, its first record
        is the oldest not consumed (exact); once committed, the next record is, and is younger
        than its last."""
        first: dict[TopicPartition, ConsumerRecord[bytes, bytes]] = {}
        last: dict[TopicPartition, ConsumerRecord[bytes, bytes]] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first.setdefault(tp, record)
            last[tp] = record
        for tp, record in (last if consumed else first).items():
            offset = record.offset + 1 if consumed else record.offset
            self.seen[tp] = metrics.Seen(offset, record.timestamp, exact=not consumed)

    async def handle(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply a batch of records exactly once each; dead-letter what cannot be applied."""
        decoded: list[_Decoded] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                envelope, event = decode(
                    header_map(record.headers), record.value, topic=record.topic
                )
            except UndecodableEvent as error:
                dead.append(DeadLetter(record, error.kind, str(error)))
                continue
            decoded.append(_Decoded(record, envelope, event))
        if decoded:
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    await self._apply(connection, decoded)
            except TRANSIENT_ERRORS:
                raise
            except Exception:
                log.info(
                    "a batch failed; applying its events one by one",
                    extra={"consumer": self.subscription.name},
                )
                for item in decoded:
                    failure = await self._apply_alone(item)
                    if failure is not None:
                        dead.append(failure)
        for letter in dead:
            await self._dead_letter(letter)

    async def _apply_alone(self, item: _Decoded) -> DeadLetter | None:
        last: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    await self._apply(connection, [item])
                return None
            except TRANSIENT_ERRORS:
                raise
            except Inapplicable as refused:
                return DeadLetter(item.record, "handler", f"{type(refused).__name__}: {refused}")
            except Exception as error:
                last = error
                log.warning(
                    "event handler failed",
                    extra={
                        "consumer": self.subscription.name,
                        "event_id": str(item.envelope.id),
                        "attempt": attempt,
                        "error": repr(error),
                    },
                )
                await asyncio.sleep(self.subscription.retry_delay * attempt)
        return DeadLetter(item.record, "handler", f"{type(last).__name__}: {last}")

    async def _apply(self, connection: db.Connection, batch: Sequence[_Decoded]) -> None:
        """Record the batch's events in the inbox, handle those recorded for the first time in
        order, then settle what they named: all in the caller's transaction."""
        handled = [item for item in batch if type(item.event) in self.subscription.handlers]
        firsts = await self._first_times(connection, handled)
        named: dict[Hashable, None] = {}
        spans: list[trace.Span] = []
        for item in handled:
            first_time = item.envelope.id in firsts
            firsts.discard(item.envelope.id)  # the same id twice in a batch: the first counts
            with self._span(item) as span:
                if not first_time:
                    span.set_attribute("supervision.inbox.duplicate", True)
                    continue
                handler = self.subscription.handlers[type(item.event)]
                named.update(
                    dict.fromkeys(await handler(connection, item.envelope, item.event) or ())
                )
                spans.append(span)
        settle = self.subscription.settle
        if settle is not None and named:
            # A batch's settling serves several journeys: a child of the last event's span,
            # linked to the others'.
            with tracer.start_as_current_span(
                f"settle {self.subscription.name}",
                context=trace.set_span_in_context(spans[-1]),
                links=[trace.Link(span.get_span_context()) for span in spans[:-1]],
                attributes={"supervision.settle.keys": len(named)},
            ):
                await settle(connection, list(named))

    async def _first_times(self, connection: db.Connection, batch: Sequence[_Decoded]) -> set[Any]:
        """Record the events' ids in the inbox with one statement; return those not recorded
        before (nor at an offset below one whose id was pruned: ``prune_applied``)."""
        if not batch:
            return set()
        unique = list({item.envelope.id: item for item in reversed(batch)}.values())
        rows = await connection.fetch(
            """
            INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition,
                               kafka_offset)
            SELECT $1, e.event_id, e.event_type, e.topic, e.kafka_partition, e.kafka_offset
            FROM unnest($2::uuid[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
                AS e (event_id, event_type, topic, kafka_partition, kafka_offset)
            WHERE NOT EXISTS (
                SELECT FROM inbox_pruned p
                WHERE p.consumer = $1 AND p.topic = e.topic
                  AND p.kafka_partition = e.kafka_partition AND p.kafka_offset >= e.kafka_offset
            )
            ON CONFLICT DO NOTHING RETURNING event_id
            """,
            self.subscription.name,
            [item.envelope.id for item in unique],
            [item.envelope.type for item in unique],
            [item.record.topic for item in unique],
            [item.record.partition for item in unique],
            [item.record.offset for item in unique],
        )
        return {row["event_id"] for row in rows}

    def _span(self, item: _Decoded) -> contextlib.AbstractContextManager[trace.Span]:
        record, envelope, event = item.record, item.envelope, item.event
        span = tracer.start_as_current_span(
            f"process {record.topic}",
            context=telemetry.extract(header_map(record.headers)),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self.subscription.name,
                "messaging.message.id": str(envelope.id),
                telemetry.ATTR_EVENT_TYPE: envelope.type,
                "messaging.kafka.message.key": event.key,
                **(
                    {telemetry.ATTR_CRITIQUE_ID: str(event.critique_id)}
                    if isinstance(event, CritiqueEvent)
                    else {}
                ),
            },
        )
        return span

    async def _dead_letter(self, letter: DeadLetter) -> None:
        record = letter.record
        stamp = deadletters.Stamp(
            error_kind=letter.kind,
            error=letter.reason,
            consumer=self.subscription.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        delivery = await self._producer.send(
            deadletters.topic_for(record.topic),
            value=record.value,
            key=record.key,
            headers=[*(record.headers or ()), *stamp.headers()],
        )
        await delivery
        metrics.dead_lettered(
            group=self.subscription.name, topic=record.topic, error_kind=letter.kind
        )
        log.error(
            "event dead-lettered",
            extra={
                "consumer": self.subscription.name,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_kind": letter.kind,
            },
        )
