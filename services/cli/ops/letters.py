"""The dead letters as read from their topics, and the operators' marks of those handled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from services.cli.ops.kafka import Kafka
from services.platform import deadletters
from services.platform.cloudevents import header_map
from services.platform.deadletters import HANDLED_TOPIC, Handled


@dataclass(frozen=True)
class DeadLetter:
    """One message of a ``<topic>.dlq``."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    text: dict[str, str] = field(compare=False)
    stamp: deadletters.Stamp = field(compare=False)

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
        headers = tuple(record.headers or ())
        text = header_map(headers)
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            key=record.key,
            value=record.value,
            headers=headers,
            text=text,
            stamp=deadletters.Stamp.read(text),
        )

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def ident(self) -> str:
        """The dead letter's name in ``replay_of`` headers and in its :class:`Handled` mark."""
        return deadletters.ident(self.topic, self.partition, self.offset)

    @property
    def origin_topic(self) -> str:
        """Where it was read from, and where a replay goes: the topic the DLQ is named after."""
        return deadletters.origin_of(self.topic)

    @property
    def origin(self) -> str:
        """The position it was read from in :attr:`origin_topic`, ``partition:offset``."""
        partition, offset = self.stamp.partition, self.stamp.offset
        return f"{'?' if partition is None else partition}:{'?' if offset is None else offset}"

    @property
    def message(self) -> str:
        """The message it is a copy of: every consumer group of a topic that could not apply a
        message sets aside a copy of its own, and one replay reaches them all."""
        if self.stamp.partition is None or self.stamp.offset is None:
            return self.ident
        return f"{self.origin_topic}:{self.origin}"

    @property
    def ce_type(self) -> str:
        return self.text.get("ce_type", "")

    @property
    def ce_id(self) -> str:
        return self.text.get("ce_id", "")

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000, UTC)


async def read_records(kafka: Kafka, topics: Iterable[str]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record the topics hold now, from their beginning to their current end."""
    partitions = await kafka.partitions(topics)
    if not partitions:
        return []
    consumer = kafka.consumer
    ends = await consumer.end_offsets(partitions)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    records: list[ConsumerRecord[bytes, bytes]] = []
    remaining = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, got in batch.items():
            records.extend(r for r in got if r.offset < ends[tp])
        remaining = [tp for tp in remaining if await consumer.position(tp) < ends[tp]]
    return records


async def read_topics(kafka: Kafka, topics: Iterable[str]) -> list[DeadLetter]:
    """Every dead letter the topics hold now, oldest first."""
    letters = [DeadLetter.of(record) for record in await read_records(kafka, topics)]
    return sorted(letters, key=lambda d: (d.timestamp, d.topic, d.partition, d.offset))


async def read_handled(kafka: Kafka) -> dict[str, Handled]:
    """The latest mark of each dead letter handled, by its :attr:`DeadLetter.ident` (none
    before the first mark creates the topic)."""
    records = await read_records(kafka, [HANDLED_TOPIC])
    marks: dict[str, Handled] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is None:
            continue
        name = record.key.decode(errors="replace")
        if record.value is None:  # a tombstone: the mark is taken back
            marks.pop(name, None)
            continue
        with contextlib.suppress(ValidationError):
            marks[name] = Handled.model_validate_json(record.value)
    return marks


async def ensure_handled_topic(bootstrap: str, replication_factor: int) -> None:
    """Create the topic of marks if missing, as a directory (compacted: the latest mark of each
    dead letter kept for ever; one partition, no ``.dlq``), and set it back to that policy if it
    has drifted."""
    # Here, not at the top: the platform's Kafka module brings telemetry with it.
    from services.platform.kafka import ensure_topics

    await ensure_topics(
        bootstrap,
        [HANDLED_TOPIC],
        partitions=1,
        replication_factor=replication_factor,
        wait_seconds=10.0,
        dead_letters=False,
    )


async def mark_handled(producer: AIOKafkaProducer, marks: Iterable[Handled]) -> None:
    """Record the marks, each acknowledged by Kafka (``acks=all``) before this returns."""
    for mark in marks:
        await producer.send_and_wait(
            HANDLED_TOPIC, key=mark.dead_letter.encode(), value=mark.model_dump_json().encode()
        )


def mark_of(
    letter: DeadLetter, *, by: str, note: str = "", replayed_to: str | None = None
) -> Handled:
    return Handled(
        dead_letter=letter.ident,
        message=letter.message,
        replayed_to=replayed_to,
        note=note,
        by=by,
        at=datetime.now(UTC),
        ce_type=letter.ce_type,
        ce_id=letter.ce_id,
        consumer=letter.stamp.consumer,
        error_kind=letter.stamp.error_kind,
    )
