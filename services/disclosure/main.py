"""Wiring of the disclosure service: settings, runtime, public HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from contracts.events import Topic
from services.disclosure import checkpoints, consumers, log_key, transparency
from services.disclosure.domain import DisclosurePolicy
from services.disclosure.web import build_app
from services.platform import db, runtime, settings
from services.platform.consumer import Subscription
from services.platform.http import attach_runtime
from services.platform.ratelimit import RateLimiter
from services.platform.serve import serve_http

log = logging.getLogger(__name__)
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
    disclosure_log_key_file: Path | None = Field(
        default=None,
        description="The file of the transparency log's private key (PRIVATE+KEY+…, from"
        " `supervision verify keygen --private-key-file`), mode 0600: one key a line, two of the"
        " same name while handing over to a new key. Read at start-up; without it nothing is"
        " signed.",
    )
    disclosure_log_origin: str | None = Field(
        default=None, description="The log's origin line; by default the key's name."
    )
    disclosure_log_sign_interval_seconds: float = Field(default=10.0, gt=0)
    disclosure_rate_per_second: float = Field(default=50.0, gt=0)
    disclosure_rate_burst: int = Field(default=200, ge=1)


async def _sign_regularly(
    pool: db.Pool, keys: checkpoints.SigningKeys, *, origin: str, interval: float
) -> None:
    """Sign a checkpoint whenever the log has grown (several instances may run this: signing
    is serialised and a checkpoint is only signed for a larger tree)."""
    while True:
        try:
            await transparency.sign(pool, keys, origin=origin)
        except transparency.HistoryRewritten:
            log.critical("the transparency log no longer matches its last checkpoint; not signing")
        except Exception as error:
            log.warning("checkpoint signing interrupted", extra={"error": repr(error)})
        await asyncio.sleep(interval)


def subscription(config: DisclosureSettings) -> Subscription:
    """Disclosure's consumer as configured (``supervision ops`` reads its group and topics)."""
    return consumers.subscription(config.disclosure_policy, name=config.disclosure_consumer_group)


def log_keys(config: DisclosureSettings) -> checkpoints.SigningKeys | None:
    """The log's signing keys (``None``: nothing is signed); a key file refused ends the
    service as a bad setting does, naming the variable."""
    try:
        return log_key.configured(config.disclosure_log_key_file, os.environ)
    except log_key.LogKeyRefused as refused:
        sys.exit(
            "DisclosureSettings: the service cannot start; fix its environment:\n"
            f"  SUPERVISION_DISCLOSURE_LOG_KEY_FILE: {refused}"
        )


def create_app(config: DisclosureSettings) -> FastAPI:
    limiter = RateLimiter(
        per_second=config.disclosure_rate_per_second, burst=config.disclosure_rate_burst
    )
    keys = log_keys(config)
    origin = config.disclosure_log_origin or (keys.name if keys else "")

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[runtime.Runtime]:
        async with runtime.running(
            name="disclosure",
            settings=config,
            database_url=config.disclosure_database_url,
            migrations=MIGRATIONS,
            topics=[Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS, Topic.CHECKPOINTS],
            subscriptions=[subscription(config)],
        ) as started:
            signing = (
                asyncio.create_task(
                    _sign_regularly(
                        started.pool,
                        keys,
                        origin=origin,
                        interval=config.disclosure_log_sign_interval_seconds,
                    )
                )
                if keys
                else None
            )
            try:
                yield started
            finally:
                if signing is not None:
                    signing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await signing

    app = build_app(limiter)
    app.state.log_keys = keys
    return attach_runtime(app, running)


def main() -> None:
    config = settings.load(DisclosureSettings)
    serve_http(
        "disclosure",
        create_app(config),
        host=config.disclosure_http_host,
        port=config.disclosure_http_port,
        config=config,
    )
