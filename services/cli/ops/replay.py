"""``supervision ops dlq replay``: dead letters published to their topic again."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from services.cli.ops.dlq import dead_letter_topic, letters_table, load_dead_letters, short_type
from services.cli.ops.letters import DeadLetter, ReplayLog, replays_by_message
from services.cli.ops.settings import Deployment, load_settings
from services.cli.ops.sources import console, describe, err
from services.platform import deadletters


def _position(value: str) -> tuple[int | None, int]:
    partition, _, offset = value.rpartition(":")
    try:
        return (int(partition) if partition else None), int(offset)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected PARTITION:OFFSET or OFFSET") from None


def _choose(letters: Sequence[DeadLetter], offsets: Sequence[str], dlq: str) -> list[DeadLetter]:
    chosen: list[DeadLetter] = []
    for value in offsets:
        partition, offset = _position(value)
        matches = [
            d
            for d in letters
            if d.offset == offset and (partition is None or d.partition == partition)
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


def _by_message(
    chosen: Sequence[DeadLetter], letters: Sequence[DeadLetter]
) -> list[list[DeadLetter]]:
    """The chosen dead letters by the message they are copies of, each with all its copies
    (the chosen one first): a message is published once however many groups set it aside."""
    messages: dict[str, list[DeadLetter]] = {}
    for letter in chosen:
        if letter.message not in messages:
            copies = [d for d in letters if d.message == letter.message and d != letter]
            messages[letter.message] = [letter, *copies]
    return list(messages.values())


@dataclass(frozen=True)
class Replayed:
    copies: list[DeadLetter]
    partition: int
    offset: int


async def _republish(
    config: Deployment, messages: Sequence[list[DeadLetter]], log: ReplayLog, again: bool
) -> tuple[list[Replayed], list[list[DeadLetter]]]:
    """Publish each message to its topic, then record each of its copies as replayed; skip a
    message replayed meanwhile (unless ``again``)."""
    done: list[Replayed] = []
    skipped: list[list[DeadLetter]] = []
    # Here, not at the top: the outbox brings telemetry with it, most of a second of start-up
    # every other `supervision` command would wait for.
    from services.platform.outbox import new_producer

    producer = new_producer(config.bootstrap)
    with log.locked() as file:
        replayed = log.entries()  # again, under the lock: a replay may have run since
        await producer.start()
        try:
            for copies in messages:
                if not again and any(d.ident in replayed for d in copies):
                    skipped.append(copies)
                    continue
                letter = copies[0]
                sent = await producer.send_and_wait(
                    letter.origin_topic,
                    value=letter.value,
                    key=letter.key,
                    headers=deadletters.replay_headers(letter.headers, of=letter.ident),
                )
                at = datetime.now(UTC).isoformat()
                for copy in copies:
                    log.append(
                        file,
                        {
                            "dead_letter": copy.ident,
                            "replayed_as": letter.ident,
                            "to": {
                                "topic": sent.topic,
                                "partition": sent.partition,
                                "offset": sent.offset,
                            },
                            "ce_type": copy.ce_type,
                            "ce_id": copy.ce_id,
                            "consumer": copy.stamp.consumer,
                            "error_kind": copy.stamp.error_kind,
                            "at": at,
                            "by": getpass.getuser(),
                        },
                    )
                done.append(Replayed(copies, sent.partition, sent.offset))
        finally:
            await producer.stop()
    return done, skipped


def replay(
    topic: Annotated[
        str,
        typer.Option(help="The topic or its .dlq, e.g. submission.critiques.", show_default=False),
    ],
    offset: Annotated[
        list[str] | None,
        typer.Option(
            help="A dead letter by its 'dlq at' in `dlq list`: PARTITION:OFFSET (OFFSET alone"
            " when one partition has it); repeatable.",
            show_default=False,
        ),
    ] = None,
    all_letters: Annotated[
        bool, typer.Option("--all", help="Every dead letter of the topic not yet replayed.")
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Replay also what was replayed before.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Publish dead letters to their topic again, once their cause is fixed: same key, value
    and headers (without the dlq_* ones, with replay_of naming the dead letter).

    A message set aside by several consumer groups is published once, for all of them. Each
    replay is recorded in $SUPERVISION_RUN_DIR/replayed.jsonl, and a dead letter replayed before
    is refused unless --again; a consumer that applied an event already ignores it."""
    if bool(offset) == all_letters:
        err.print("[red]Give --offset (one or more) or --all.[/red]")
        raise typer.Exit(2)
    config = load_settings()
    dlq = dead_letter_topic(topic)
    letters = load_dead_letters(config, dlq)
    log = ReplayLog(config.replay_log)
    replayed = replays_by_message(letters, log.entries())
    chosen = list(letters) if all_letters else _choose(letters, offset or [], dlq)
    messages = _by_message(chosen, letters)
    refused = [m for m in messages if not again and m[0].message in replayed]
    messages = [m for m in messages if m not in refused]
    for copies in refused:
        previous = replayed[copies[0].message]
        said = "Skipped" if all_letters else "[red]Refused[/red]"
        (console if all_letters else err).print(
            f"{said} {dlq} {copies[0].position}: already replayed at"
            f" {str(previous.get('at', ''))[:19]} (--again to replay it once more)."
        )
    if not messages:
        console.print("Nothing to replay.")
        raise typer.Exit(0 if all_letters or not refused else 1)
    shown = [d for copies in messages for d in copies]
    origin = deadletters.origin_of(dlq)
    console.print(letters_table(f"To publish again to {origin}", shown, replayed, False))
    question = f"Publish {len(messages)} message(s) to {origin} again?"
    if not yes and not typer.confirm(question):
        err.print("Nothing replayed.")
        raise typer.Exit(1)
    try:
        published, skipped = asyncio.run(_republish(config, messages, log, again))
    except Exception as error:
        err.print(
            f"[red]Could not publish to Kafka {config.bootstrap}: {escape(describe(error))}[/red]"
            f"\nWhat was published before this is recorded in {config.replay_log}."
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
        err.print(f"[yellow]Skipped {dlq} {copies[0].position}: replayed meanwhile.[/yellow]")
    console.print(f"{len(published)} replayed; recorded in {config.replay_log}.")
    if refused and not all_letters:
        raise typer.Exit(1)
