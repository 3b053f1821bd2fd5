"""The environment as the three services read it, read by ``ops`` through the same classes."""

from __future__ import annotations

from pydantic import Field

from services.cli.ops.settings import Consumer, Deployment
from services.disclosure import main as disclosure
from services.submission import main as submission
from services.tracking import main as tracking


class Environment(
    submission.SubmissionSettings, tracking.TrackingSettings, disclosure.DisclosureSettings
):
    """Every variable the services read (their fields: same names, prefix and defaults; a value
    a service would refuse, ``ops`` refuses too), and those only ``make run`` and ``ops`` read.

    The services require their database URLs; where one is not given (or empty), ``ops`` falls
    back as ``make run`` does (``infra/bin/defaults``): to
    ``postgresql://supervision@{pg_host}:{pg_port}/supervision_<service>``, and to
    ``{kafka_host}:{kafka_port}`` for Kafka."""

    submission_database_url: str = ""
    tracking_database_url: str = ""
    disclosure_database_url: str = ""
    kafka_bootstrap_servers: str = ""
    pg_host: str = "127.0.0.1"
    pg_port: int = Field(default=5432, ge=1, le=65535)
    kafka_host: str = "127.0.0.1"
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    ops_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long `ops` waits for each source."
    )


def deployment() -> Deployment:
    """Read from the environment (raises ``ValidationError`` naming what is wrong)."""
    env = Environment()
    pg = f"postgresql://supervision@{env.pg_host}:{env.pg_port}"
    database_urls = {
        "submission": env.submission_database_url,
        "tracking": env.tracking_database_url,
        "disclosure": env.disclosure_database_url,
    }
    subscriptions = {
        "submission": submission.subscription(env),
        "tracking": tracking.subscription(env),
        "disclosure": disclosure.subscription(env),
    }
    scheme = "https" if env.tls_cert_file else "http"
    return Deployment(
        bootstrap=env.kafka_bootstrap_servers or f"{env.kafka_host}:{env.kafka_port}",
        database_urls={
            service: url or f"{pg}/supervision_{service}" for service, url in database_urls.items()
        },
        submission_url=f"{scheme}://{env.submission_http_host}:{env.submission_http_port}",
        disclosure_url=f"{scheme}://{env.disclosure_http_host}:{env.disclosure_http_port}",
        tracking_address=f"{env.tracking_grpc_host}:{env.tracking_grpc_port}",
        tls=env.tls_cert_file is not None,
        consumers={
            service: Consumer(group=subscription.name, topics=subscription.topics)
            for service, subscription in subscriptions.items()
        },
        replication_factor=env.kafka_replication_factor,
        ops_timeout_seconds=env.ops_timeout_seconds,
    )
