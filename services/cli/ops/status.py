"""``supervision ops status``: one row per service, from every source at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import grpc
import httpx
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.markup import escape
from rich.table import Table

from contracts.events import FOREVER, Level, Topic
from services.cli.ops.kafka import connect, group_lag, oldest_unconsumed
from services.cli.ops.letters import DeadLetter, read_handled, read_topics
from services.cli.ops.settings import SERVICES, Consumer, Deployment, load_settings
from services.cli.ops.sources import Unavailable, ask, console
from services.platform import deadletters
from services.platform.deadletters import Handled
from services.platform.durations import spoken
from services.platform.kafka import read_retention, with_dead_letters
from services.platform.outbox import Backlog, read_backlog
from services.tracking.agency_client import credentials_from_environment
from services.tracking.queries import Overdue, overdue_by_agency_level

ATTRIBUTE_AT_MOST: Final = 10_000
"""``status`` reads a dead-letter topic to count its letters by consumer only up to this size."""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str = ""


async def http_readiness(url: str, wait: float) -> Readiness:
    async with httpx.AsyncClient(timeout=wait) as http:
        answer = await http.get(f"{url}/readyz")
    if answer.status_code == 200:
        return Readiness(True)
    try:
        checks = answer.json().get("checks", {})
    except ValueError:
        checks = {}
    failing = [f"{name} {result}" for name, result in checks.items() if result != "ok"]
    return Readiness(False, "; ".join(failing) or f"/readyz answered {answer.status_code}")


async def grpc_readiness(address: str, wait: float, *, tls: bool) -> Readiness:
    """Tracking's health, over TLS if it serves TLS (trusting SUPERVISION_TRACKING_CA_FILE,
    with the agency certificate of SUPERVISION_AGENCY_CERT_FILE where it requires one)."""
    credentials = credentials_from_environment(tls=tls)
    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=wait
        )
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return Readiness(True)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return Readiness(False, f"health {status} (its log names the dependency)")


async def database_facts(url: str, *, overdue: bool, wait: float) -> tuple[Backlog, Overdue]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url, timeout=wait)
    try:
        outbox = await read_backlog(connection)
        late = await overdue_by_agency_level(connection) if overdue else Overdue({}, 0)
        return outbox, late
    finally:
        await connection.close()


@dataclass(frozen=True)
class KafkaFacts:
    lag: dict[str, dict[str, int] | Unavailable]
    """Per consumer group."""
    dlq_sizes: dict[str, int]
    letters: list[DeadLetter]
    """Of the dead-letter topics small enough to read (see ATTRIBUTE_AT_MOST)."""
    unread: set[str]
    retention: dict[str, list[str]]
    """The system's topics that may delete what their retention policy keeps, each with how."""
    oldest: dict[str, dict[str, int] | Unavailable]
    """Per consumer group: per topic where it is behind, the timestamp (ms) of the oldest record
    it has not consumed."""
    kept_ms: dict[str, int]
    """Each topic's ``retention.ms`` as Kafka applies it (-1: for ever)."""
    handled: dict[str, Handled]
    """The operators' marks, by dead letter."""


async def kafka_facts(config: Deployment) -> KafkaFacts:
    wait = config.ops_timeout_seconds
    async with connect(config.bootstrap, wait) as kafka:
        lag: dict[str, dict[str, int] | Unavailable] = {}
        oldest: dict[str, dict[str, int] | Unavailable] = {}
        for consumer in config.consumers.values():
            group = consumer.group
            lag[group] = await ask(f"group {group}", group_lag(kafka, group, consumer.topics), wait)
            oldest[group] = await ask(
                f"group {group}", oldest_unconsumed(kafka, group, consumer.topics), wait * 2
            )
        sizes = await kafka.sizes(await kafka.dlq_topics())
        readable = [t for t, size in sizes.items() if 0 < size <= ATTRIBUTE_AT_MOST]
        letters = await read_topics(kafka, readable)
        handled = await read_handled(kafka)
        existing = set(await kafka.topics())
        system = [*with_dead_letters(Topic), deadletters.HANDLED_TOPIC]
        ours = [name for name in system if name in existing]
        retention = await read_retention(kafka.admin, ours)
    unread = {t for t, size in sizes.items() if size > ATTRIBUTE_AT_MOST}
    return KafkaFacts(
        lag=lag,
        dlq_sizes=sizes,
        letters=letters,
        unread=unread,
        retention=retention.shortfalls,
        oldest=oldest,
        kept_ms=retention.kept_ms,
        handled=handled,
    )


@dataclass
class Report:
    readiness: dict[str, Readiness | Unavailable]
    databases: dict[str, tuple[Backlog, Overdue] | Unavailable]
    kafka: KafkaFacts | Unavailable

    @property
    def healthy(self) -> bool:
        answers: list[object] = [*self.readiness.values(), *self.databases.values(), self.kafka]
        if isinstance(self.kafka, KafkaFacts):
            answers.extend(self.kafka.lag.values())
            if self.kafka.retention or at_risk(self.kafka, datetime.now().astimezone()):
                return False
        return not any(isinstance(a, Unavailable) for a in answers) and all(
            isinstance(r, Readiness) and r.ready for r in self.readiness.values()
        )


async def gather_report(config: Deployment) -> Report:
    timeout = config.ops_timeout_seconds
    questions: dict[str, Awaitable[Any]] = {
        "ready submission": ask(
            "submission /readyz", http_readiness(config.submission_url, timeout), timeout
        ),
        "ready tracking": ask(
            "tracking gRPC health",
            grpc_readiness(config.tracking_address, timeout, tls=config.tls),
            timeout,
        ),
        "ready disclosure": ask(
            "disclosure /readyz", http_readiness(config.disclosure_url, timeout), timeout
        ),
        **{
            f"db {service}": ask(
                f"{service} database",
                database_facts(
                    config.database_urls[service], overdue=service == "tracking", wait=timeout
                ),
                timeout,
            )
            for service in SERVICES
        },
        "kafka": ask(f"Kafka {config.bootstrap}", kafka_facts(config), timeout * 4),
    }
    answers = dict(zip(questions, await asyncio.gather(*questions.values()), strict=True))
    kafka = answers["kafka"]
    return Report(
        readiness={service: answers[f"ready {service}"] for service in SERVICES},
        databases={service: answers[f"db {service}"] for service in SERVICES},
        kafka=kafka,
    )


def _failed(answer: Unavailable) -> str:
    return f"[red]{escape(str(answer))}[/red]"


def _ready_cell(answer: Readiness | Unavailable) -> str:
    if isinstance(answer, Unavailable):
        return _failed(answer)
    if answer.ready:
        return "[green]ready[/green]"
    return f"[red]not ready[/red]\n{escape(answer.detail)}"


def _outbox_cell(answer: tuple[Backlog, Overdue] | Unavailable) -> str:
    if isinstance(answer, Unavailable):
        return _failed(answer)
    outbox = answer[0]
    if not outbox.rows:
        return "0"
    oldest = outbox.oldest_age_seconds
    colour = "red" if oldest > 5 * 60 else "yellow"
    return f"[{colour}]{outbox.rows} pending, oldest {spoken(oldest)}[/{colour}]"


WARN_AT_SHARE_OF_RETENTION: Final = 0.5
"""The oldest unconsumed record is shown in red once it is this far into its topic's retention."""


def _late(topic: str, stamp_ms: int, kafka: KafkaFacts, now: datetime) -> bool:
    kept = kafka.kept_ms.get(topic, FOREVER)
    age = now.timestamp() - stamp_ms / 1000
    return kept != FOREVER and age >= kept / 1000 * WARN_AT_SHARE_OF_RETENTION


def at_risk(kafka: KafkaFacts, now: datetime) -> list[tuple[str, str]]:
    """(group, topic) where the oldest record the group has not consumed is already half-way
    through its topic's retention: at the pace it goes, retention may delete it unread."""
    return [
        (group, topic)
        for group, oldest in kafka.oldest.items()
        if isinstance(oldest, dict)
        for topic, stamp in oldest.items()
        if _late(topic, stamp, kafka, now)
    ]


def _oldest_note(topic: str, stamp_ms: int | None, kafka: KafkaFacts, now: datetime) -> str:
    """How old the oldest record the group has not consumed is, against the topic's retention."""
    if stamp_ms is None:
        return ""
    age = now.timestamp() - stamp_ms / 1000
    kept = kafka.kept_ms.get(topic, FOREVER)
    if kept == FOREVER:
        return f" (oldest {spoken(age)}, kept for ever)"
    note = f" (oldest {spoken(age)} of {spoken(kept / 1000)} kept)"
    return f"[red]{note}[/red]" if _late(topic, stamp_ms, kafka, now) else note


def _lag_cell(group: str, service: str, kafka: KafkaFacts | Unavailable, now: datetime) -> str:
    if isinstance(kafka, Unavailable):
        return "[red]Kafka unreachable[/red]"
    lag = kafka.lag.get(group)
    if isinstance(lag, Unavailable):
        return _failed(lag)
    total = sum((lag or {}).values())
    named = "" if group == service else f"group {escape(group)}: "
    if not total:
        return f"{named}0"
    oldest = kafka.oldest.get(group)
    stamps = oldest if isinstance(oldest, dict) else {}
    detail = ", ".join(
        f"{escape(t)} {n}{_oldest_note(t, stamps.get(t), kafka, now)}"
        for t, n in sorted((lag or {}).items())
        if n
    )
    if isinstance(oldest, Unavailable):
        detail += f"\n{_failed(oldest)}"
    return f"[yellow]{named}{total}[/yellow]\n{detail}"


def _dead_letters_cell(consumer: Consumer, kafka: KafkaFacts | Unavailable) -> str:
    if isinstance(kafka, Unavailable):
        return "[red]Kafka unreachable[/red]"
    lines = []
    for topic in consumer.topics:
        dlq = deadletters.topic_for(topic)
        if dlq in kafka.unread:
            lines.append(f"[yellow]{dlq}: {kafka.dlq_sizes[dlq]} (all consumers)[/yellow]")
            continue
        mine = [d for d in kafka.letters if d.topic == dlq and d.stamp.consumer == consumer.group]
        if not mine:
            continue
        waiting = sum(1 for d in mine if d.ident not in kafka.handled)
        done = len(mine) - waiting
        note = f" ({done} handled)" if done else ""
        colour = "red" if waiting else "dim"
        lines.append(f"[{colour}]{escape(dlq)}: {waiting} waiting{note}[/{colour}]")
    return "\n".join(lines) or "none"


def _overdue_cell(answer: tuple[Backlog, Overdue] | Unavailable) -> str:
    if isinstance(answer, Unavailable):
        return "[red]database unreachable[/red]"
    overdue = answer[1]
    if not overdue.by_level:
        return "none"
    order = [level.value for level in Level]
    levels = sorted(overdue.by_level, key=lambda lv: order.index(lv) if lv in order else 99)
    text = ", ".join(f"{level} {overdue.by_level[level]}" for level in levels)
    escalated = f"\n{overdue.escalated} escalated" if overdue.escalated else ""
    return f"[yellow]{escape(text)}[/yellow]{escalated}"


def retention_lines(report: Report) -> str:
    """Below the table: the topics that may delete what their retention policy keeps."""
    if not isinstance(report.kafka, KafkaFacts):
        return ""
    return _retention_lines(report.kafka.retention)


def _retention_lines(shortfalls: dict[str, list[str]]) -> str:
    if not shortfalls:
        return "Retention: every topic keeps what its policy keeps."
    lines = [
        f"[red]Retention shorter than policy: {escape(topic)}: {escape(how)}[/red]"
        for topic, found in sorted(shortfalls.items())
        for how in found
    ]
    return "\n".join(
        [*lines, "A service restarted sets its topics back to their policy (see the README)."]
    )


def status_table(config: Deployment, report: Report, now: datetime) -> Table:
    table = Table(
        title=f"Supervision services at {now:%Y-%m-%d %H:%M:%S %Z}",
        title_justify="left",
        show_lines=True,
        caption_justify="left",
    )
    for column in ("service", "readiness", "outbox", "consumer lag", "dead letters"):
        table.add_column(column, overflow="fold")
    table.add_column("overdue cases (agency level)", overflow="fold")
    for service in SERVICES:
        consumer = config.consumers[service]
        database = report.databases[service]
        table.add_row(
            f"[bold]{service}[/bold]",
            _ready_cell(report.readiness[service]),
            _outbox_cell(database),
            _lag_cell(consumer.group, service, report.kafka, now),
            _dead_letters_cell(consumer, report.kafka),
            _overdue_cell(database) if service == "tracking" else "[dim]—[/dim]",
        )
    if isinstance(report.kafka, KafkaFacts):
        sizes = ", ".join(f"{t} {n}" for t, n in sorted(report.kafka.dlq_sizes.items())) or "none"
        table.caption = (
            f"Dead-letter topics (messages, handled or not): {escape(sizes)}\n"
            "`supervision ops dlq list` shows those waiting; `ops dlq replay` publishes them"
            " again, `ops dlq mark-handled` settles them otherwise."
        )
    else:
        table.caption = _failed(report.kafka)
    return table


def status() -> None:
    """Each service: readiness, outbox backlog, consumer lag, dead letters, overdue cases; and
    each topic that may delete what its retention policy keeps.

    Exit status 1 when a service is not ready, a source does not answer, a topic keeps less
    than its policy, or a group's oldest unconsumed record is half-way through its topic's
    retention."""
    config = load_settings()
    report = asyncio.run(gather_report(config))
    console.print(status_table(config, report, datetime.now().astimezone()))
    if lines := retention_lines(report):
        console.print(lines, soft_wrap=True)
    if not report.healthy:
        raise typer.Exit(1)
