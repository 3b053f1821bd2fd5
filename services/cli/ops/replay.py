"""``supervision ops dlq replay``: dead letters published to their topic again."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.markup import escape

from services.cli.ops.dlq import (
    OFFSET_HELP,
    Queue,
    TopicOption,
    choose,
    dead_letter_topic,
    letters_table,
    load_queue,
    mark_note,
    short_type,
)
from services.cli.ops.kafka import connect
from services.cli.ops.letters import (
    DeadLetter,
    ensure_handled_topic,
    mark_handled,
    mark_of,
    read_handled,
)
from services.cli.ops.settings import Deployment, load_settings
from services.cli.ops.sources import console, describe, err
from services.platform import deadletters
from services.platform.deadletters import Handled


def _by_message(chosen: Sequence[DeadLetter], queue: Queue) -> list[list[DeadLetter]]:
    """The chosen dead letters by the message they are copies of, each with all its copies
    (the chosen one first): a message is published once however many groups set it aside."""
    messages: dict[str, list[DeadLetter]] = {}
    for letter in chosen:
        if letter.message not in messages:
            messages[letter.message] = [letter, *queue.copies(letter)]
    return list(messages.values())


def _mark(copies: Sequence[DeadLetter], marks: Mapping[str, Handled]) -> Handled | None:
    """The latest mark on any copy of a message: one handled copy makes the message handled."""
    found = [marks[d.ident] for d in copies if d.ident in marks]
    return max(found, key=lambda m: m.at) if found else None


@dataclass(frozen=True)
class Replayed:
    copies: list[DeadLetter]
    partition: int
    offset: int


async def _republish(
    config: Deployment, messages: Sequence[list[DeadLetter]], again: bool
) -> tuple[list[Replayed], list[list[DeadLetter]]]:
    """Publish each message to its topic, then mark each of its copies handled, replayed there;
    skip a message handled meanwhile (unless ``again``).

    Published, then marked: a replay cut short between the two is published again by the next
    one, and the consumers' inbox drops the event id it has applied."""
    # Here, not at the top: the outbox brings telemetry with it, most of a second of start-up
    # every other `supervision` command would wait for.
    from services.platform.outbox import new_producer

    done: list[Replayed] = []
    skipped: list[list[DeadLetter]] = []
    await ensure_handled_topic(config.bootstrap, config.replication_factor)
    async with connect(config.bootstrap, config.ops_timeout_seconds) as kafka:
        marks = await read_handled(kafka)  # again: a replay may have run since the listing
    by = getpass.getuser()
    producer = new_producer(config.bootstrap)
    await producer.start()
    try:
        for copies in messages:
            if not again and _mark(copies, marks) is not None:
                skipped.append(copies)
                continue
            letter = copies[0]
            sent = await producer.send_and_wait(
                letter.origin_topic,
                value=letter.value,
                key=letter.key,
                headers=deadletters.replay_headers(letter.headers, of=letter.ident),
            )
            to = deadletters.ident(sent.topic, sent.partition, sent.offset)
            await mark_handled(producer, [mark_of(copy, by=by, replayed_to=to) for copy in copies])
            done.append(Replayed(copies, sent.partition, sent.offset))
    finally:
        await producer.stop()
    return done, skipped


def replay(
    topic: TopicOption,
    offset: Annotated[list[str] | None, typer.Option(help=OFFSET_HELP, show_default=False)] = None,
    all_letters: Annotated[
        bool, typer.Option("--all", help="Every dead letter of the topic still waiting.")
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Replay also what is handled already.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Publish dead letters to their topic again, once their cause is fixed: same key, value
    and headers (without the dlq_* ones, with replay_of naming the dead letter); then mark them
    handled.

    A message set aside by several consumer groups is published once, for all of them, and
    each copy is marked. A dead letter handled before (replayed, or marked handled) is refused
    unless --again; a consumer that applied an event already ignores it."""
    if bool(offset) == all_letters:
        err.print("[red]Give --offset (one or more) or --all.[/red]")
        raise typer.Exit(2)
    config = load_settings()
    dlq = dead_letter_topic(topic)
    queue = load_queue(config, dlq)
    chosen = queue.open() if all_letters else choose(queue.letters, offset or [], dlq)
    messages = _by_message(chosen, queue)
    refused = [m for m in messages if not again and _mark(m, queue.marks) is not None]
    messages = [m for m in messages if m not in refused]
    for copies in refused:
        previous = _mark(copies, queue.marks)
        assert previous is not None
        said = "Skipped" if all_letters else "[red]Refused[/red]"
        (console if all_letters else err).print(
            f"{said} {dlq} {copies[0].position}: already {escape(mark_note(previous, ' '))}"
            " (--again to replay it once more)."
        )
    if not messages:
        console.print("Nothing to replay.")
        raise typer.Exit(1 if refused and not all_letters else 0)
    shown = [d for copies in messages for d in copies]
    origin = deadletters.origin_of(dlq)
    console.print(letters_table(f"To publish again to {origin}", shown, queue.marks, False))
    question = f"Publish {len(messages)} message(s) to {origin} again?"
    if not yes and not typer.confirm(question):
        err.print("Nothing replayed.")
        raise typer.Exit(1)
    try:
        published, skipped = asyncio.run(_republish(config, messages, again))
    except Exception as error:
        err.print(
            f"[red]Could not publish to Kafka {config.bootstrap}: {escape(describe(error))}[/red]"
            "\n`dlq list --handled` shows what was replayed before this."
        )
        raise typer.Exit(1) from None
    for item in published:
        letter, *copies = item.copies
        also = f" (with its copies {', '.join(d.position for d in copies)})" if copies else ""
        console.print(
            f"replayed {dlq} {letter.position}{also} → {origin} {item.partition}:{item.offset}"
            f" ({short_type(letter.ce_type)} {letter.ce_id or 'without ce_id'})"
        )
    for copies in skipped:
        err.print(f"[yellow]Skipped {dlq} {copies[0].position}: handled meanwhile.[/yellow]")
    console.print(f"{len(published)} replayed and marked handled.")
    if refused and not all_letters:
        raise typer.Exit(1)
