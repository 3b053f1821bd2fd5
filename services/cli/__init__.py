"""One command-line entry point, ``supervision``: run the services, administer the directory,
and (``supervision critique …``) submit and follow critiques as a Front officer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from contracts.transitions import Service
from services.cli import admin, agency, critiques, ops, verify

app = typer.Typer(no_args_is_help=True, help="Social supervision and criticism services.")
app.add_typer(admin.app, name="admin")
app.add_typer(critiques.app, name="critique")
app.add_typer(agency.app, name="agency")
app.add_typer(verify.app, name="verify")
app.add_typer(ops.app, name="ops")


@app.command()
def serve(service: Service) -> None:
    """Run one service in the foreground until SIGINT/SIGTERM."""
    from services.platform.runtime import hold_pause_signals

    hold_pause_signals()
    if service is Service.SUBMISSION:
        from services.submission.main import main
    elif service is Service.TRACKING:
        from services.tracking.main import main
    else:
        from services.disclosure.main import main
    main()


def database(service: Service) -> tuple[str, Path]:
    """The service's database URL (from its settings) and its migrations folder."""
    from services.platform import settings

    if service is Service.SUBMISSION:
        from services.submission import main as submission

        return (
            settings.load(submission.SubmissionSettings).submission_database_url,
            submission.MIGRATIONS,
        )
    if service is Service.TRACKING:
        from services.tracking import main as tracking

        return settings.load(tracking.TrackingSettings).tracking_database_url, tracking.MIGRATIONS
    from services.disclosure import main as disclosure

    return (
        settings.load(disclosure.DisclosureSettings).disclosure_database_url,
        disclosure.MIGRATIONS,
    )


@app.command()
def migrate(services: list[Service]) -> None:
    """Apply the services' pending database migrations."""
    from services.platform import db

    for service in services:
        url, folder = database(service)
        applied = asyncio.run(db.migrate(url, component=service.value, folder=folder))
        for migration in applied:
            typer.echo(
                f"{service.value}: applied"
                f" {migration.component}/{migration.version:03d}_{migration.name}"
            )
        if not applied:
            typer.echo(f"{service.value}: up to date")
