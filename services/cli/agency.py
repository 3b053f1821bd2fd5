"""``supervision agency``: a state agency receives and answers the Front's critiques over the
agency gRPC API (``--address``/``SUPERVISION_TRACKING_ADDRESS``, ``--token``/
``SUPERVISION_AGENCY_TOKEN``); ``demo`` is the demo agency that ``make run`` starts.

Exit codes: 0 done, or stopped by Ctrl-C / SIGTERM; 1 refused by the API, unreachable, or an
invalid answer file; 2 a usage error."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import sys
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
import yaml

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.problems import FieldViolation
from services.cli import critique_views as views
from services.cli.agency_demo import DemoAgency, demo_token
from services.cli.agency_views import (
    cases_table,
    change_line,
    detail,
    moment,
    points_table,
)
from services.cli.critique_views import err, fail, out
from services.tracking.agency_client import (
    TLS_SETTINGS,
    AgencyApiError,
    AgencyClient,
    Answer,
    Disposition,
    credentials_from_environment,
)

DEFAULT_ADDRESS = "127.0.0.1:50051"
TOKEN_WAIT_SECONDS = 120.0

app = typer.Typer(
    no_args_is_help=True, help="Receive and answer critiques as an agency (tracking gRPC API)."
)
log = logging.getLogger("supervision.agency")

Address = Annotated[
    str,
    typer.Option(envvar="SUPERVISION_TRACKING_ADDRESS", help="The tracking service (host:port)."),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="SUPERVISION_AGENCY_TOKEN", help="Your agency's API token.", show_default=False
    ),
]
CaseRef = Annotated[str, typer.Argument(help="Case id, or its start as `cases` shows it.")]


class Status(enum.StrEnum):
    AWAITING_ANSWER = "awaiting_answer"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"

    @property
    def wire(self) -> pb.CaseStatus.ValueType:
        return {
            Status.AWAITING_ANSWER: pb.CASE_STATUS_AWAITING_ANSWER,
            Status.ACKNOWLEDGED: pb.CASE_STATUS_ACKNOWLEDGED,
            Status.ANSWERED: pb.CASE_STATUS_ANSWERED,
            Status.WITHDRAWN: pb.CASE_STATUS_WITHDRAWN,
        }[self]


# ── running a command ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Session:
    address: str
    token: str | None
    credentials: grpc.ChannelCredentials | None = None

    def client(self) -> AgencyClient:
        return AgencyClient(self.address, self.token, credentials=self.credentials)


def _credentials() -> grpc.ChannelCredentials | None:
    try:
        return credentials_from_environment()
    except (OSError, ValueError) as error:
        raise fail(f"cannot use the TLS files ({', '.join(TLS_SETTINGS)}): {error}", 2) from None


def _session(address: str, token: str | None) -> Session:
    credentials = _credentials()
    if not token and not os.environ.get("SUPERVISION_AGENCY_CERT_FILE"):
        raise fail(
            "no agency token: set SUPERVISION_AGENCY_TOKEN (or pass --token) to your agency's"
            " token, as issued by `supervision admin agency token AGENCY_ID --label …`, or,"
            " where tracking requires client certificates, SUPERVISION_AGENCY_CERT_FILE and"
            " SUPERVISION_AGENCY_KEY_FILE to your agency's.",
            2,
        )
    return Session(address, token, credentials)


def _run(address: str, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main``; a refusal or an outage ends the command with a message and exit code 1."""
    try:
        asyncio.run(_until_stopped(main))
    except AgencyApiError as refused:
        if refused.code == grpc.StatusCode.UNAVAILABLE:
            raise fail(
                f"cannot reach the tracking service at {address}: {refused.message}"
            ) from None
        if refused.reason == "VERSION_MISMATCH":
            raise fail(
                f"{refused}: the organisation amended it; read it again (`supervision agency"
                f" show`) and answer version {refused.current_version}"
            ) from None
        if not refused.violations:
            raise fail(str(refused)) from None
        violations = [FieldViolation(field=f, message=m) for f, m in refused.violations]
        views.print_violations(err, refused.code.name, refused.message, violations)
        raise typer.Exit(1) from None


async def _until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """``main`` until it ends, or until SIGINT/SIGTERM cancels it (a normal end: exit 0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    task = asyncio.create_task(main)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        err.print("Stopped.", style="dim")
    else:
        task.result()


async def _resolve(api: AgencyClient, reference: str) -> str:
    """A full case id, or the start of one as `cases` shows it."""
    with contextlib.suppress(ValueError):
        return str(uuid.UUID(reference))
    prefix = reference.strip().lower()
    if len(prefix) < 4:
        raise fail(f"{reference!r} is not a case id: give at least 4 characters", 2)
    matches = [
        c.case_id async for c in api.list_cases(page_size=200) if c.case_id.startswith(prefix)
    ]
    if len(matches) > 1:
        raise fail(f"{len(matches)} of your cases start with {reference!r}: give more", 2)
    if not matches:
        raise fail(f"none of your cases has an id starting with {reference!r}")
    return matches[0]


@app.command()
def cases(
    address: Address = DEFAULT_ADDRESS,
    token: Token = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue cases.")] = False,
    status: Annotated[Status | None, typer.Option(help="Only these.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
) -> None:
    """Your agency's cases, newest first."""
    session = _session(address, token)

    async def main() -> None:
        async with session.client() as api:
            found: list[pb.Case] = []
            async for case in api.list_cases(
                status=status.wire if status else None,
                overdue_only=overdue,
                page_size=min(limit + 1, 500),
            ):
                found.append(case)
                if len(found) > limit:
                    break
        if not found:
            out.print("No cases.")
            return
        out.print(cases_table(found[:limit]))
        if len(found) > limit:
            out.print(f"… more than {limit}; use --limit, --status or --overdue.")

    _run(session.address, main())


@app.command()
def show(case: CaseRef, address: Address = DEFAULT_ADDRESS, token: Token = None) -> None:
    """A case: its points, due date and how it was computed, extensions and history."""
    session = _session(address, token)

    async def main() -> None:
        async with session.client() as api:
            out.print(detail(await api.get_case(await _resolve(api, case))))

    _run(session.address, main())


@app.command()
def ack(case: CaseRef, address: Address = DEFAULT_ADDRESS, token: Token = None) -> None:
    """Confirm receipt of a case: the organisation can then no longer amend or withdraw it."""
    session = _session(address, token)

    async def main() -> None:
        async with session.client() as api:
            done = await api.acknowledge(await _resolve(api, case))
        out.print(
            f"Acknowledged {done.case_id} at {moment(done.acknowledged_at)}: {done.title}"
            f" — due {done.due_date}",
            highlight=False,
        )

    _run(session.address, main())


@app.command()
def extend(
    case: CaseRef,
    until: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="The due date asked for (YYYY-MM-DD).")
    ],
    reason: Annotated[str, typer.Option(help="Why more time is needed.")],
    address: Address = DEFAULT_ADDRESS,
    token: Token = None,
) -> None:
    """Ask the organisation for a later due date; its decision arrives as a change (`watch`)."""
    session = _session(address, token)

    async def main() -> None:
        async with session.client() as api:
            case_id = await _resolve(api, case)
            done = await api.request_extension(case_id, reason=reason, until=until.date())
        out.print(f"Extension to {until.date()} requested for {done.case_id}", highlight=False)

    _run(session.address, main())


def _read_answers(source: str) -> tuple[list[Answer], int | None]:
    """A YAML or JSON list of {point_number, disposition, explanation}, or {version: N,
    answers: [...]}; the answers and the version named, if any."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = yaml.safe_load(text)  # JSON is YAML too
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as unreadable:
        raise fail(f"cannot read {source}: {unreadable}", 2) from None
    version = None
    if isinstance(data, dict) and "answers" in data:
        named = data.get("version")
        if named is not None and (not isinstance(named, int) or isinstance(named, bool)):
            raise fail(f"{source}: version must be the case's version number, e.g. 1", 2)
        version = named
        data = data["answers"]
    if not isinstance(data, list):
        raise fail(f"{source} must hold a list of answers, one per point", 2)
    answers: list[Answer] = []
    problems: list[FieldViolation] = []
    choices = ", ".join(d.value for d in Disposition)
    for index, item in enumerate(data):
        entry: dict[str, Any] = item if isinstance(item, dict) else {}
        number, disposition = entry.get("point_number"), entry.get("disposition")
        explanation = entry.get("explanation") or ""
        found = []
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            found.append(("point_number", "a point number (1, 2, …)"))
        if disposition not in {d.value for d in Disposition}:
            found.append(("disposition", f"one of {choices}"))
        if not isinstance(explanation, str):
            found.append(("explanation", "a text"))
        problems += [FieldViolation(field=f"[{index}].{f}", message=m) for f, m in found]
        if not found and isinstance(number, int):
            answers.append(Answer(number, Disposition(disposition), explanation))
    if problems:
        views.print_violations(err, f"{source} is not a valid answer", None, problems)
        raise typer.Exit(1)
    return answers, version


@app.command()
def answer(
    case: CaseRef,
    file: Annotated[str, typer.Argument(help="YAML or JSON answers; - reads stdin.")],
    address: Address = DEFAULT_ADDRESS,
    token: Token = None,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            min=1,
            help="The version of the case you answer (`show` prints it), unless the file names it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Answer every point of a case at once, from a list of
    {point_number, disposition: accepted|partly_accepted|not_accepted, explanation}
    (or {version: N, answers: [...]}). The answers are to the points of that version: if the
    organisation amended the case since, the answer is refused and says the current version."""
    session = _session(address, token)
    answers, named = _read_answers(file)
    if version is not None and named is not None and version != named:
        raise fail(f"--version {version} but {file} says version {named}", 2)
    answered = version or named
    if answered is None:
        raise fail(
            "say which version of the case you answer: --version N (`supervision agency show`"
            " prints it), or version: N in the file",
            2,
        )

    async def main() -> None:
        async with session.client() as api:
            done = await api.answer(await _resolve(api, case), answers, version=answered)
        late = "late / quá hạn" if done.answered_late else "on time / đúng hạn"
        out.print(f"Answered {done.case_id} ({late})", highlight=False)
        out.print(points_table(done))

    _run(session.address, main())


@app.command()
def watch(
    address: Address = DEFAULT_ADDRESS,
    token: Token = None,
    cursor: Annotated[str | None, typer.Option(help="Resume after this change.")] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Replay every change first.")
    ] = False,
) -> None:
    """Print each change of your cases as it happens, until Ctrl-C."""
    session = _session(address, token)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)

    async def main() -> None:
        async with session.client() as api:
            async for change in api.watch(cursor=cursor, from_beginning=from_beginning):
                out.print(change_line(change), highlight=False)

    _run(session.address, main())


# ── the demo agency ──────────────────────────────────────────────────────────────────────────


@app.command()
def demo(
    address: Address = DEFAULT_ADDRESS,
    token: Token = None,
    answer_after: Annotated[
        float, typer.Option(min=0, help="Seconds between acknowledging a case and answering it.")
    ] = 20.0,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            help="Where to find DEMO_AGENCY_TOKEN without --token (default:"
            " demo-tokens.env in $SUPERVISION_RUN_DIR, or in .run).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The demo agency of `make run`: acknowledges each new case of its agency and answers it
    (every point accepted, the last one partly) a little later, until Ctrl-C or SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    path = tokens_file or Path(os.environ.get("SUPERVISION_RUN_DIR") or ".run") / "demo-tokens.env"

    async def main() -> None:
        credentials = _credentials()
        by_certificate = bool(os.environ.get("SUPERVISION_AGENCY_CERT_FILE"))
        secret = token if token or by_certificate else await demo_token(path)
        async with AgencyClient(address, secret, credentials=credentials) as api:
            await DemoAgency(api, answer_after).run()

    _run(address, main())
