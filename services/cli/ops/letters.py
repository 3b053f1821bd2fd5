"""The dead letters as read from their topics, and the log of their replays."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from aiokafka import ConsumerRecord

from services.cli.ops.kafka import Kafka
from services.platform import deadletters
from services.platform.cloudevents import header_map


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
        """The dead letter's identity in the replay log and in ``replay_of`` headers."""
        return f"{self.topic}:{self.partition}:{self.offset}"

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


async def read_topics(kafka: Kafka, topics: Iterable[str]) -> list[DeadLetter]:
    """Every message the topics hold now, from their beginning to their current end, oldest
    first."""
    partitions = await kafka.partitions(topics)
    if not partitions:
        return []
    consumer = kafka.consumer
    ends = await consumer.end_offsets(partitions)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    letters: list[DeadLetter] = []
    remaining = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in batch.items():
            letters.extend(DeadLetter.of(r) for r in records if r.offset < ends[tp])
        remaining = [tp for tp in remaining if await consumer.position(tp) < ends[tp]]
    return sorted(letters, key=lambda d: (d.timestamp, d.topic, d.partition, d.offset))


class ReplayLog:
    """``replayed.jsonl``: one JSON line per dead letter replayed, appended under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> dict[str, dict[str, Any]]:
        """The last replay of each dead letter, by its :attr:`DeadLetter.ident`."""
        if not self.path.exists():
            return {}
        found = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                found[str(entry["dead_letter"])] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
        return found

    @contextlib.contextmanager
    def locked(self) -> Iterator[IO[str]]:
        """The log, open for appending, locked against a replay running beside this one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                if file.seek(0, os.SEEK_END) and self.path.read_bytes()[-1:] != b"\n":
                    file.write("\n")  # after a line cut short by a crash, start a new one
                yield file
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    @staticmethod
    def append(file: IO[str], entry: dict[str, Any]) -> None:
        file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        file.flush()
        os.fsync(file.fileno())


def replays_by_message(
    letters: Iterable[DeadLetter], replayed: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The last replay of each message some copy of which was replayed, by
    :attr:`DeadLetter.message` (all copies of a message are replayed together)."""
    found: dict[str, dict[str, Any]] = {}
    for letter in letters:
        entry = replayed.get(letter.ident)
        if entry is not None and str(entry.get("at", "")) >= str(
            found.get(letter.message, {}).get("at", "")
        ):
            found[letter.message] = entry
    return found
