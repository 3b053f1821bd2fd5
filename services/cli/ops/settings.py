"""Where the services are and what their consumers read, as the services' own settings say.

``ops`` reads the variables the services read, through their own settings classes (see
:mod:`services.cli.ops.environment`), and each consumer's group and topics from the subscription
the service builds from them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import typer
from pydantic import ValidationError

from contracts.lifecycle import Service
from services.cli.ops.sources import err
from services.platform import settings

SERVICES = tuple(Service)


@dataclass(frozen=True)
class Consumer:
    group: str
    """Also the ``dlq_consumer`` of the dead letters it sets aside."""
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Deployment:
    """The services as ``ops`` reaches them; each mapping is by service (:data:`SERVICES`)."""

    bootstrap: str
    database_urls: Mapping[str, str]
    submission_url: str
    disclosure_url: str
    tracking_address: str
    tls: bool
    """Whether the services serve TLS (their URLs are then ``https``)."""
    consumers: Mapping[str, Consumer]
    replication_factor: int
    """Of the topic of handled dead letters, created by ``ops`` (as the services create theirs)."""
    ops_timeout_seconds: float
    """How long ``ops`` waits for each source."""


def load_settings() -> Deployment:
    """The deployment, or exit 2 naming every variable that is wrong."""
    # Client libraries log connection failures at ERROR; here they are reported in the output.
    for name in ("aiokafka", "asyncpg", "grpc"):
        library = logging.getLogger(name)
        library.addHandler(logging.NullHandler())
        library.propagate = False
    # Imported here: the services' modules take a second to import, which only ops should pay.
    from services.cli.ops import environment

    try:
        return environment.deployment()
    except ValidationError as error:
        lines = ["supervision ops: fix the environment:"]
        lines.extend(settings.problems(environment.Environment, error))
        err.print("\n".join(lines), markup=False, highlight=False)
        raise typer.Exit(2) from None
