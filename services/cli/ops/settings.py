"""Where the services are: the variables of ``make run`` (``infra/bin/defaults``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import typer
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.events import Topic
from services.cli.ops.sources import err

SERVICES: Final = ("submission", "tracking", "disclosure")
CONSUMED: Final[dict[str, tuple[str, ...]]] = {
    "submission": (Topic.AGENCIES, Topic.CASES),
    "tracking": (Topic.CRITIQUES,),
    "disclosure": (Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES),
}
"""The topics each service's consumer group reads (the tests hold this to the subscriptions)."""


class OpsSettings(BaseSettings):
    """Where the services are: the variables of ``infra/bin/defaults``, with the same defaults."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", frozen=True)

    kafka_host: str = "127.0.0.1"
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_bootstrap_servers: str = ""
    pg_host: str = "127.0.0.1"
    pg_port: int = Field(default=5432, ge=1, le=65535)
    submission_database_url: str = ""
    tracking_database_url: str = ""
    disclosure_database_url: str = ""
    submission_http_host: str = "127.0.0.1"
    submission_http_port: int = Field(default=8081, ge=1, le=65535)
    disclosure_http_host: str = "127.0.0.1"
    disclosure_http_port: int = Field(default=8080, ge=1, le=65535)
    tracking_grpc_host: str = "127.0.0.1"
    tracking_grpc_port: int = Field(default=50051, ge=1, le=65535)
    disclosure_consumer_group: str = "disclosure"
    run_dir: Path = Path(".run")
    ops_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long `ops` waits for each source."
    )

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.kafka_host}:{self.kafka_port}"

    def database_url(self, service: str) -> str:
        url: str = getattr(self, f"{service}_database_url")
        pg = f"postgresql://supervision@{self.pg_host}:{self.pg_port}"
        return url or f"{pg}/supervision_{service}"

    def http_url(self, service: str) -> str:
        host, port = getattr(self, f"{service}_http_host"), getattr(self, f"{service}_http_port")
        return f"http://{host}:{port}"

    @property
    def tracking_address(self) -> str:
        return f"{self.tracking_grpc_host}:{self.tracking_grpc_port}"

    def group(self, service: str) -> str:
        """The consumer group of a service (also the ``dlq_consumer`` of its dead letters)."""
        return self.disclosure_consumer_group if service == "disclosure" else service

    @property
    def replay_log(self) -> Path:
        return self.run_dir / "replayed.jsonl"


def load_settings() -> OpsSettings:
    # Client libraries log connection failures at ERROR; here they are reported in the output.
    for name in ("aiokafka", "asyncpg", "grpc"):
        library = logging.getLogger(name)
        library.addHandler(logging.NullHandler())
        library.propagate = False
    try:
        return OpsSettings()
    except ValidationError as error:
        lines = ["supervision ops: fix the environment:"]
        for problem in error.errors():
            name = "SUPERVISION_" + "_".join(str(part) for part in problem["loc"]).upper()
            lines.append(f"  {name}: {problem['msg']}")
        err.print("\n".join(lines), markup=False, highlight=False)
        raise typer.Exit(2) from None
