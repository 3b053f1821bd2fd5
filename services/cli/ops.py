"""``supervision ops``: where the work is and why it is stuck, for whoever is on duty.

* ``status``: one row per service, from every source at once: its readiness (``/readyz``, or the
  gRPC health service for tracking), its outbox backlog (its database), its consumer group's lag
  (committed offsets against end offsets), the dead letters its consumer set aside, and, for
  tracking, the overdue cases by the level of the agency that owes the answer. A source that does
  not answer is shown as such, with why.
* ``dlq list``: the dead letters, with the reason the consumer gave (``dlq_*`` headers).
* ``dlq replay``: publishes chosen dead letters to their topic again, once their cause is fixed.

Addresses come from the variables ``make run`` uses (``infra/bin/defaults``), with its defaults:
``SUPERVISION_{SUBMISSION,DISCLOSURE}_HTTP_HOST/PORT``, ``SUPERVISION_TRACKING_GRPC_HOST/PORT``,
``SUPERVISION_KAFKA_BOOTSTRAP_SERVERS``, ``SUPERVISION_*_DATABASE_URL``.

Replays are recorded in ``$SUPERVISION_RUN_DIR/replayed.jsonl`` (``.run`` by default), one line
per dead letter, written once Kafka has acknowledged it, under a file lock: a dead letter already
replayed is refused unless ``--again``. The replayed message also carries a ``replay_of`` header
naming the dead letter, so that Kafka itself shows what was a replay (and a replay that fails
again says so in ``dlq list``). A replay is applied at most once even if it is published twice:
the consumers' inbox drops an event id it has applied.

Exit codes: 0 done (``status``: every service ready and every source answered); 1 something is
not ready, a source did not answer, or a replay was refused or declined; 2 nothing matched, or
the command line or the environment is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, Final, TypeVar

import asyncpg
import grpc
import httpx
import typer
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.events import Level, Topic
from services.platform import deadletters
from services.platform.cloudevents import header_map
from services.platform.kafka import unread
from services.platform.outbox import Backlog, new_producer, read_backlog

app = typer.Typer(no_args_is_help=True, help="Where submissions are, and why they are stuck.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead-lettered events: list and replay.")
app.add_typer(dlq_app, name="dlq")
console = Console()
err = Console(stderr=True)

SERVICES: Final = ("submission", "tracking", "disclosure")
CONSUMED: Final[dict[str, tuple[str, ...]]] = {
    "submission": (Topic.AGENCIES, Topic.CASES),
    "tracking": (Topic.CRITIQUES,),
    "disclosure": (Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES),
}
"""The topics each service's consumer group reads (the tests hold this to the subscriptions)."""
ATTRIBUTE_AT_MOST: Final = 10_000
"""``status`` reads a dead-letter topic to count its letters by consumer only up to this size."""
_CE_TYPE_PREFIX: Final = "vn.mttq.supervision."


class OpsSettings(BaseSettings):
    """Where the services are: the variables of ``infra/bin/defaults``, with the same defaults."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", frozen=True)

    kafka_host: str = "127.0.0.1"
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_bootstrap_servers: str = ""
    pg_host: str = "127.0.0.1"
    pg_port: int = Field(default=5432, ge=1, le=65535)
    submission_database_url: str = ""
    tracking_database_url: str = ""
    disclosure_database_url: str = ""
    submission_http_host: str = "127.0.0.1"
    submission_http_port: int = Field(default=8081, ge=1, le=65535)
    disclosure_http_host: str = "127.0.0.1"
    disclosure_http_port: int = Field(default=8080, ge=1, le=65535)
    tracking_grpc_host: str = "127.0.0.1"
    tracking_grpc_port: int = Field(default=50051, ge=1, le=65535)
    disclosure_consumer_group: str = "disclosure"
    run_dir: Path = Path(".run")
    ops_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long `ops` waits for each source."
    )

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.kafka_host}:{self.kafka_port}"

    def database_url(self, service: str) -> str:
        url: str = getattr(self, f"{service}_database_url")
        pg = f"postgresql://supervision@{self.pg_host}:{self.pg_port}"
        return url or f"{pg}/supervision_{service}"

    def http_url(self, service: str) -> str:
        host, port = getattr(self, f"{service}_http_host"), getattr(self, f"{service}_http_port")
        return f"http://{host}:{port}"

    @property
    def tracking_address(self) -> str:
        return f"{self.tracking_grpc_host}:{self.tracking_grpc_port}"

    def group(self, service: str) -> str:
        """The consumer group of a service (also the ``dlq_consumer`` of its dead letters)."""
        return self.disclosure_consumer_group if service == "disclosure" else service

    @property
    def replay_log(self) -> Path:
        return self.run_dir / "replayed.jsonl"


def _settings() -> OpsSettings:
    # Client libraries log connection failures at ERROR; here they are reported in the output.
    for name in ("aiokafka", "asyncpg", "grpc"):
        library = logging.getLogger(name)
        library.addHandler(logging.NullHandler())
        library.propagate = False
    try:
        return OpsSettings()
    except ValidationError as error:
        lines = ["supervision ops: fix the environment:"]
        for problem in error.errors():
            name = "SUPERVISION_" + "_".join(str(part) for part in problem["loc"]).upper()
            lines.append(f"  {name}: {problem['msg']}")
        err.print("\n".join(lines), markup=False, highlight=False)
        raise typer.Exit(2) from None


# --- sources that may not answer -----------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """A source that did not answer, and how it failed."""

    source: str
    error: str

    def __str__(self) -> str:
        return f"{self.source} unreachable: {self.error}"


T = TypeVar("T")


def _describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details() or ''}"[:160]
    name = type(error).__name__
    text = " ".join(str(error).split()).removeprefix(f"{name}:").strip()
    return f"{name}: {text}"[:160] if text else name


async def _ask(source: str, question: Awaitable[T], within: float) -> T | Unavailable:
    try:
        async with asyncio.timeout(within):
            return await question
    except TimeoutError:
        return Unavailable(source, f"no answer within {within:g} s")
    except Exception as error:
        return Unavailable(source, _describe(error))


# --- readiness -----------------------------------------------------------------------------------


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


async def grpc_readiness(address: str, wait: float) -> Readiness:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=wait
        )
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return Readiness(True)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return Readiness(False, f"health {status} (its log names the dependency)")


# --- databases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    by_level: dict[str, int]
    escalated: int


async def database_facts(url: str, *, overdue: bool, wait: float) -> tuple[Backlog, Overdue]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url, timeout=wait)
    try:
        outbox = await read_backlog(connection)
        late = Overdue({}, 0)
        if overdue:
            rows = await connection.fetch(
                """
                SELECT coalesce(a.level, 'unknown agency') AS level, count(*) AS cases,
                       count(*) FILTER (WHERE c.escalated_at IS NOT NULL) AS escalated
                FROM cases c LEFT JOIN agencies a ON a.id = c.agency_id
                WHERE c.overdue_at IS NOT NULL AND c.answered_at IS NULL
                  AND c.status IN ('awaiting_answer', 'acknowledged')
                GROUP BY 1
                """
            )
            late = Overdue(
                {r["level"]: r["cases"] for r in rows}, sum(r["escalated"] for r in rows)
            )
        return outbox, late
    finally:
        await connection.close()


# --- Kafka ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kafka:
    """An admin client and a consumer without a group (it commits nothing)."""

    admin: AIOKafkaAdminClient
    consumer: AIOKafkaConsumer

    async def topics(self) -> list[str]:
        return sorted(await self.admin.list_topics())

    async def dlq_topics(self) -> list[str]:
        return [topic for topic in await self.topics() if deadletters.is_dead_letter_topic(topic)]

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """The partitions of those of ``topics`` that exist."""
        names = sorted(set(topics))
        if not names:
            return []
        return sorted(
            TopicPartition(described["topic"], partition["partition"])
            for described in await self.admin.describe_topics(names)
            if not described["error_code"]
            for partition in described["partitions"]
        )

    async def sizes(self, topics: Iterable[str]) -> dict[str, int]:
        """How many messages each topic holds now (end minus beginning offsets)."""
        names = list(topics)
        partitions = await self.partitions(names)
        if not partitions:
            return dict.fromkeys(names, 0)
        begins = await self.consumer.beginning_offsets(partitions)
        ends = await self.consumer.end_offsets(partitions)
        sizes: Counter[str] = Counter(dict.fromkeys(names, 0))
        for tp in partitions:
            sizes[tp.topic] += ends[tp] - begins[tp]
        return dict(sizes)


@contextlib.asynccontextmanager
async def _kafka(bootstrap: str, wait: float) -> AsyncIterator[Kafka]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(wait * 1000))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=int(wait * 1000)
    )
    try:
        await admin.start()
        await consumer.start()
        yield Kafka(admin, consumer)
    finally:
        for client in (consumer.stop, admin.close):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(wait):
                    await client()


async def group_lag(kafka: Kafka, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages not yet consumed by ``group``, by topic: end offsets minus committed offsets
    (minus the beginning, on a partition where the group has committed nothing)."""
    committed = await kafka.admin.list_consumer_group_offsets(group)
    partitions = await kafka.partitions({*topics, *(tp.topic for tp in committed)})
    if not partitions:
        return {}
    begins = await kafka.consumer.beginning_offsets(partitions)
    ends = await kafka.consumer.end_offsets(partitions)
    lag: Counter[str] = Counter()
    for tp in partitions:
        done = committed.get(tp)
        lag[tp.topic] += unread(
            end=ends[tp], beginning=begins[tp], committed=done.offset if done is not None else None
        )
    return dict(lag)


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


@dataclass(frozen=True)
class KafkaFacts:
    lag: dict[str, dict[str, int] | Unavailable]
    """Per consumer group."""
    dlq_sizes: dict[str, int]
    letters: list[DeadLetter]
    """Of the dead-letter topics small enough to read (see ATTRIBUTE_AT_MOST)."""
    unread: set[str]


async def kafka_facts(config: OpsSettings) -> KafkaFacts:
    wait = config.ops_timeout_seconds
    async with _kafka(config.bootstrap, wait) as kafka:
        lag: dict[str, dict[str, int] | Unavailable] = {}
        for service in SERVICES:
            group = config.group(service)
            lag[group] = await _ask(
                f"group {group}", group_lag(kafka, group, CONSUMED[service]), wait
            )
        sizes = await kafka.sizes(await kafka.dlq_topics())
        readable = [t for t, size in sizes.items() if 0 < size <= ATTRIBUTE_AT_MOST]
        letters = await read_topics(kafka, readable)
    unread = {t for t, size in sizes.items() if size > ATTRIBUTE_AT_MOST}
    return KafkaFacts(lag=lag, dlq_sizes=sizes, letters=letters, unread=unread)


# --- the replay log ------------------------------------------------------------------------------


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


# --- status --------------------------------------------------------------------------------------


@dataclass
class Report:
    readiness: dict[str, Readiness | Unavailable]
    databases: dict[str, tuple[Backlog, Overdue] | Unavailable]
    kafka: KafkaFacts | Unavailable
    replayed: dict[str, dict[str, Any]]
    """By message (see :func:`replays_by_message`)."""

    @property
    def healthy(self) -> bool:
        answers: list[object] = [*self.readiness.values(), *self.databases.values(), self.kafka]
        if isinstance(self.kafka, KafkaFacts):
            answers.extend(self.kafka.lag.values())
        return not any(isinstance(a, Unavailable) for a in answers) and all(
            isinstance(r, Readiness) and r.ready for r in self.readiness.values()
        )


async def gather_report(config: OpsSettings) -> Report:
    timeout = config.ops_timeout_seconds
    questions: dict[str, Awaitable[Any]] = {
        "ready submission": _ask(
            "submission /readyz", http_readiness(config.http_url("submission"), timeout), timeout
        ),
        "ready tracking": _ask(
            "tracking gRPC health", grpc_readiness(config.tracking_address, timeout), timeout
        ),
        "ready disclosure": _ask(
            "disclosure /readyz", http_readiness(config.http_url("disclosure"), timeout), timeout
        ),
        **{
            f"db {service}": _ask(
                f"{service} database",
                database_facts(
                    config.database_url(service), overdue=service == "tracking", wait=timeout
                ),
                timeout,
            )
            for service in SERVICES
        },
        "kafka": _ask(f"Kafka {config.bootstrap}", kafka_facts(config), timeout * 4),
    }
    answers = dict(zip(questions, await asyncio.gather(*questions.values()), strict=True))
    kafka = answers["kafka"]
    return Report(
        readiness={service: answers[f"ready {service}"] for service in SERVICES},
        databases={service: answers[f"db {service}"] for service in SERVICES},
        kafka=kafka,
        replayed=replays_by_message(
            kafka.letters if isinstance(kafka, KafkaFacts) else (),
            ReplayLog(config.replay_log).entries(),
        ),
    )


def _age(elapsed_seconds: float) -> str:
    seconds = max(0, int(elapsed_seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


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
    return f"[{colour}]{outbox.rows} pending, oldest {_age(oldest)}[/{colour}]"


def _lag_cell(group: str, service: str, kafka: KafkaFacts | Unavailable) -> str:
    if isinstance(kafka, Unavailable):
        return "[red]Kafka unreachable[/red]"
    lag = kafka.lag.get(group)
    if isinstance(lag, Unavailable):
        return _failed(lag)
    total = sum((lag or {}).values())
    named = "" if group == service else f"group {escape(group)}: "
    if not total:
        return f"{named}0"
    detail = ", ".join(f"{escape(t)} {n}" for t, n in sorted((lag or {}).items()) if n)
    return f"[yellow]{named}{total}[/yellow]\n{detail}"


def _dead_letters_cell(
    group: str, service: str, kafka: KafkaFacts | Unavailable, replayed: dict[str, Any]
) -> str:
    if isinstance(kafka, Unavailable):
        return "[red]Kafka unreachable[/red]"
    lines = []
    for topic in CONSUMED[service]:
        dlq = deadletters.topic_for(topic)
        if dlq in kafka.unread:
            lines.append(f"[yellow]{dlq}: {kafka.dlq_sizes[dlq]} (all consumers)[/yellow]")
            continue
        mine = [d for d in kafka.letters if d.topic == dlq and d.stamp.consumer == group]
        if not mine:
            continue
        done = sum(1 for d in mine if d.message in replayed)
        note = f" ({done} replayed)" if done else ""
        colour = "yellow" if done == len(mine) else "red"
        lines.append(f"[{colour}]{escape(dlq)}: {len(mine)}{note}[/{colour}]")
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


def status_table(config: OpsSettings, report: Report, now: datetime) -> Table:
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
        group = config.group(service)
        database = report.databases[service]
        table.add_row(
            f"[bold]{service}[/bold]",
            _ready_cell(report.readiness[service]),
            _outbox_cell(database),
            _lag_cell(group, service, report.kafka),
            _dead_letters_cell(group, service, report.kafka, report.replayed),
            _overdue_cell(database) if service == "tracking" else "[dim]—[/dim]",
        )
    if isinstance(report.kafka, KafkaFacts):
        sizes = ", ".join(f"{t} {n}" for t, n in sorted(report.kafka.dlq_sizes.items())) or "none"
        table.caption = (
            f"Dead-letter topics (messages, replayed or not): {escape(sizes)}\n"
            "`supervision ops dlq list` shows them; `ops dlq replay` publishes them again."
        )
    else:
        table.caption = _failed(report.kafka)
    return table


@app.command()
def status() -> None:
    """Each service: readiness, outbox backlog, consumer lag, dead letters, overdue cases.

    Exit status 1 when a service is not ready or a source does not answer."""
    config = _settings()
    report = asyncio.run(gather_report(config))
    console.print(status_table(config, report, datetime.now().astimezone()))
    if not report.healthy:
        raise typer.Exit(1)


# --- dead letters --------------------------------------------------------------------------------


def _dlq_name(topic: str) -> str:
    return topic if deadletters.is_dead_letter_topic(topic) else deadletters.topic_for(topic)


async def _read_dead_letters(
    config: OpsSettings, topic: str | None
) -> tuple[list[DeadLetter], list[str]]:
    """The dead letters of one DLQ (``topic`` or its ``.dlq``) or of all; and the DLQ names."""
    async with (
        asyncio.timeout(config.ops_timeout_seconds * 6),
        _kafka(config.bootstrap, config.ops_timeout_seconds) as kafka,
    ):
        known = await kafka.dlq_topics()
        wanted = [_dlq_name(topic)] if topic else known
        return await read_topics(kafka, [t for t in wanted if t in known]), known


def _load_dead_letters(config: OpsSettings, topic: str | None) -> list[DeadLetter]:
    try:
        letters, known = asyncio.run(_read_dead_letters(config, topic))
    except Exception as error:
        err.print(f"[red]Kafka {config.bootstrap} unreachable: {escape(_describe(error))}[/red]")
        raise typer.Exit(1) from None
    if topic and _dlq_name(topic) not in known:
        err.print(
            f"[red]There is no topic {_dlq_name(topic)}.[/red] Dead-letter topics:"
            f" {', '.join(known) or 'none'}"
        )
        raise typer.Exit(2)
    return letters


def _short_type(ce_type: str) -> str:
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


def _letters_table(
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
            f"{_short_type(letter.ce_type)}\n{letter.ce_id or '—'}",
            f"[bold]{escape(letter.stamp.error_kind or '?')}[/bold]\n{escape(reason)}",
            _replay_note(letter, replayed),
        )
    return table


@dlq_app.command("list")
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
    config = _settings()
    letters = _load_dead_letters(config, topic)
    if not letters:
        console.print("No dead letters.")
        return
    shown = letters[-limit:]
    title = f"{len(letters)} dead letters" + (
        f", the latest {len(shown)}" if len(shown) < len(letters) else ""
    )
    replayed = replays_by_message(letters, ReplayLog(config.replay_log).entries())
    console.print(_letters_table(title, shown, replayed, full))


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
    config: OpsSettings, messages: Sequence[list[DeadLetter]], log: ReplayLog, again: bool
) -> tuple[list[Replayed], list[list[DeadLetter]]]:
    """Publish each message to its topic, then record each of its copies as replayed; skip a
    message replayed meanwhile (unless ``again``)."""
    done: list[Replayed] = []
    skipped: list[list[DeadLetter]] = []
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


@dlq_app.command("replay")
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
    config = _settings()
    dlq = _dlq_name(topic)
    letters = _load_dead_letters(config, dlq)
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
    console.print(_letters_table(f"To publish again to {origin}", shown, replayed, False))
    question = f"Publish {len(messages)} message(s) to {origin} again?"
    if not yes and not typer.confirm(question):
        err.print("Nothing replayed.")
        raise typer.Exit(1)
    try:
        published, skipped = asyncio.run(_republish(config, messages, log, again))
    except Exception as error:
        err.print(
            f"[red]Could not publish to Kafka {config.bootstrap}: {escape(_describe(error))}[/red]"
            f"\nWhat was published before this is recorded in {config.replay_log}."
        )
        raise typer.Exit(1) from None
    for item in published:
        letter, *copies = item.copies
        also = f" (with its copies {', '.join(d.position for d in copies)})" if copies else ""
        console.print(
            f"replayed {dlq} {letter.position}{also} → {origin} {item.partition}:{item.offset}"
            f" ({_short_type(letter.ce_type)} {letter.ce_id or 'without ce_id'})"
        )
    for copies in skipped:
        err.print(f"[yellow]Skipped {dlq} {copies[0].position}: replayed meanwhile.[/yellow]")
    console.print(f"{len(published)} replayed; recorded in {config.replay_log}.")
    if refused and not all_letters:
        raise typer.Exit(1)
