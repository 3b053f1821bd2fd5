"""``supervision admin agency certificate…`` and ``supervision admin tls``: agencies' client
certificates (mutual TLS) and a local CA for development."""

from __future__ import annotations

import asyncio
import datetime
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services import admin
from services.platform import tokens
from services.platform.certificates import LOOPBACK_NAMES, CertificateError, DevelopmentCA
from services.tracking import store as tracking_store

DEV_CA_DIR = Path(".run/tls")
tls_app = typer.Typer(
    no_args_is_help=True, help="A local CA and server certificate for development."
)
console = Console()


def _tracking_url() -> str:
    from services.cli.admin import _url

    return _url("tracking")


def _fingerprint(text: str) -> bytes:
    cleaned = text.replace(":", "").strip().lower()
    try:
        fingerprint = bytes.fromhex(cleaned)
    except ValueError:
        fingerprint = b""
    if len(fingerprint) != 32:
        console.print("[red]A fingerprint is the certificate's SHA-256: 64 hex digits.[/red]")
        raise typer.Exit(2)
    return fingerprint


def _register(agency_id: str, pem: bytes, label: str) -> None:
    try:
        found = asyncio.run(admin.register_certificate(_tracking_url(), agency_id, pem, label))
    except CertificateError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    except tokens.UnknownOwner:
        console.print(f"[red]No {agency_id!r} in the directory.[/red]")
        raise typer.Exit(2) from None
    except tracking_store.CertificateTaken as taken:
        console.print(f"[red]This certificate is registered to {taken} already.[/red]")
        raise typer.Exit(2) from None
    console.print(f"registered for {agency_id}: {found.subject}, until {found.not_after:%Y-%m-%d}")
    console.print(f"fingerprint (SHA-256): {found.fingerprint_hex}")


def issue_certificate(
    agency_id: Annotated[str, typer.Argument(help="The agency the certificate acts for.")],
    label: Annotated[str, typer.Option(help="Which integration holds it.")],
    ca_dir: Annotated[Path, typer.Option(help="The development CA's folder.")] = DEV_CA_DIR,
    out_dir: Annotated[
        Path | None, typer.Option(help="Where to write it (<ca-dir>/agencies).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=825)] = 397,
) -> None:
    """Issue a client certificate for an agency from the local development CA and register it
    (for development: in production, register the agency's own with register-certificate)."""
    ca = DevelopmentCA(ca_dir)
    issued = ca.issue_agency(
        out_dir or ca_dir / "agencies", agency_id, valid_for=datetime.timedelta(days=days)
    )
    _register(agency_id, issued.certificate_file.read_bytes(), label)
    console.print(f"certificate: {issued.certificate_file}\nkey:         {issued.key_file}")
    console.print(
        "call tracking with it, e.g.:\n"
        f"  grpcurl -cacert {ca.certificate_file} -cert {issued.certificate_file}"
        f" -key {issued.key_file} 127.0.0.1:50051 supervision.agency.v1.AgencyService/ListCases"
    )


def demo_certificate(agency_id: str, certificate: Path, key: Path, ca_dir: Path) -> None:
    """The demo agency's client certificate: issued once from the development CA into
    ``certificate`` and ``key``, registered (again) on every run."""
    if not certificate.exists():
        issued = DevelopmentCA(ca_dir).issue_agency(certificate.parent / ".issuing", agency_id)
        os.replace(issued.key_file, key)
        os.replace(issued.certificate_file, certificate)
    asyncio.run(
        admin.register_certificate(_tracking_url(), agency_id, certificate.read_bytes(), "demo")
    )


def register_certificate(
    agency_id: str,
    certificate: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    label: Annotated[str, typer.Option(help="Which integration holds it.")],
) -> None:
    """Register an agency's client certificate (PEM): it then acts for that agency only."""
    _register(agency_id, certificate.read_bytes(), label)


def revoke_certificate(
    fingerprint: Annotated[str, typer.Argument(help="SHA-256 of the certificate, hex.")],
) -> None:
    """Revoke a client certificate: refused from the next call on, no restart needed."""
    if not asyncio.run(admin.revoke_certificate(_tracking_url(), _fingerprint(fingerprint))):
        console.print("[red]No live certificate with this fingerprint.[/red]")
        raise typer.Exit(2)
    console.print(f"revoked {fingerprint}")


def list_certificates(agency_id: str) -> None:
    """List an agency's client certificates."""
    rows = asyncio.run(admin.list_certificates(_tracking_url(), agency_id))
    table = Table(title=f"Client certificates of {agency_id}")
    for column in ("fingerprint (SHA-256)", "subject", "label", "until", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.fingerprint.hex(),
            row.subject,
            row.label,
            f"{row.not_after:%Y-%m-%d}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    console.print(table)


@tls_app.command("dev-ca")
def dev_ca(
    folder: Annotated[Path, typer.Option("--dir", help="Where the CA and certificates live.")] = (
        DEV_CA_DIR
    ),
    name: Annotated[
        list[str] | None, typer.Option(help="A name or address the servers answer to.")
    ] = None,
) -> None:
    """Make (once) a local CA and a server certificate for loopback, and print the settings
    that serve TLS with them."""
    ca = DevelopmentCA(folder)
    server = folder / "server.pem"
    if not server.exists() or name:
        server = ca.issue_server(folder, tuple(name or LOOPBACK_NAMES)).certificate_file
    typer.echo(f"SUPERVISION_TLS_CERT_FILE={server}")
    typer.echo(f"SUPERVISION_TLS_KEY_FILE={folder / 'server.key'}")
    typer.echo(f"SUPERVISION_TRACKING_CLIENT_CA_FILE={ca.certificate_file}")
    typer.echo(f"SSL_CERT_FILE={ca.certificate_file}")


def register(agency_app: typer.Typer, admin_app: typer.Typer) -> None:
    agency_app.command("certificate")(issue_certificate)
    agency_app.command("register-certificate")(register_certificate)
    agency_app.command("revoke-certificate")(revoke_certificate)
    agency_app.command("certificates")(list_certificates)
    admin_app.add_typer(tls_app, name="tls")
