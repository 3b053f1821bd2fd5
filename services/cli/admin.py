"""``supervision admin``: the directory of organisations and agencies, and their tokens.

These commands use the services' databases directly (``SUPERVISION_*_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contracts.events import AgencyKind, Level
from contracts.submission_api import OrganisationKind
from services import admin
from services.cli import admin_certificates
from services.platform import db, durations, tokens
from services.submission import directory
from services.tracking import store as tracking_store

app = typer.Typer(no_args_is_help=True, help="Organisations, agencies and their tokens.")
organisation_app = typer.Typer(no_args_is_help=True, help="Front committees and members.")
agency_app = typer.Typer(no_args_is_help=True, help="State agencies that answer critiques.")
app.add_typer(organisation_app, name="organisation")
app.add_typer(agency_app, name="agency")
admin_certificates.register(agency_app, app)
console = Console()


def _url(service: str) -> str:
    from contracts.lifecycle import Service
    from services.cli import database

    url, folder = database(Service(service))
    asyncio.run(db.migrate(url, component=service, folder=folder))
    return url


def _expiry(row: tokens.TokenInfo, now: datetime) -> str:
    if row.expires_at is None:
        return "never"
    return f"{row.expires_at:%Y-%m-%d %H:%M}" + (" (expired)" if row.expires_at <= now else "")


def _tokens_table(title: str, rows: list[tokens.TokenInfo]) -> Table:
    table = Table(title=title)
    for column in ("token id", "label", "created", "last used", "expires", "revoked"):
        table.add_column(column)
    now = datetime.now(UTC)
    for row in rows:
        table.add_row(
            str(row.id),
            row.label,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "—",
            _expiry(row, now),
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    return table


def _duration(text: str) -> timedelta:
    try:
        return durations.parsed(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


ExpiresIn = Annotated[
    timedelta | None,
    typer.Option(
        parser=_duration,
        metavar="DURATION",
        help="Refuse the token after this long, e.g. 90d, 12h, 2w (by default: until revoked).",
    ),
]


def _issue(
    service: str,
    store: tokens.TokenStore,
    owner_id: str,
    label: str,
    expires_in: timedelta | None,
) -> None:
    try:
        expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
    except OverflowError:
        raise typer.BadParameter("later than any date", param_hint="--expires-in") from None
    try:
        token_id, token = asyncio.run(
            admin.issue_token(_url(service), store, owner_id, label, expires_at=expires_at)
        )
    except tokens.UnknownOwner:
        console.print(f"[red]No {owner_id!r} in the directory.[/red]")
        raise typer.Exit(2) from None
    console.print(f"token id: {token_id}")
    console.print(f"token:    [bold]{token}[/bold]")
    if expires_at is not None:
        console.print(f"expires:  {expires_at:%Y-%m-%d %H:%M} UTC")
    console.print("Give the token to its holder now: only its hash is kept.")


def _revoke(service: str, store: tokens.TokenStore, token_id: uuid.UUID) -> None:
    if not asyncio.run(admin.revoke_token(_url(service), store, token_id)):
        console.print(f"[red]No live token {token_id}.[/red]")
        raise typer.Exit(2)
    console.print(f"revoked {token_id}")


@organisation_app.command("add")
def add_organisation(
    organisation_id: Annotated[str, typer.Argument(help="e.g. mttq-xa-tan-lap-thai-nguyen")],
    name: Annotated[str, typer.Option(help="Full name, e.g. 'Ủy ban MTTQ Việt Nam xã …'")],
    level: Annotated[Level, typer.Option()],
    kind: Annotated[OrganisationKind, typer.Option()] = OrganisationKind.FRONT_COMMITTEE,
    parent: Annotated[str | None, typer.Option(help="The committee one level up.")] = None,
) -> None:
    """Add or update an organisation."""
    entry = admin.OrganisationEntry(
        id=organisation_id, name=name, level=level, kind=kind, parent=parent
    )
    asyncio.run(admin.save_organisations(_url("submission"), [entry]))
    console.print(f"saved organisation {organisation_id}")


@organisation_app.command("token")
def organisation_token(
    organisation_id: str,
    label: Annotated[str, typer.Option(help="Who holds it, e.g. 'văn phòng'")],
    expires_in: ExpiresIn = None,
) -> None:
    """Issue a new API token for an organisation (shown once)."""
    _issue("submission", directory.TOKENS, organisation_id, label, expires_in)


@organisation_app.command("revoke")
def organisation_revoke(token_id: uuid.UUID) -> None:
    """Revoke one of an organisation's tokens, by its id."""
    _revoke("submission", directory.TOKENS, token_id)


@organisation_app.command("tokens")
def organisation_tokens(organisation_id: str) -> None:
    """List an organisation's tokens (never the tokens themselves), with their expiry."""
    rows = asyncio.run(admin.list_tokens(_url("submission"), directory.TOKENS, organisation_id))
    console.print(_tokens_table(f"Tokens of {organisation_id}", rows))


@agency_app.command("add")
def add_agency(
    agency_id: Annotated[str, typer.Argument(help="e.g. so-xay-dung-ha-noi")],
    name: Annotated[str, typer.Option()],
    level: Annotated[Level, typer.Option()],
    kind: Annotated[AgencyKind, typer.Option()],
    parent: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add or update an agency (announced to submission over Kafka)."""
    entry = admin.AgencyEntry(id=agency_id, name=name, level=level, kind=kind, parent=parent)
    asyncio.run(admin.save_agencies(_url("tracking"), [entry]))
    console.print(f"saved agency {agency_id}")


@agency_app.command("token")
def agency_token(
    agency_id: str, label: Annotated[str, typer.Option()], expires_in: ExpiresIn = None
) -> None:
    """Issue a new gRPC token for an agency's integration (shown once)."""
    _issue("tracking", tracking_store.TOKENS, agency_id, label, expires_in)


@agency_app.command("revoke")
def agency_revoke(token_id: uuid.UUID) -> None:
    """Revoke one of an agency's tokens, by its id."""
    _revoke("tracking", tracking_store.TOKENS, token_id)


@agency_app.command("tokens")
def agency_tokens(agency_id: str) -> None:
    """List an agency's tokens (never the tokens themselves), with their expiry."""
    rows = asyncio.run(admin.list_tokens(_url("tracking"), tracking_store.TOKENS, agency_id))
    console.print(_tokens_table(f"Tokens of {agency_id}", rows))


@app.command()
def seed(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)] = admin.SEED_FILE,
) -> None:
    """Load a directory file (organisations and agencies, parents first)."""
    directory_file = admin.read_directory(file)
    asyncio.run(admin.save_organisations(_url("submission"), directory_file.organisations))
    asyncio.run(admin.save_agencies(_url("tracking"), directory_file.agencies))
    console.print(
        f"{len(directory_file.organisations)} organisations,"
        f" {len(directory_file.agencies)} agencies loaded from {file}"
    )


@app.command("demo")
def demo(
    tokens_file: Annotated[Path, typer.Option(help="Where the demo tokens are kept.")] = Path(
        ".run/demo-tokens.env"
    ),
    agency_certificate: Annotated[
        Path | None,
        typer.Option(help="TLS mode: the demo agency's client certificate (made once)."),
    ] = None,
    agency_key: Annotated[Path | None, typer.Option(help="… and its key.")] = None,
    ca_dir: Annotated[Path, typer.Option(help="The development CA that issues it.")] = Path(
        ".run/tls"
    ),
) -> None:
    """Load the seed directory and print local-only tokens for a demo organisation and agency
    (the same ones on every run: they are kept in ``tokens_file``), and, given
    ``--agency-certificate``, a client certificate for the demo agency."""
    seed(admin.SEED_FILE)
    known = {}
    if tokens_file.exists():
        pairs = (line.split("=", 1) for line in tokens_file.read_text().splitlines() if "=" in line)
        known = {key.strip(): value.strip() for key, value in pairs}
    organisation_token = known.get("DEMO_ORGANISATION_TOKEN") or tokens.issue("sv_org")
    agency_token = known.get("DEMO_AGENCY_TOKEN") or tokens.issue("sv_agency")
    asyncio.run(
        admin.issue_token(
            _url("submission"),
            directory.TOKENS,
            admin.DEMO_ORGANISATION,
            "demo",
            organisation_token,
        )
    )
    asyncio.run(
        admin.issue_token(
            _url("tracking"), tracking_store.TOKENS, admin.DEMO_AGENCY, "demo", agency_token
        )
    )
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(
        f"DEMO_ORGANISATION_TOKEN={organisation_token}\nDEMO_AGENCY_TOKEN={agency_token}\n"
    )
    tokens_file.chmod(0o600)
    typer.echo(f"demo organisation {admin.DEMO_ORGANISATION} token: {organisation_token}")
    typer.echo(f"demo agency       {admin.DEMO_AGENCY} token: {agency_token}")
    if agency_certificate is not None:
        admin_certificates.demo_certificate(
            admin.DEMO_AGENCY,
            agency_certificate,
            agency_key or agency_certificate.with_suffix(".key"),
            ca_dir,
        )
        typer.echo(f"demo agency       {admin.DEMO_AGENCY} certificate: {agency_certificate}")
