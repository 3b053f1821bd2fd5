"""Wiring of the disclosure service: settings, runtime, public HTTP server."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from contracts.events import Topic
from services.disclosure import consumers
from services.disclosure.domain import DisclosurePolicy
from services.disclosure.http import build_app
from services.platform import runtime, settings
from services.platform.http import attach_runtime
from services.platform.ratelimit import RateLimiter
from services.platform.serve import serve_http

MIGRATIONS = Path(__file__).parent / "migrations"


class DisclosureSettings(settings.CommonSettings):
    disclosure_database_url: str = Field(description="PostgreSQL URL of disclosure's database.")
    disclosure_http_host: str = "127.0.0.1"
    disclosure_http_port: int = Field(default=8080, ge=1, le=65535)
    disclosure_policy: DisclosurePolicy = Field(
        default_factory=DisclosurePolicy,
        description="JSON: publish_when_answered, publish_when_overdue (both true by default).",
    )
    disclosure_consumer_group: str = Field(
        default="disclosure",
        description="A new name (with a new database) rebuilds the read model from the topics.",
    )
    disclosure_rate_per_second: float = Field(default=50.0, gt=0)
    disclosure_rate_burst: int = Field(default=200, ge=1)


def create_app(config: DisclosureSettings) -> FastAPI:
    limiter = RateLimiter(
        per_second=config.disclosure_rate_per_second, burst=config.disclosure_rate_burst
    )
    return attach_runtime(
        build_app(limiter),
        lambda: runtime.running(
            name="disclosure",
            settings=config,
            database_url=config.disclosure_database_url,
            migrations=MIGRATIONS,
            topics=[Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES],
            subscriptions=[
                consumers.subscription(
                    config.disclosure_policy, name=config.disclosure_consumer_group
                )
            ],
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
