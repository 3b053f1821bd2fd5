"""Wiring of the disclosure service: settings, runtime, public HTTP server."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from contracts.events import Topic
from services.disclosure import consumers
from services.disclosure.http import build_app
from services.platform import runtime, settings
from services.platform.http import attach_runtime
from services.platform.serve import serve_http

MIGRATIONS = Path(__file__).parent / "migrations"


class DisclosureSettings(settings.CommonSettings):
    disclosure_database_url: str = Field(description="PostgreSQL URL of disclosure's database.")
    disclosure_http_host: str = "127.0.0.1"
    disclosure_http_port: int = Field(default=8080, ge=1, le=65535)


def create_app(config: DisclosureSettings) -> FastAPI:
    return attach_runtime(
        build_app(),
        lambda: runtime.running(
            name="disclosure",
            settings=config,
            database_url=config.disclosure_database_url,
            migrations=MIGRATIONS,
            topics=[Topic.CRITIQUES, Topic.CASES],
            subscriptions=[consumers.SUBSCRIPTION],
        ),
    )


def main() -> None:
    config = settings.load(DisclosureSettings)
    serve_http(
        "disclosure",
        create_app(config),
        host=config.disclosure_http_host,
        port=config.disclosure_http_port,
    )
