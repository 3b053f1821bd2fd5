"""Wiring of the submission service: settings, runtime, HTTP server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from contracts.events import Topic
from services.platform import runtime, settings
from services.platform.consumer import Subscription
from services.platform.http import attach_runtime
from services.platform.ratelimit import RateLimiter
from services.platform.serve import serve_http
from services.submission import consumers
from services.submission.api import build_app

MIGRATIONS = Path(__file__).parent / "migrations"


class SubmissionSettings(settings.CommonSettings):
    submission_database_url: str = Field(description="PostgreSQL URL of submission's database.")
    submission_http_host: str = "127.0.0.1"
    submission_http_port: int = Field(default=8081, ge=1, le=65535)
    submission_rate_per_second: float = Field(
        default=20.0, gt=0, description="Requests per second each organisation may sustain."
    )
    submission_rate_burst: int = Field(
        default=100, ge=1, description="Requests an organisation may send at once."
    )
    submission_consumer_group: str = Field(
        default=consumers.SUBSCRIPTION.name,
        description="A new name (with a new database) learns the agency directory again from"
        " the beginning of the topics.",
    )


def subscription(config: SubmissionSettings) -> Subscription:
    """Submission's consumer as configured (``supervision ops`` reads its group and topics)."""
    return dataclasses.replace(consumers.SUBSCRIPTION, name=config.submission_consumer_group)


def create_app(config: SubmissionSettings) -> FastAPI:
    limiter = RateLimiter(
        per_second=config.submission_rate_per_second, burst=config.submission_rate_burst
    )
    return attach_runtime(
        build_app(limiter),
        lambda: runtime.running(
            name="submission",
            settings=config,
            database_url=config.submission_database_url,
            migrations=MIGRATIONS,
            topics=[Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES],
            subscriptions=[subscription(config)],
        ),
    )


def main() -> None:
    config = settings.load(SubmissionSettings)
    serve_http(
        "submission",
        create_app(config),
        host=config.submission_http_host,
        port=config.submission_http_port,
        config=config,
    )
