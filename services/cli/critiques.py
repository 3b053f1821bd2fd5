"""``supervision critique``: a Front officer submits and follows critiques over the submission API
(``--api-url``/``SUPERVISION_API_URL``, ``--token``/``SUPERVISION_TOKEN``).

Exit codes: 0 done; 1 refused by the API, unreachable, or invalid content; 2 a usage error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from contracts.lifecycle import RequestStatus
from contracts.submission_api import ChangeRequestOut, ContentIn, CritiqueIn, CritiqueStatus
from services.cli import critique_views as views
from services.cli.critique_input import prompt_critique, read_document, validated
from services.cli.critique_views import err, fail, out
from services.submission.client import ApiError, ApiUnavailable, StillPending, SubmissionClient

DEFAULT_API_URL = "http://127.0.0.1:8081"

app = typer.Typer(no_args_is_help=True, help="Submit and follow critiques (submission API).")


@dataclass(frozen=True)
class Settings:
    api_url: str
    token: str | None


@app.callback()
def configure(
    ctx: typer.Context,
    api_url: Annotated[
        str, typer.Option(envvar="SUPERVISION_API_URL", help="The submission API.")
    ] = DEFAULT_API_URL,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SUPERVISION_TOKEN", help="Your organisation's API token.", show_default=False
        ),
    ] = None,
) -> None:
    ctx.obj = Settings(api_url, token)


@contextmanager
def session(ctx: typer.Context) -> Iterator[SubmissionClient]:
    """A client of the configured API; refusals and outages end the command with a message."""
    settings: Settings = ctx.obj
    if not settings.token:
        raise fail(
            "no API token: set SUPERVISION_TOKEN (or pass --token before the command) to your"
            " organisation's token, as issued by `supervision admin organisation token`.",
            2,
        )
    try:
        client = SubmissionClient(settings.api_url, settings.token)
    except ValueError as invalid:
        raise fail(f"--api-url / SUPERVISION_API_URL: {invalid}", 2) from None
    try:
        with client:
            yield client
    except ApiError as refused:
        views.print_problem(err, refused)
        raise typer.Exit(1) from None
    except ApiUnavailable as unavailable:
        raise fail(str(unavailable)) from None


def _resolve(client: SubmissionClient, reference: str) -> uuid.UUID:
    """A full id, or the start of one as `list` shows it."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        pass
    prefix = reference.strip().lower()
    if len(prefix) < 4:
        raise fail(f"{reference!r} is not a critique id: give at least 4 characters", 2)
    matches = [c.id for c in client.list(limit=200) if str(c.id).startswith(prefix)]
    if len(matches) > 1:
        raise fail(f"{len(matches)} of your critiques start with {reference!r}: give more", 2)
    if not matches:
        raise fail(f"none of your critiques has an id starting with {reference!r}")
    return matches[0]


Wait = Annotated[
    float,
    typer.Option(min=0, help="Seconds to wait for tracking's decision (0: do not wait, only ask)."),
]
DEFAULT_WAIT = 30.0


def _decided(client: SubmissionClient, asked: ChangeRequestOut, wait: float) -> ChangeRequestOut:
    """The request once decided; a refusal ends the command (exit 1) saying why, a request
    still pending after ``wait`` seconds says where to follow it (exit 0: it stands)."""
    out.print(f"{views.request_line(asked)} (request {asked.id})", highlight=False)
    try:
        decided = client.wait(asked, timeout=wait)
    except StillPending:
        out.print(
            "Tracking has not decided yet; it will. Follow it with"
            f" `supervision critique requests {asked.critique_id}`.",
            highlight=False,
        )
        raise typer.Exit(0) from None
    if decided.status is RequestStatus.REFUSED:
        raise fail(views.request_line(decided))
    return decided


def _agency_names(client: SubmissionClient) -> dict[str, str]:
    return {agency.id: agency.name for agency in client.agencies()}


def _upload(client: SubmissionClient, critique_id: uuid.UUID, path: Path) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, TransferSpeedColumn(), console=err) as progress:
        task = progress.add_task(path.name, total=path.stat().st_size)
        attachment = client.attach(
            critique_id,
            path,
            on_progress=lambda sent, total: progress.update(task, completed=sent, total=total),
        )
    out.print(
        f"Attached {attachment.filename} ({views.size(attachment.size)},"
        f" sha256 {attachment.sha256[:16]}…) as {attachment.id}",
        highlight=False,
    )


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            help="A YAML or JSON file of the critique; - reads stdin.", show_default=False
        ),
    ] = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="Ask for each field instead.")
    ] = False,
    attach: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, readable=True, help="A PDF to attach (repeat)."),
    ] = None,
) -> None:
    """Submit a critique to an agency (see infra/examples/critique.yaml)."""
    if interactive == (file is not None):
        raise typer.BadParameter("give a FILE (or -), or --interactive", ctx, param_hint="FILE")
    with session(ctx) as client:
        agencies = client.agencies()
        data = prompt_critique(agencies) if interactive else read_document(file or "-")
        critique = validated(CritiqueIn, data, file or "the critique")
        if interactive and not typer.confirm(f"Submit “{critique.title}”?", default=True):
            raise typer.Exit(1)
        created = client.submit(critique)
        names = {agency.id: agency.name for agency in agencies}
        out.print(f"Submitted critique {created.id}", highlight=False)
        out.print(views.summary(created, names.get(created.agency_id, created.agency_id)))
        for path in attach or []:
            _upload(client, created.id, path)


@app.command("list")
def list_critiques(
    ctx: typer.Context,
    status: Annotated[CritiqueStatus | None, typer.Option(help="Only these.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    full_ids: Annotated[bool, typer.Option("--full-ids", help="Show whole ids.")] = False,
) -> None:
    """Your organisation's critiques, newest first."""
    with session(ctx) as client:
        found = list(islice(client.list(status=status, limit=min(limit + 1, 200)), limit + 1))
        if not found:
            out.print("No critiques" + (f" with status {status.value}." if status else "."))
            return
        out.print(views.critiques_table(found[:limit], _agency_names(client), full_ids=full_ids))
        if len(found) > limit:
            out.print(f"… more than {limit}; use --limit or --status to see others.")


@app.command()
def show(
    ctx: typer.Context, critique: Annotated[str, typer.Argument(help="Id or its start.")]
) -> None:
    """A critique with its points, the agency's answers, status, due date and attachments."""
    with session(ctx) as client:
        found = client.get(_resolve(client, critique))
        name = _agency_names(client).get(found.agency_id, found.agency_id)
        out.print(views.detail(found, name, client.attachments(found.id)))


@app.command()
def history(
    ctx: typer.Context, critique: Annotated[str, typer.Argument(help="Id or its start.")]
) -> None:
    """Every change and every step the agency reported, oldest first."""
    with session(ctx) as client:
        out.print(views.history_table(client.history(_resolve(client, critique))))


@app.command()
def amend(
    ctx: typer.Context,
    critique: Annotated[str, typer.Argument(help="Id or its start.")],
    file: Annotated[str, typer.Argument(help="The new content (as for submit); - reads stdin.")],
    wait: Wait = DEFAULT_WAIT,
) -> None:
    """Replace a critique's content, until the agency acknowledges it. Tracking decides (it
    knows whether the agency has): this waits for the decision, or says where to follow it."""
    with session(ctx) as client:
        current = client.get(_resolve(client, critique))
        data = read_document(file)
        for name, value in (("agency_id", current.agency_id), ("kind", current.kind.value)):
            if data.pop(name, value) != value:
                raise fail(f"an amendment cannot change {name}: withdraw and submit anew")
        content = validated(ContentIn, data, file)
        # The version read just now: if someone amends in between, the API refuses (412).
        asked = client.amend(current.id, content, version=current.version)
        decided = _decided(client, asked, wait)
        if decided.status is RequestStatus.ACCEPTED:
            amended = client.get(current.id)
            out.print(f"Amended critique {amended.id}: version {amended.version}", highlight=False)
            out.print(views.summary(amended, _agency_names(client).get(amended.agency_id, "")))


@app.command()
def withdraw(
    ctx: typer.Context,
    critique: Annotated[str, typer.Argument(help="Id or its start.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Wait = DEFAULT_WAIT,
) -> None:
    """Withdraw a critique, until the agency acknowledges it. This cannot be undone. Tracking
    decides: this waits for the decision, or says where to follow it."""
    with session(ctx) as client:
        current = client.get(_resolve(client, critique))
        if not yes and not typer.confirm(f"Withdraw “{current.title}”? This cannot be undone"):
            raise typer.Exit(1)
        decided = _decided(client, client.withdraw(current.id, reason), wait)
        if decided.status is RequestStatus.ACCEPTED:
            withdrawn = client.get(current.id)
            out.print(f"Withdrawn: {withdrawn.id} — {withdrawn.status_label}", highlight=False)


@app.command()
def requests(
    ctx: typer.Context, critique: Annotated[str, typer.Argument(help="Id or its start.")]
) -> None:
    """The amendments, withdrawals and extension decisions asked for, and their outcomes."""
    with session(ctx) as client:
        out.print(views.requests_table(client.requests(_resolve(client, critique))))


@app.command()
def extensions(
    ctx: typer.Context, critique: Annotated[str, typer.Argument(help="Id or its start.")]
) -> None:
    """The agency's requests for more time, and their decisions."""
    with session(ctx) as client:
        out.print(views.extensions_table(client.extensions(_resolve(client, critique))))


@app.command()
def decide(
    ctx: typer.Context,
    critique: Annotated[str, typer.Argument(help="Id or its start.")],
    extension: Annotated[str, typer.Argument(help="The extension request's id or its start.")],
    grant: Annotated[
        bool, typer.Option("--grant/--refuse", help="Grant the later due date, or refuse it.")
    ],
    note: Annotated[str, typer.Option(help="Kept with the decision.")] = "",
    wait: Wait = DEFAULT_WAIT,
) -> None:
    """Grant or refuse the agency's request for more time. Tracking applies it (it knows
    whether the case is still open): this waits for that, or says where to follow it."""
    with session(ctx) as client:
        critique_id = _resolve(client, critique)
        matches = [e for e in client.extensions(critique_id) if str(e.id).startswith(extension)]
        if len(matches) != 1:
            raise fail(f"{len(matches)} extension requests of this critique match {extension!r}")
        decided = _decided(
            client,
            client.decide_extension(critique_id, matches[0].id, grant=grant, note=note),
            wait,
        )
        if decided.status is RequestStatus.ACCEPTED:
            verb = "Granted" if grant else "Refused"
            out.print(f"{verb} the extension to {matches[0].requested_due_date}", highlight=False)


@app.command("attach")
def attach_file(
    ctx: typer.Context,
    critique: Annotated[str, typer.Argument(help="Id or its start.")],
    pdf: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Attach a PDF (usually the signed paper document) to a critique."""
    with session(ctx) as client:
        _upload(client, _resolve(client, critique), pdf)


@app.command()
def agencies(ctx: typer.Context) -> None:
    """The agencies critiques can be addressed to."""
    with session(ctx) as client:
        out.print(views.agencies_table(client.agencies()))


@app.command()
def whoami(ctx: typer.Context) -> None:
    """The organisation your token belongs to."""
    with session(ctx) as client:
        out.print(views.organisation(client.me(), client.base_url))
