"""Dead letters: the records a consumer could not apply, set aside on ``<topic>.dlq``.

A dead letter is the record as it came (key, value, headers) with the consumer's reason appended
as ``dlq_*`` headers (:meth:`Stamp.headers`); ``supervision ops`` reads them back
(:meth:`Stamp.read`) to list dead letters, and replays one without them, naming it in
``replay_of`` instead (:func:`replay_headers`). Both sides use the names defined here only, so a
renamed header cannot leave one of them reading what the other no longer writes.

A dead letter is a work item: it stays in its ``.dlq`` for ever (the topic's history), and leaves
the operator's queue once ``supervision ops dlq`` has marked it handled, replayed or settled
otherwise, on :data:`HANDLED_TOPIC` (:class:`Handled`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from services.platform.cloudevents import KafkaHeaders

SUFFIX: Final = ".dlq"
HEADER_PREFIX: Final = "dlq_"
ERROR_KIND: Final = f"{HEADER_PREFIX}error_kind"
ERROR: Final = f"{HEADER_PREFIX}error"
CONSUMER: Final = f"{HEADER_PREFIX}consumer"
TOPIC: Final = f"{HEADER_PREFIX}topic"
PARTITION: Final = f"{HEADER_PREFIX}partition"
OFFSET: Final = f"{HEADER_PREFIX}offset"
REPLAY_OF: Final = "replay_of"
"""Set on a replayed message: the dead letter it came from, ``<dlq topic>:<partition>:<offset>``."""
HANDLED_TOPIC: Final = "ops.dead-letters.handled"
"""The dead letters an operator has handled: one record per dead letter, keyed by its
:func:`ident`, compacted so that the latest mark of each is kept for ever."""
MAX_ERROR_CHARS: Final = 4000
"""A reason is cut to this length: a header is no place for a whole traceback."""


def topic_for(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{SUFFIX}"


def ident(topic: str, partition: int, offset: int) -> str:
    """A dead letter's name: ``<dlq topic>:<partition>:<offset>``, in ``replay_of`` headers and
    as the key of its :class:`Handled` mark."""
    return f"{topic}:{partition}:{offset}"


def is_dead_letter_topic(name: str) -> bool:
    return name.endswith(SUFFIX)


def origin_of(dead_letter_topic: str) -> str:
    """The topic a dead-letter topic is named after: where its letters were read, and where a
    replay goes."""
    return dead_letter_topic.removesuffix(SUFFIX)


@dataclass(frozen=True)
class Stamp:
    """What a consumer says of a record it set aside: why, who, and where it read the record."""

    error_kind: str
    """``envelope``, ``unknown_type``, ``unknown_version``, ``payload`` or ``handler``."""
    error: str
    consumer: str
    """The consumer group that set it aside."""
    topic: str
    partition: int | None
    offset: int | None

    def headers(self) -> list[tuple[str, bytes]]:
        """The ``dlq_*`` headers, to append to the record's own."""
        return [
            (ERROR_KIND, self.error_kind.encode()),
            (ERROR, self.error[:MAX_ERROR_CHARS].encode()),
            (CONSUMER, self.consumer.encode()),
            (TOPIC, self.topic.encode()),
            (PARTITION, str(self.partition).encode()),
            (OFFSET, str(self.offset).encode()),
        ]

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> Stamp:
        """The stamp in a dead letter's headers (as text: ``cloudevents.header_map``); what is
        missing is empty, or None for a position."""
        return cls(
            error_kind=headers.get(ERROR_KIND, ""),
            error=headers.get(ERROR, ""),
            consumer=headers.get(CONSUMER, ""),
            topic=headers.get(TOPIC, ""),
            partition=_number(headers.get(PARTITION)),
            offset=_number(headers.get(OFFSET)),
        )


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def replay_headers(headers: KafkaHeaders, *, of: str) -> list[tuple[str, bytes]]:
    """A dead letter's headers for its replay: the record's own, without any consumer's stamp or
    an earlier replay's name, and with ``replay_of`` naming the dead letter (``of``)."""
    kept = [
        (name, value)
        for name, value in headers
        if not name.startswith(HEADER_PREFIX) and name != REPLAY_OF
    ]
    return [*kept, (REPLAY_OF, of.encode())]


class Handled(BaseModel):
    """An operator's mark on a dead letter: it is dealt with, and how. The value of its record on
    :data:`HANDLED_TOPIC`, keyed by :attr:`dead_letter`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dead_letter: str = Field(description="The dead letter, `<dlq topic>:<partition>:<offset>`.")
    message: str = Field(
        description="The record it is a copy of, `<topic>:<partition>:<offset>`: the copies that"
        " several consumer groups set aside of one record are replayed together."
    )
    replayed_to: str | None = Field(
        default=None,
        description="Where its replay was published, `<topic>:<partition>:<offset>`; none when"
        " it was settled without a replay.",
    )
    note: str = Field(default="", description="Why, in the operator's words.")
    by: str = Field(description="The operator (their login).")
    at: datetime
    ce_type: str = ""
    ce_id: str = ""
    consumer: str = Field(default="", description="The consumer group that set it aside.")
    error_kind: str = ""

    @property
    def how(self) -> str:
        return "replayed" if self.replayed_to else "settled"
