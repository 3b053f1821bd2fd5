"""``supervision ops dlq``: the dead letters as work items.

``list`` is the queue (what no operator has handled yet; ``--handled`` shows the rest too),
``inspect`` shows one letter whole, ``mark-handled`` takes letters out of the queue without a
replay (``reopen`` puts them back); ``replay`` (:mod:`services.cli.ops.replay`) publishes them to
their topic again and marks them handled. A handled letter stays in its ``.dlq``: Kafka keeps the
history, the marks on ``ops.dead-letters.handled`` say what is done.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.ops.kafka import connect
from services.cli.ops.letters import (
    DeadLetter,
    ensure_handled_topic,
    mark_handled,
    mark_of,
    read_handled,
    read_topics,
)
from services.cli.ops.settings import Deployment, load_settings
from services.cli.ops.sources import console, describe, err
from services.platform import deadletters
from services.platform.deadletters import HANDLED_TOPIC, Handled

_CE_TYPE_PREFIX: Final = "vn.mttq.supervision."

TopicOption = Annotated[
    str, typer.Option(help="The topic or its .dlq, e.g. submission.critiques.", show_default=False)
]
OFFSET_HELP: Final = (
    "A dead letter by its 'dlq at' in `dlq list`: PARTITION:OFFSET (OFFSET alone when one"
    " partition has it); repeatable."
)
OffsetOption = Annotated[list[str], typer.Option(help=OFFSET_HELP, show_default=False)]


def dead_letter_topic(topic: str) -> str:
    return topic if deadletters.is_dead_letter_topic(topic) else deadletters.topic_for(topic)


@dataclass(frozen=True)
class Queue:
    """The dead letters of one DLQ or of all, with every mark on them."""

    letters: list[DeadLetter]
    marks: dict[str, Handled]
    """By :attr:`DeadLetter.ident`."""

    def open(self) -> list[DeadLetter]:
        return [letter for letter in self.letters if letter.ident not in self.marks]

    def copies(self, letter: DeadLetter) -> list[DeadLetter]:
        """The other consumer groups' copies of the record ``letter`` is a copy of."""
        return [d for d in self.letters if d.message == letter.message and d != letter]


async def _read_queue(config: Deployment, topic: str | None) -> tuple[Queue, list[str]]:
    async with (
        asyncio.timeout(config.ops_timeout_seconds * 6),
        connect(config.bootstrap, config.ops_timeout_seconds) as kafka,
    ):
        known = await kafka.dlq_topics()
        wanted = [dead_letter_topic(topic)] if topic else known
        letters = await read_topics(kafka, [t for t in wanted if t in known])
        return Queue(letters, await read_handled(kafka)), known


def load_queue(config: Deployment, topic: str | None) -> Queue:
    try:
        queue, known = asyncio.run(_read_queue(config, topic))
    except Exception as error:
        err.print(f"[red]Kafka {config.bootstrap} unreachable: {escape(describe(error))}[/red]")
        raise typer.Exit(1) from None
    if topic and dead_letter_topic(topic) not in known:
        err.print(
            f"[red]There is no topic {dead_letter_topic(topic)}.[/red] Dead-letter topics:"
            f" {', '.join(known) or 'none'}"
        )
        raise typer.Exit(2)
    return queue


def _position(value: str) -> tuple[int | None, int]:
    partition, _, offset = value.rpartition(":")
    try:
        return (int(partition) if partition else None), int(offset)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected PARTITION:OFFSET or OFFSET") from None


def choose(letters: Sequence[DeadLetter], offsets: Sequence[str], dlq: str) -> list[DeadLetter]:
    """The dead letters of ``dlq`` at these positions, or exit 2 naming one that is not."""
    chosen: list[DeadLetter] = []
    for value in offsets:
        partition, offset = _position(value)
        matches = [
            d
            for d in letters
            if d.topic == dlq
            and d.offset == offset
            and (partition is None or d.partition == partition)
        ]
        if not matches:
            err.print(f"[red]No dead letter at {value} in {dlq}.[/red]")
            raise typer.Exit(2)
        if len(matches) > 1:
            err.print(
                f"[red]Offset {offset} is in several partitions of {dlq}:[/red]"
                f" {', '.join(d.position for d in matches)}; give PARTITION:OFFSET."
            )
            raise typer.Exit(2)
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def short_type(ce_type: str) -> str:
    return ce_type.removeprefix(_CE_TYPE_PREFIX) or "—"


def _when(mark: Handled) -> str:
    return f"{mark.at.astimezone():%Y-%m-%d %H:%M:%S}"


def mark_note(mark: Handled, sep: str = "\n") -> str:
    """How a letter was handled, in two lines (or one, with ``sep=" "``)."""
    if mark.replayed_to:
        _topic, partition, offset = mark.replayed_to.rsplit(":", 2)
        return f"replayed {_when(mark)} by {mark.by}{sep}→ {partition}:{offset}"
    return f"settled {_when(mark)} by {mark.by}: {mark.note}"


def _handled_note(letter: DeadLetter, marks: Mapping[str, Handled]) -> str:
    notes = []
    if (mark := marks.get(letter.ident)) is not None:
        notes.append(mark_note(mark))
    if deadletters.REPLAY_OF in letter.text:
        was = letter.text[deadletters.REPLAY_OF]
        notes.append(f"failed again: replay of {was.removeprefix(f'{letter.topic}:')}")
    return "\n".join(notes)


def letters_table(
    title: str, letters: Sequence[DeadLetter], marks: Mapping[str, Handled], full: bool
) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("topic", "dlq at", "was at", "when", "consumer", "event", "error", "handled"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        reason = " ".join(letter.stamp.error.split())
        if not full and len(reason) > 200:
            reason = reason[:200] + "…"
        table.add_row(
            letter.origin_topic,
            letter.position,
            letter.origin,
            f"{letter.when.astimezone():%Y-%m-%d %H:%M:%S}",
            letter.stamp.consumer or "?",
            f"{short_type(letter.ce_type)}\n{letter.ce_id or '—'}",
            f"[bold]{escape(letter.stamp.error_kind or '?')}[/bold]\n{escape(reason)}",
            escape(_handled_note(letter, marks)),
        )
    return table


def list_dead_letters(
    topic: Annotated[
        str | None,
        typer.Option(help="One topic (or its .dlq), e.g. submission.critiques; all by default."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, the latest.")] = 50,
    handled: Annotated[
        bool, typer.Option("--handled", help="Show the handled letters too, and how.")
    ] = False,
    full: Annotated[bool, typer.Option(help="Show each reason whole.")] = False,
) -> None:
    """The queue: the dead letters no operator has handled yet, where they were read from, by
    which consumer, and why.

    "dlq at" is the position (partition:offset) in the topic's .dlq that `dlq inspect`,
    `dlq replay` and `dlq mark-handled` take; "was at", the position the consumer read the
    message from."""
    config = load_settings()
    queue = load_queue(config, topic)
    waiting = queue.open()
    settled = len(queue.letters) - len(waiting)
    listed = queue.letters if handled else waiting
    if not listed:
        console.print(
            "No dead letters waiting."
            + (f" {settled} handled (--handled shows them)." if settled else "")
        )
        return
    shown = listed[-limit:]
    title = f"{len(waiting)} dead letters waiting, {settled} handled" + (
        f"; the latest {len(shown)}" if len(shown) < len(listed) else ""
    )
    console.print(letters_table(title, shown, queue.marks, full))


def _readable(value: bytes | None) -> Any:
    """A record's key or value as JSON can show it: parsed when it is JSON, text when it is
    UTF-8, else base64 (said so)."""
    if value is None:
        return None
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def describe_letter(letter: DeadLetter, queue: Queue) -> dict[str, Any]:
    """Everything about one dead letter, as ``dlq inspect --json`` prints it."""
    mark = queue.marks.get(letter.ident)
    return {
        "dead_letter": letter.ident,
        "state": mark.how if mark else "waiting",
        "handled": mark.model_dump(mode="json") if mark else None,
        "set_aside_at": letter.when.isoformat(),
        "consumer": letter.stamp.consumer,
        "error_kind": letter.stamp.error_kind,
        "error": letter.stamp.error,
        "read_from": letter.message,
        "replay_of": letter.text.get(deadletters.REPLAY_OF),
        "copies": [
            {
                "dead_letter": copy.ident,
                "consumer": copy.stamp.consumer,
                "state": m.how if (m := queue.marks.get(copy.ident)) else "waiting",
            }
            for copy in queue.copies(letter)
        ],
        "key": _readable(letter.key),
        "headers": {
            name: value.decode(errors="replace") if value is not None else None
            for name, value in letter.headers
        },
        "value": _readable(letter.value),
    }


def inspect(
    topic: TopicOption,
    offset: Annotated[
        str,
        typer.Option(help="Its 'dlq at' in `dlq list`: PARTITION:OFFSET.", show_default=False),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print it as one JSON document.")] = False,
) -> None:
    """One dead letter whole: why and by whom it was set aside, where it was read, its key,
    headers and value, the other groups' copies of it, and whether it is handled."""
    config = load_settings()
    dlq = dead_letter_topic(topic)
    queue = load_queue(config, dlq)
    (letter,) = choose(queue.letters, [offset], dlq)
    described = describe_letter(letter, queue)
    if as_json:
        print(json.dumps(described, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Dead letter {letter.ident}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    mark = queue.marks.get(letter.ident)
    table.add_row("state", escape(mark_note(mark)) if mark else "[red]waiting[/red]")
    table.add_row("set aside", f"{letter.when.astimezone():%Y-%m-%d %H:%M:%S %Z}")
    table.add_row("consumer", escape(letter.stamp.consumer or "?"))
    table.add_row("error", f"[bold]{escape(letter.stamp.error_kind or '?')}[/bold]")
    table.add_row("reason", escape(letter.stamp.error))
    table.add_row("read from", escape(letter.message))
    if described["replay_of"]:
        table.add_row("replay of", escape(described["replay_of"]))
    copies = [
        f"{c['dead_letter']} ({c['consumer'] or '?'}, {c['state']})" for c in described["copies"]
    ]
    table.add_row("copies", escape("\n".join(copies)) or "none")
    table.add_row("key", escape(json.dumps(described["key"], ensure_ascii=False)))
    headers = described["headers"]
    table.add_row(
        "headers", escape("\n".join(f"{name}: {value}" for name, value in headers.items()))
    )
    table.add_row("value", escape(json.dumps(described["value"], ensure_ascii=False, indent=2)))
    console.print(table)


async def _record(config: Deployment, marks: Sequence[Handled | str]) -> None:
    """Record marks (a :class:`Handled`, or the name of a letter to take back to the queue)."""
    # Here, not at the top: the outbox brings telemetry with it, most of a second of start-up
    # every other `supervision` command would wait for.
    from services.platform.outbox import new_producer

    await ensure_handled_topic(config.bootstrap, config.replication_factor)
    producer = new_producer(config.bootstrap)
    await producer.start()
    try:
        await mark_handled(producer, [m for m in marks if isinstance(m, Handled)])
        for name in (m for m in marks if isinstance(m, str)):
            await producer.send_and_wait(HANDLED_TOPIC, key=name.encode(), value=None)
    finally:
        await producer.stop()


def record(config: Deployment, marks: Sequence[Handled | str]) -> None:
    try:
        asyncio.run(_record(config, marks))
    except Exception as error:
        err.print(
            f"[red]Could not record on Kafka {config.bootstrap}: {escape(describe(error))}[/red]"
        )
        raise typer.Exit(1) from None


def _chosen(topic: str, offsets: Sequence[str]) -> tuple[Deployment, str, Queue, list[DeadLetter]]:
    """The deployment, the DLQ named, its queue, and the letters at ``offsets`` in it."""
    config = load_settings()
    dlq = dead_letter_topic(topic)
    queue = load_queue(config, dlq)
    return config, dlq, queue, choose(queue.letters, offsets, dlq)


def mark_handled_command(
    topic: TopicOption,
    offset: OffsetOption,
    note: Annotated[
        str,
        typer.Option(
            help="Why it needs no replay, for whoever reads it later (e.g. 'superseded by the"
            " amendment of 3 Dec').",
            show_default=False,
        ),
    ],
) -> None:
    """Take dead letters out of the queue without publishing them again: their cause is dealt
    with otherwise. Each stays in its .dlq, marked with who, when and why (`dlq list --handled`);
    `dlq reopen` puts it back in the queue."""
    if not note.strip():
        err.print("[red]Say why with --note.[/red]")
        raise typer.Exit(2)
    config, dlq, queue, chosen = _chosen(topic, offset)
    done = [letter for letter in chosen if letter.ident in queue.marks]
    for letter in done:
        err.print(
            f"[red]Refused {dlq} {letter.position}: already"
            f" {escape(mark_note(queue.marks[letter.ident], ' '))}[/red]"
        )
    waiting = [letter for letter in chosen if letter not in done]
    if waiting:
        by = getpass.getuser()
        record(config, [mark_of(letter, by=by, note=note.strip()) for letter in waiting])
    for letter in waiting:
        console.print(f"marked handled: {dlq} {letter.position} ({short_type(letter.ce_type)})")
    if done:
        raise typer.Exit(1)


def reopen(topic: TopicOption, offset: OffsetOption) -> None:
    """Put handled dead letters back in the queue (their mark is taken back; a replay already
    published stays published)."""
    config, dlq, queue, chosen = _chosen(topic, offset)
    marked = [letter for letter in chosen if letter.ident in queue.marks]
    for letter in chosen:
        if letter not in marked:
            err.print(f"[yellow]{dlq} {letter.position} is waiting already.[/yellow]")
    if marked:
        record(config, [letter.ident for letter in marked])
    for letter in marked:
        console.print(f"back in the queue: {dlq} {letter.position}")
