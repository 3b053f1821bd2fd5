"""``supervision ops dlq list``: the dead letters, where they were read and why."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Final

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.ops.kafka import connect
from services.cli.ops.letters import DeadLetter, ReplayLog, read_topics, replays_by_message
from services.cli.ops.settings import Deployment, load_settings
from services.cli.ops.sources import console, describe, err
from services.platform import deadletters

_CE_TYPE_PREFIX: Final = "vn.mttq.supervision."


def dead_letter_topic(topic: str) -> str:
    return topic if deadletters.is_dead_letter_topic(topic) else deadletters.topic_for(topic)


async def _read_dead_letters(
    config: Deployment, topic: str | None
) -> tuple[list[DeadLetter], list[str]]:
    """The dead letters of one DLQ (``topic`` or its ``.dlq``) or of all; and the DLQ names."""
    async with (
        asyncio.timeout(config.ops_timeout_seconds * 6),
        connect(config.bootstrap, config.ops_timeout_seconds) as kafka,
    ):
        known = await kafka.dlq_topics()
        wanted = [dead_letter_topic(topic)] if topic else known
        return await read_topics(kafka, [t for t in wanted if t in known]), known


def load_dead_letters(config: Deployment, topic: str | None) -> list[DeadLetter]:
    try:
        letters, known = asyncio.run(_read_dead_letters(config, topic))
    except Exception as error:
        err.print(f"[red]Kafka {config.bootstrap} unreachable: {escape(describe(error))}[/red]")
        raise typer.Exit(1) from None
    if topic and dead_letter_topic(topic) not in known:
        err.print(
            f"[red]There is no topic {dead_letter_topic(topic)}.[/red] Dead-letter topics:"
            f" {', '.join(known) or 'none'}"
        )
        raise typer.Exit(2)
    return letters


def short_type(ce_type: str) -> str:
    return ce_type.removeprefix(_CE_TYPE_PREFIX) or "—"


def _replay_note(letter: DeadLetter, replayed: dict[str, dict[str, Any]]) -> str:
    notes = []
    done = replayed.get(letter.message)
    if done:
        to = done.get("to", {})
        at = str(done.get("at", ""))[:19].replace("T", " ")
        notes.append(f"replayed {at} UTC\n→ {to.get('partition')}:{to.get('offset')}")
    if deadletters.REPLAY_OF in letter.text:
        was = letter.text[deadletters.REPLAY_OF]
        prefix = f"{letter.topic}:"
        notes.append(f"failed again: replay of {was.removeprefix(prefix)}")
    return "\n".join(notes)


def letters_table(
    title: str, letters: Sequence[DeadLetter], replayed: dict[str, dict[str, Any]], full: bool
) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("topic", "dlq at", "was at", "when", "consumer", "event", "error", "replay"):
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
            _replay_note(letter, replayed),
        )
    return table


def list_dead_letters(
    topic: Annotated[
        str | None,
        typer.Option(help="One topic (or its .dlq), e.g. submission.critiques; all by default."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, the latest.")] = 50,
    full: Annotated[bool, typer.Option(help="Show each reason whole.")] = False,
) -> None:
    """The dead-lettered messages: where they were read from, by which consumer, and why.

    "dlq at" is the position (partition:offset) in the topic's .dlq that `dlq replay --offset`
    takes; "was at", the position the consumer read the message from."""
    config = load_settings()
    letters = load_dead_letters(config, topic)
    if not letters:
        console.print("No dead letters.")
        return
    shown = letters[-limit:]
    title = f"{len(letters)} dead letters" + (
        f", the latest {len(shown)}" if len(shown) < len(letters) else ""
    )
    replayed = replays_by_message(letters, ReplayLog(config.replay_log).entries())
    console.print(letters_table(title, shown, replayed, full))
