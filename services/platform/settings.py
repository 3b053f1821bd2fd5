"""Settings from the environment (``SUPERVISION_*``), checked once at start-up.

A service that is missing a setting or given a bad one refuses to start and says which variable
to set, instead of failing later on its first request.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Settings every service needs."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long an outbox row is kept once published (to look at); then deleted."
        " A row not yet published is never deleted.",
    )
    inbox_retention_seconds: float = Field(
        default=30 * 86_400.0,
        ge=86_400,
        description="How long a consumer keeps the id of an event it applied, to drop the event"
        " if it comes again; then deleted. Redelivered at its old offset it is still dropped"
        " (the highest pruned offset of each partition is kept); published again at a new offset"
        " later than this (a dead letter replayed with --again) it would be applied again. So"
        " at least a day, and longer than any replay: the default, 30 days, is four times Kafka's"
        " committed-offset retention (offsets.retention.minutes, 7 days by default).",
    )
    pruning_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often a service deletes the outbox rows and inbox ids past their"
        " retention (in batches of 1,000, a transaction each).",
    )
    kafka_retention_check_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the service reads its topics' settings back from Kafka, to say"
        " (at /readyz, in its log) when one may delete what its retention policy keeps.",
    )
    consumer_max_attempts: int = Field(
        default=5, ge=1, description="Attempts before an event that keeps failing is dead-lettered."
    )
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    tls_cert_file: Path | None = Field(
        default=None,
        description="The certificate chain (PEM, the server's certificate first) every listener"
        " of the service presents; with SUPERVISION_TLS_KEY_FILE, its listeners speak TLS 1.2+"
        " only. Read again on SIGHUP and when the files change.",
    )
    tls_key_file: Path | None = Field(
        default=None,
        description="The certificate's private key (PEM); refused when others may read it.",
    )
    allow_plaintext: bool = Field(
        default=False,
        description="Listen without TLS on an address other than loopback: only behind a proxy"
        " that terminates TLS (set SUPERVISION_FORWARDED_ALLOW_IPS to it for the HTTP services).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Addresses of the proxies whose X-Forwarded-Proto and X-Forwarded-For the"
        " HTTP services believe (comma-separated, or *).",
    )
    shutdown_grace_seconds: int = Field(
        default=20,
        ge=1,
        description="On SIGTERM, how long the requests and calls already received have to"
        " finish. HTTP requests still running then are answered 503 with Retry-After; gRPC calls"
        " still running are cancelled.",
    )


S = TypeVar("S", bound=BaseSettings)


def load(settings_type: type[S]) -> S:
    """Read settings or exit with a message naming every variable that is missing or wrong."""
    try:
        return settings_type()
    except ValidationError as error:
        lines = [f"{settings_type.__name__}: the service cannot start; fix its environment:"]
        sys.exit("\n".join([*lines, *problems(settings_type, error)]))


def problems(settings_type: type[BaseSettings], error: ValidationError) -> list[str]:
    """One line per variable ``error`` found missing or wrong: ``  NAME: what is wrong``."""
    prefix = str(settings_type.model_config.get("env_prefix", ""))
    return [
        f"  {prefix}{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
        for problem in error.errors()
    ]
