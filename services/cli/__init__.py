"""One command-line entry point, ``supervision``: run the services, administer the directory,
and (``supervision critique …``) submit and follow critiques as a Front officer."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from contracts.lifecycle import Service

GROUPS = {
    "admin": "services.cli.admin",
    "critique": "services.cli.critiques",
    "agency": "services.cli.agency",
    "verify": "services.cli.verify",
    "ops": "services.cli.ops",
}
"""Each group of commands and the module whose ``app`` it is. A group's module (and what it
imports: the SDK, the agency client, Kafka, tracking's use cases) is loaded only when one of its
commands runs, so that ``supervision admin …`` does not pay for the agency's gRPC stubs."""


class _Groups(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in GROUPS:
            return super().get_command(ctx, cmd_name)
        group = typer.main.get_group(importlib.import_module(GROUPS[cmd_name]).app)
        group.name = cmd_name
        return group


app = typer.Typer(
    cls=_Groups, no_args_is_help=True, help="Social supervision and criticism services."
)


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
