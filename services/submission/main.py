"""Wiring of the submission service: settings, runtime, HTTP server."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
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
from services.submission.admission import Bounds
from services.submission.api import build_app
from services.submission.backlog import PIPELINE, BacklogWatch

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
    submission_shed_outbox_rows: int = Field(
        default=10_000,
        ge=0,
        description="Writes (submit, amend, withdraw, decide an extension, attach) are refused"
        " with 503 and Retry-After while more outbox rows than this wait to be published;"
        " 0: no bound.",
    )
    submission_shed_outbox_age_seconds: float = Field(
        default=120.0,
        ge=0,
        description="… or while the oldest outbox row waiting to be published was written longer"
        " ago than this; 0: no bound.",
    )
    submission_shed_consumer_lag: int = Field(
        default=10_000,
        ge=0,
        description="… or while a consumer group of SUPERVISION_SUBMISSION_SHED_CONSUMER_GROUPS"
        " is more events than this behind on submission.critiques, or one of"
        " SUPERVISION_SUBMISSION_SHED_CASE_CONSUMER_GROUPS on tracking.cases (each group on each"
        " topic bounded apart); 0: no bound (and, with _SHED_CONSUMER_LAG_SECONDS 0 too, no lag"
        " read from Kafka).",
    )
    submission_shed_consumer_lag_seconds: float = Field(
        default=120.0,
        ge=0,
        description="… or while the oldest event one of those groups has not consumed on its"
        " topic reached Kafka longer ago than this (what a write accepted now waits behind on"
        " that hop); 0: no bound.",
    )
    submission_shed_writes_in_flight: int = Field(
        default=256,
        ge=0,
        description="… or while this many writes are being handled already, each instance"
        " counting its own (a write past it would wait inside the service for the others);"
        " 0: no bound.",
    )
    submission_shed_consumer_groups: str = Field(
        default=",".join(PIPELINE[Topic.CRITIQUES]),
        description="The consumer groups downstream of submission.critiques whose lag is bounded,"
        " comma-separated (tracking's, and disclosure's SUPERVISION_DISCLOSURE_CONSUMER_GROUP);"
        " a group that has committed nothing on the topic and has no members is not counted.",
    )
    submission_shed_case_consumer_groups: str = Field(
        default=",".join(PIPELINE[Topic.CASES]),
        description="The consumer groups downstream of tracking.cases (the agencies' answers a"
        " critique waits for before it is public) whose lag is bounded, comma-separated"
        " (disclosure's SUPERVISION_DISCLOSURE_CONSUMER_GROUP); likewise.",
    )
    submission_shed_check_interval_seconds: float = Field(
        default=0.5,
        ge=0.1,
        le=10,
        description="How often the backlogs are read, in the background (a write is decided on"
        " the last reading, never with a query of its own).",
    )

    @property
    def shed_bounds(self) -> Bounds:
        return Bounds(
            outbox_rows=self.submission_shed_outbox_rows,
            outbox_age_seconds=self.submission_shed_outbox_age_seconds,
            consumer_lag=self.submission_shed_consumer_lag,
            consumer_lag_seconds=self.submission_shed_consumer_lag_seconds,
            writes_in_flight=self.submission_shed_writes_in_flight,
        )

    @property
    def shed_consumer_groups(self) -> dict[str, list[str]]:
        """Per topic of the pipeline behind a write, the groups whose lag on it is bounded."""
        return {
            Topic.CRITIQUES: _names(self.submission_shed_consumer_groups),
            Topic.CASES: _names(self.submission_shed_case_consumer_groups),
        }


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


def subscription(config: SubmissionSettings) -> Subscription:
    """Submission's consumer as configured (``supervision ops`` reads its group and topics)."""
    return dataclasses.replace(consumers.SUBSCRIPTION, name=config.submission_consumer_group)


def backlog_watch(config: SubmissionSettings) -> BacklogWatch:
    return BacklogWatch(
        config.shed_bounds,
        bootstrap_servers=config.kafka_bootstrap_servers,
        groups=config.shed_consumer_groups,
        interval=config.submission_shed_check_interval_seconds,
    )


def create_app(config: SubmissionSettings) -> FastAPI:
    limiter = RateLimiter(
        per_second=config.submission_rate_per_second, burst=config.submission_rate_burst
    )
    backlog = backlog_watch(config)

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[runtime.Runtime]:
        async with (
            runtime.running(
                name="submission",
                settings=config,
                database_url=config.submission_database_url,
                migrations=MIGRATIONS,
                topics=[Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS],
                subscriptions=[subscription(config)],
            ) as started,
            backlog.watching(started.pool),
        ):
            yield started

    return attach_runtime(build_app(limiter, backlog), running, warnings=backlog.warnings)


def main() -> None:
    config = settings.load(SubmissionSettings)
    serve_http(
        "submission",
        create_app(config),
        host=config.submission_http_host,
        port=config.submission_http_port,
        config=config,
    )
