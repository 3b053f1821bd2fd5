"""The system under load: organisations submitting critiques over HTTP, agencies answering the
cases they are sent over gRPC (watched with WatchCases), and the public reading records, all at
once, against the three services as processes on fresh engines.

A critique is *public* when it appears in disclosure's change feed (``GET /v1/changes``), which
the benchmark polls: by the disclosure policy that is once the agency has answered it, so accept
→ public includes the agency's answer (sent as soon as the case reaches the agency's watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench import history
from bench.http1 import Connection
from bench.report import percentile
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.disclosure import queries
from tests.support.directory import Directory, register
from tests.support.engines import Engines, start_engines
from tests.support.journeys import agency_metadata, critique_body
from tests.support.services import Deployment, deployed

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TRACING_ON = {"OTEL_TRACES_EXPORTER": "otlp_json_file", "OTEL_BSP_SCHEDULE_DELAY": "5000"}
"""Spans recorded and written as OTLP/JSON lines (the SDK's default batching)."""
TRACING_OFF = {"OTEL_TRACES_EXPORTER": "none", "OTEL_TRACES_SAMPLER": "always_off"}
"""No span recorded or exported (the trace context still travels, unsampled)."""

SHEDDING = {
    # Bounds that keep accept → public within seconds at this machine's rate: a few seconds'
    # worth of backlog in the outbox or behind tracking's and disclosure's consumers.
    "SUPERVISION_SUBMISSION_SHED_OUTBOX_ROWS": "200",
    "SUPERVISION_SUBMISSION_SHED_OUTBOX_AGE_SECONDS": "0.5",
    "SUPERVISION_SUBMISSION_SHED_CONSUMER_LAG": "100",
    # The oldest event a consumer has not taken yet, on every topic behind a write (the
    # agencies' answers on tracking.cases too): half a second of the 2 s bound.
    "SUPERVISION_SUBMISSION_SHED_CONSUMER_LAG_SECONDS": "0.5",
    "SUPERVISION_SUBMISSION_SHED_CHECK_INTERVAL_SECONDS": "0.25",
    "SUPERVISION_SUBMISSION_SHED_WRITES_IN_FLIGHT": "16",
}
"""The overload phase's bounds (``SUPERVISION_SUBMISSION_SHED_*``, README: back-pressure)."""

LIMITS = {
    # One organisation may send 20/s by default; the benchmark is one client sending far more.
    "SUPERVISION_SUBMISSION_RATE_PER_SECOND": "1000000",
    "SUPERVISION_SUBMISSION_RATE_BURST": "1000000",
    "SUPERVISION_DISCLOSURE_RATE_PER_SECOND": "1000000",
    "SUPERVISION_DISCLOSURE_RATE_BURST": "1000000",
}


@dataclass(frozen=True)
class Load:
    seconds: float
    rate: float
    """Submissions offered per second (open loop); 0: as fast as ``in_flight`` clients go."""
    tracing: bool = True
    organisations: int = 4
    in_flight: int = 128
    answerers: int = 32
    readers: int = 2
    drain_seconds: float = 300.0
    profile: Path | None = None
    """Record each service with py-spy during the window, as collapsed stacks in this folder."""
    shedding: bool = False
    """Submission refuses writes past tight bounds on its backlogs (:data:`SHEDDING`); a
    refused submission is counted and not offered again (open loop: the load goes on)."""
    history: int = 0
    """Critiques preloaded into the three databases before the load (:mod:`bench.history`)."""


@dataclass
class Process:
    pid: int
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class Statements:
    """What one database ran (``pg_stat_statements``): top-level statements, each one round trip
    from a client, and the nested ones (in triggers, functions and foreign-key checks), with the
    calls of each statement (for ``--profile``)."""

    top: int = 0
    nested: int = 0
    calls: dict[tuple[bool, str], int] = field(default_factory=dict)
    """(top-level, the statement's text) → calls."""

    def __sub__(self, other: Statements) -> Statements:
        calls = {
            key: count - other.calls.get(key, 0)
            for key, count in self.calls.items()
            if count - other.calls.get(key, 0)
        }
        return Statements(self.top - other.top, self.nested - other.nested, calls)

    def most_called(self, count: int = 40) -> list[tuple[int, bool, str]]:
        ranked = sorted(self.calls.items(), key=lambda item: -item[1])[:count]
        return [(calls, top, text) for (top, text), calls in ranked]


async def statements(deployment: Deployment) -> dict[str, Statements]:
    """Per service, the statements its database has run so far (cluster-wide counters)."""
    import asyncpg

    names = {url.rsplit("/", 1)[1]: service for service, url in deployment.database_urls.items()}
    connection = await asyncpg.connect(deployment.database_urls["submission"])
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = await connection.fetch(
            """
            SELECT d.datname, s.toplevel, s.query, sum(s.calls)::bigint AS calls
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            GROUP BY d.datname, s.toplevel, s.query
            """
        )
    finally:
        await connection.close()
    calls: dict[str, dict[tuple[bool, str], int]] = {s: {} for s in deployment.database_urls}
    for row in rows:
        service = names.get(row["datname"])
        if service is not None:
            key = (bool(row["toplevel"]), " ".join(str(row["query"]).split()))
            calls[service][key] = calls[service].get(key, 0) + int(row["calls"])
    return {
        service: Statements(
            top=sum(n for (top, _), n in counted.items() if top),
            nested=sum(n for (top, _), n in counted.items() if not top),
            calls=counted,
        )
        for service, counted in calls.items()
    }


@dataclass
class Outcome:
    load: Load
    seconds: float = 0.0
    accepted: dict[str, float] = field(default_factory=dict)
    """critique id → when its 201 arrived (perf_counter)."""
    accept_latencies: list[float] = field(default_factory=list)
    public: dict[str, float] = field(default_factory=dict)
    """critique id → when it was first seen in the change feed."""
    public_ids: list[str] = field(default_factory=list)
    """The same ids, in the order they were seen (for the readers to pick from)."""
    cases_seen: int = 0
    """Cases opened that reached the agencies' watch."""
    answers: list[tuple[float, float]] = field(default_factory=list)
    """(when answered, latency) of each SubmitAnswer that returned OK."""
    reads: list[tuple[float, float]] = field(default_factory=list)
    """(when read, latency) of each public read of a record."""
    window: tuple[float, float] = (0.0, 0.0)
    drained: bool = False
    drain_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    services: dict[str, Process] = field(default_factory=dict)
    engines: dict[str, Process] = field(default_factory=dict)
    generator_cpu_seconds: float = 0.0
    shed: int = 0
    """Submissions refused with 503 (overloaded), with ``Load.shedding``."""
    versions: dict[str, str] = field(default_factory=dict)
    statements: dict[str, Statements] = field(default_factory=dict)
    """Per service, what its database ran over the window and the drain."""
    history_seconds: float = 0.0
    """How long preloading ``load.history`` critiques took (before the run, not in it)."""

    def _in_window(self, moments: list[float]) -> int:
        start, end = self.window
        return sum(1 for moment in moments if start <= moment <= end)

    @property
    def accepted_per_second(self) -> float:
        return self._in_window(list(self.accepted.values())) / self.seconds

    @property
    def public_per_second(self) -> float:
        return self._in_window(list(self.public.values())) / self.seconds

    @property
    def journeys_per_second(self) -> float:
        """Critiques made public over the window and the drain after it."""
        return len(self.public) / (self.seconds + self.drain_seconds)

    @property
    def answers_per_second(self) -> float:
        return self._in_window([at for at, _ in self.answers]) / self.seconds

    @property
    def reads_per_second(self) -> float:
        return self._in_window([at for at, _ in self.reads]) / self.seconds

    def accept_ms(self, fraction: float) -> float:
        return percentile(self.accept_latencies, fraction) * 1000

    def to_public_s(self, fraction: float) -> float:
        return percentile(
            [self.public[c] - at for c, at in self.accepted.items() if c in self.public], fraction
        )

    def answer_ms(self, fraction: float) -> float:
        return percentile([latency for _, latency in self.answers], fraction) * 1000

    def read_ms(self, fraction: float) -> float:
        return percentile([latency for _, latency in self.reads], fraction) * 1000


# -- processes -------------------------------------------------------------------------------------


def _status_kb(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    """CPU of the process and of its children that have exited (PostgreSQL's backends end when
    their pool closes them; the postmaster then holds their time)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # utime, stime, cutime, cstime are fields 14 to 17; fields[0] here is the 3rd (state).
        return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return 0.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the engines run as scripts that start children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), MB."""
    return _status_kb(pid, "VmHWM") / 1024


def tree_peak_rss_mb(pid: int) -> float:
    """The sum of the peaks of ``pid`` and its descendants (an upper bound of their peak)."""
    return sum(_status_kb(each, "VmHWM") for each in _tree(pid)) / 1024


def tree_cpu_seconds(pid: int) -> float:
    return sum(_cpu_seconds(each) for each in _tree(pid))


def _profile(processes: dict[str, int], load: Load) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service for the window (``--format raw``: collapsed stacks, one line per
    stack with its sample count, for flamegraph.pl, speedscope or a sort)."""
    assert load.profile is not None
    load.profile.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    return [
        subprocess.Popen(  # noqa: S603 -- our own tool on our own children
            [
                str(py_spy),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(load.seconds))),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(load.profile / f"{name}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in processes.items()
    ]


def _write_statements(folder: Path, outcome: Outcome) -> None:
    """Each database's most called statements over the run, per journey, beside the profiles."""
    folder.mkdir(parents=True, exist_ok=True)
    journeys = max(1, len(outcome.public))
    for service, counted in outcome.statements.items():
        lines = [
            f"{calls / journeys:8.2f} {'top' if top else 'nested'} {text[:300]}"
            for calls, top, text in counted.most_called()
        ]
        (folder / f"{service}.statements.txt").write_text("\n".join(lines) + "\n")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# -- the run ---------------------------------------------------------------------------------------


async def run(load: Load, *, log: Path | None = None) -> Outcome:
    """Start fresh engines and the services, preload ``load.history`` critiques, apply ``load``,
    and measure."""
    with ExitStack() as stack:
        engines = start_engines(stack)
        env = {
            **LIMITS,
            **(TRACING_ON if load.tracing else TRACING_OFF),
            **(SHEDDING if load.shedding else {}),
        }
        async with deployed(engines, "bench", extra_env=env) as deployment:
            outcome = Outcome(load)
            if load.history:
                begun = time.perf_counter()
                await history.preload(deployment.database_urls, load.history)
                outcome.history_seconds = time.perf_counter() - begun
            await _measure(engines, deployment, outcome)
            if log is not None:
                _keep_logs(deployment, log)
            return outcome


def _keep_logs(deployment: Deployment, log: Path) -> None:
    """Each process's last log lines, and the spans the services exported (OTLP/JSON lines)."""
    log.mkdir(parents=True, exist_ok=True)
    for name, process in deployment.processes.items():
        (log / f"{name}.log").write_text(process.log_tail(200))
    for traces in deployment.traces_dir.glob("*.jsonl"):
        shutil.copyfile(traces, log / f"{traces.stem}.traces.jsonl")


async def versions(engines: Engines, deployment: Deployment) -> dict[str, str]:
    import asyncpg

    connection = await asyncpg.connect(deployment.database_urls["submission"])
    try:
        postgres = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    return {"postgresql": postgres}


async def last_change(deployment: Deployment) -> int:
    """Disclosure's latest change number: the load's records are those published after it."""
    import asyncpg

    connection = await asyncpg.connect(deployment.database_urls["disclosure"])
    try:
        return await queries.last_change(connection)
    finally:
        await connection.close()


async def _measure(engines: Engines, deployment: Deployment, outcome: Outcome) -> None:
    load = outcome.load
    outcome.versions = await versions(engines, deployment)
    directories = [await register(deployment) for _ in range(load.organisations)]
    stop_submitting = asyncio.Event()
    stop_all = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    cases: asyncio.Queue[tuple[Directory, pb.Case]] = asyncio.Queue()
    watching: list[asyncio.Event] = [asyncio.Event() for _ in directories]

    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        for directory, ready in zip(directories, watching, strict=True):
            tasks.append(
                asyncio.create_task(_watch(agency, directory, cases, ready, stop_all, outcome))
            )
        for _ in range(load.answerers):
            tasks.append(asyncio.create_task(_answer(agency, cases, outcome, stop_all)))
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in watching)), 30)
        since = await last_change(deployment)
        tasks.append(asyncio.create_task(_follow_public(deployment, outcome, stop_all, since)))
        for _ in range(load.readers):
            tasks.append(asyncio.create_task(_read_public(deployment, outcome, stop_submitting)))
        processes = {name: p.popen.pid for name, p in deployment.processes.items()}
        engine_pids = {name: p.popen.pid for name, p in engines.processes.items()}
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in processes.items()}
        engine_cpu_before = {name: tree_cpu_seconds(pid) for name, pid in engine_pids.items()}
        own_before = _own_cpu_seconds()
        statements_before = await statements(deployment)

        profilers = _profile(processes, load) if load.profile else []
        start = time.perf_counter()
        await _submit(deployment, directories, load, outcome, stop_submitting, start)
        end = time.perf_counter()
        outcome.window = (start, end)
        outcome.seconds = end - start

        for profiler in profilers:
            try:
                await asyncio.to_thread(profiler.wait, 30)
            except subprocess.TimeoutExpired:
                profiler.kill()
        # Drain: everything accepted should become public.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(load.drain_seconds):
                while set(outcome.accepted) - set(outcome.public):  # noqa: ASYNC110 -- polls
                    await asyncio.sleep(0.1)
        outcome.drained = not set(outcome.accepted) - set(outcome.public)
        outcome.drain_seconds = time.perf_counter() - end
        # CPU over the window and the drain: all the work of the journeys that became public.
        cpu_after = {name: tree_cpu_seconds(pid) for name, pid in processes.items()}
        engine_cpu_after = {name: tree_cpu_seconds(pid) for name, pid in engine_pids.items()}
        outcome.generator_cpu_seconds = _own_cpu_seconds() - own_before
        statements_after = await statements(deployment)
        outcome.statements = {
            service: statements_after[service] - statements_before[service]
            for service in statements_after
        }
        if load.profile:
            _write_statements(load.profile, outcome)
        outcome.services = {
            name: Process(pid, peak_rss_mb(pid), cpu_after[name] - cpu_before[name])
            for name, pid in processes.items()
        }
        outcome.engines = {
            name: Process(
                pid, tree_peak_rss_mb(pid), engine_cpu_after[name] - engine_cpu_before[name]
            )
            for name, pid in engine_pids.items()
        }
        stop_all.set()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                outcome.errors[f"task: {result!r}"[:200]] += 1


# -- organisations ---------------------------------------------------------------------------------


async def _submit(
    deployment: Deployment,
    directories: list[Directory],
    load: Load,
    outcome: Outcome,
    stop: asyncio.Event,
    start: float,
) -> None:
    """Offer submissions for ``load.seconds``: paced at ``load.rate`` (open loop: a ticket per
    submission, taken by whichever client is free) or as fast as the clients go."""
    tickets: asyncio.Queue[None] = asyncio.Queue()
    numbers = itertools.count()

    async def pace() -> None:
        for n in itertools.count():
            due = start + n / load.rate
            if due - start >= load.seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tickets.put_nowait(None)

    async def client(index: int) -> None:
        directory = directories[index % len(directories)]
        headers = {
            "Authorization": f"Bearer {directory.organisation_token}",
            "Content-Type": "application/json",
        }
        connection = Connection.to(deployment.submission_url)
        try:
            while time.perf_counter() - start < load.seconds:
                if load.rate:
                    try:
                        await asyncio.wait_for(tickets.get(), 0.25)
                    except TimeoutError:
                        continue
                n = next(numbers)
                body = critique_body(
                    directory,
                    title=f"Kiến nghị đo hiệu năng số {n}",
                    points=[
                        {"number": 1, "text": f"Đề nghị công khai phương án bồi thường {n}."},
                        {"number": 2, "text": "Lấy ý kiến các hộ dân bị ảnh hưởng."},
                    ],
                )
                await _submit_one(
                    connection,
                    {**headers, "Idempotency-Key": str(uuid.uuid4())},
                    json.dumps(body).encode(),
                    outcome,
                )
        finally:
            await connection.close()

    pacer = asyncio.create_task(pace()) if load.rate else None
    await asyncio.gather(*(client(i) for i in range(load.in_flight)))
    stop.set()
    if pacer is not None:
        pacer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacer


async def _submit_one(
    connection: Connection, headers: dict[str, str], body: bytes, outcome: Outcome
) -> None:
    while True:
        begun = time.perf_counter()
        try:
            reply = await connection.request("POST", "/v1/critiques", body=body, headers=headers)
        except (OSError, asyncio.IncompleteReadError) as error:
            outcome.retries[type(error).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        now = time.perf_counter()
        if reply.status == 201:
            outcome.accepted[reply.json()["id"]] = now
            outcome.accept_latencies.append(now - begun)
            return
        if reply.status == 503 and outcome.load.shedding:
            outcome.shed += 1
            return
        if reply.status in (409, 429, 503):
            outcome.retries[str(reply.status)] += 1
            await asyncio.sleep(0.1)
            continue
        outcome.errors[f"submit {reply.status}: {reply.body[:200]!r}"] += 1
        return


# -- agencies --------------------------------------------------------------------------------------


async def _watch(
    agency: pb_grpc.AgencyServiceStub,
    directory: Directory,
    cases: asyncio.Queue[tuple[Directory, pb.Case]],
    ready: asyncio.Event,
    stop: asyncio.Event,
    outcome: Outcome,
) -> None:
    """Hand every case opened for this agency to the answerers, as WatchCases streams it."""
    cursor = ""
    while not stop.is_set():
        stream = agency.WatchCases(
            pb.WatchCasesRequest(cursor=cursor, from_beginning=not cursor),
            metadata=agency_metadata(directory),
        )
        # From the beginning (the agency is new): no case opened before the stream is lost.
        ready.set()
        try:
            async for change in _changes(stream):
                cursor = change.cursor
                if change.change == pb.CHANGE_KIND_OPENED:
                    outcome.cases_seen += 1
                    cases.put_nowait((directory, change.case))
        except grpc.aio.AioRpcError as error:
            outcome.retries[f"watch {error.code().name}"] += 1
            await asyncio.sleep(0.2)


async def _changes(stream: grpc.aio.UnaryStreamCall) -> AsyncIterator[pb.CaseChange]:
    async for change in stream:
        yield change


async def _answer(
    agency: pb_grpc.AgencyServiceStub,
    cases: asyncio.Queue[tuple[Directory, pb.Case]],
    outcome: Outcome,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        directory, case = await cases.get()
        request = pb.SubmitAnswerRequest(
            case_id=case.case_id,
            request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, case.case_id)),
            version=case.version,
            answers=[
                pb.PointAnswer(
                    point_number=point.number,
                    disposition=pb.DISPOSITION_ACCEPTED,
                    explanation=f"Tiếp thu điểm {point.number}.",
                )
                for point in case.points
            ],
        )
        while True:
            begun = time.perf_counter()
            try:
                await agency.SubmitAnswer(request, metadata=agency_metadata(directory), timeout=30)
            except grpc.aio.AioRpcError as error:
                if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    outcome.retries[error.code().name] += 1
                    await asyncio.sleep(0.1)
                    continue
                outcome.errors[f"answer {error.code().name}: {error.details()}"[:200]] += 1
                break
            now = time.perf_counter()
            outcome.answers.append((now, now - begun))
            break


# -- the public ------------------------------------------------------------------------------------


async def _follow_public(
    deployment: Deployment, outcome: Outcome, stop: asyncio.Event, since: int
) -> None:
    """Note when each critique first appears in disclosure's change feed, after ``since``."""
    connection = Connection.to(deployment.disclosure_url)
    try:
        while not stop.is_set():
            reply = await connection.request("GET", f"/v1/changes?since={since}&limit=1000")
            now = time.perf_counter()
            if reply.status != 200:
                outcome.errors[f"changes {reply.status}"] += 1
                await asyncio.sleep(0.1)
                continue
            feed = reply.json()
            for item in feed["items"]:
                if item["critique_id"] not in outcome.public:
                    outcome.public[item["critique_id"]] = now
                    outcome.public_ids.append(item["critique_id"])
            since = feed["next_since"]
            if not feed["items"]:
                await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def _read_public(deployment: Deployment, outcome: Outcome, stop: asyncio.Event) -> None:
    """Read published records by id, one after the other, while critiques are coming in."""
    connection = Connection.to(deployment.disclosure_url)
    chooser = random.Random(0)  # noqa: S311 -- which record to read, not a secret
    try:
        while not stop.is_set():
            if not outcome.public_ids:
                await asyncio.sleep(0.05)
                continue
            critique_id = chooser.choice(outcome.public_ids)
            begun = time.perf_counter()
            reply = await connection.request("GET", f"/v1/records/{critique_id}")
            now = time.perf_counter()
            if reply.status == 200:
                outcome.reads.append((now, now - begun))
            else:
                outcome.errors[f"read {reply.status}"] += 1
    finally:
        await connection.close()
