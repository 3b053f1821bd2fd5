"""Wiring of the tracking service: settings, runtime, gRPC server with health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from pydantic import Field

from contracts.events import Topic
from contracts.grpc.supervision.agency.v1 import agency_pb2, agency_pb2_grpc
from services.platform import grpc_server, metrics, runtime, settings, telemetry, tls
from services.platform.consumer import Subscription
from services.platform.health import follow_dependencies
from services.platform.serve import configure_logging, instrument_database
from services.tracking import consumers, queries, schedule
from services.tracking.criticism_window import WindowPolicy
from services.tracking.deadlines import DeadlinePolicy, load_calendar
from services.tracking.domain import SchedulePolicy
from services.tracking.draft_files import MAX_FILE_BYTES
from services.tracking.feed import ChangeFeed
from services.tracking.grpc_api import AgencyService
from services.tracking.grpc_api.undecodable import RefuseUndecodable

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
SERVICE_NAME = agency_pb2.DESCRIPTOR.services_by_name["AgencyService"].full_name
MAX_REQUEST_BYTES: Final = MAX_FILE_BYTES + 64 * 1024
"""The largest call: a draft's largest file with the rest of its request."""
SETTLED_AFTER_SECONDS: Final = 0.5
"""On SIGTERM, after the lame duck: calls have all come in once none has for this long."""
SETTLE_AT_MOST_SECONDS: Final = 5.0
"""… or after this long, whatever a client keeps sending."""


class TrackingSettings(settings.CommonSettings):
    tracking_database_url: str = Field(description="PostgreSQL URL of tracking's database.")
    tracking_grpc_host: str = "127.0.0.1"
    tracking_grpc_port: int = Field(default=50051, ge=1, le=65535)
    tracking_metrics_host: str = "127.0.0.1"
    tracking_metrics_port: int = Field(
        default=9464, ge=1, le=65535, description="Port of the Prometheus /metrics listener."
    )
    tracking_client_ca_file: Path | None = Field(
        default=None,
        description="Mutual TLS for agencies: the CA (PEM) their client certificates must chain"
        " to. Set, every connection must present one, and a call acts for the agency its"
        " certificate is registered to (`supervision admin agency certificate …`); a token may"
        " come with it, but only one of the same agency.",
    )
    deadline_policy: DeadlinePolicy = Field(
        default_factory=DeadlinePolicy,
        description="JSON: days and counting (calendar/working) by default, kind, kind/level.",
    )
    criticism_window: WindowPolicy = Field(
        default_factory=WindowPolicy,
        description='JSON: {"minimum_days": N}, the days the Front must have a draft before it'
        " goes to the issuing authority (VFF Law art. 36(1): 15).",
    )
    reminder_days: tuple[int, ...] = Field(
        default=(7, 3, 1), description="JSON list: remind this many days before the due date."
    )
    escalate_after_days: int = Field(
        default=0, ge=0, description="Days after the due date before escalating one level up."
    )
    scheduler_interval_seconds: float = Field(default=10.0, gt=0)
    health_check_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often gRPC health re-checks the database and Kafka."
    )
    shutdown_lame_duck_seconds: float = Field(
        default=1.0,
        ge=0,
        description="On SIGTERM, how long tracking goes on serving, its health NOT_SERVING, before"
        " it takes no new call: calls already sent are started (gRPC cancels those still queued"
        " when the server stops) and clients' health checks move away; then on, until no call"
        " has come in for half a second (at most 5 s more: a busy machine takes calls in late)."
        " Calls started then have SUPERVISION_SHUTDOWN_GRACE_SECONDS more to finish.",
    )

    @property
    def schedule_policy(self) -> SchedulePolicy:
        return SchedulePolicy(
            reminder_days=self.reminder_days, escalate_after_days=self.escalate_after_days
        )


def subscription(config: TrackingSettings) -> Subscription:
    """Tracking's consumer as configured (``supervision ops`` reads its group and topics)."""
    return consumers.subscription(
        config.deadline_policy, config.schedule_policy, clock=schedule.system_clock
    )


def listeners_certificates(config: TrackingSettings) -> tls.Certificates | None:
    """The certificates of tracking's listeners (gRPC, metrics); raises :class:`tls.TlsError`
    for files that cannot be used and for plaintext off loopback."""
    certificates = tls.certificates(
        config.tls_cert_file, config.tls_key_file, config.tracking_client_ca_file
    )
    for listener, host in (
        ("tracking's gRPC server", config.tracking_grpc_host),
        ("tracking's metrics listener", config.tracking_metrics_host),
    ):
        tls.refuse_plaintext(
            listener=listener,
            host=host,
            certificates=certificates,
            allow_plaintext=config.allow_plaintext,
        )
    return certificates


async def serve(config: TrackingSettings, certificates: tls.Certificates | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tls.reload_on(signal.SIGHUP, certificates)

    async with (
        runtime.running(
            name="tracking",
            settings=config,
            database_url=config.tracking_database_url,
            migrations=MIGRATIONS,
            topics=[Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS],
            subscriptions=[subscription(config)],
        ) as running,
        schedule.running(
            running.pool,
            clock=schedule.system_clock,
            interval=config.scheduler_interval_seconds,
        ),
    ):
        feed = ChangeFeed(running.pool)
        listening = asyncio.create_task(feed.listen())
        pool = running.pool
        unobserve = metrics.observe_cases(lambda: queries.open_by_level(pool))
        scrapes = metrics.start_listener(
            config.tracking_metrics_host, config.tracking_metrics_port, certificates
        )
        interceptor = aio_server_interceptor()  # type: ignore[no-untyped-call]
        arrivals = grpc_server.Arrivals()
        server = grpc.aio.server(
            # A draft's file comes whole in one message; RefuseUndecodable holds the other
            # methods to gRPC's usual 4 MiB.
            options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)],
            # The last is innermost: it parses requests, so the others see what it refused.
            interceptors=[
                arrivals,
                interceptor,
                metrics.RpcMetricsInterceptor(),
                grpc_server.transient_errors_interceptor(),
                RefuseUndecodable(
                    larger={
                        f"/{SERVICE_NAME}/{method}": MAX_REQUEST_BYTES
                        for method in ("AddDraftVersion", "RecordSubmissionToAuthority")
                    }
                ),
            ],
        )
        agency_pb2_grpc.add_AgencyServiceServicer_to_server(
            AgencyService(
                running.pool,
                feed=feed,
                clock=schedule.system_clock,
                window_policy=config.criticism_window,
            ),
            server,
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        address = f"{config.tracking_grpc_host}:{config.tracking_grpc_port}"
        if certificates is None:
            server.add_insecure_port(address)
        else:
            server.add_secure_port(address, certificates.grpc_credentials())
        await server.start()
        following = asyncio.create_task(
            follow_dependencies(
                health_servicer,
                ("", SERVICE_NAME),
                {"database": running.check_database, "kafka": running.check_kafka},
                interval=config.health_check_interval_seconds,
            )
        )
        log.info(
            "tracking gRPC listening",
            extra={
                "address": address,
                "tls": certificates is not None,
                "client_certificates": certificates is not None
                and certificates.requires_client_certificates,
            },
        )
        await stop.wait()
        metrics_closed = asyncio.create_task(scrapes.aclose())
        log.info("tracking stopping: draining calls")
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await asyncio.sleep(config.shutdown_lame_duck_seconds)
        # Calls sent before the signal that the loop has not taken in yet: let them in.
        await arrivals.settle(quiet=SETTLED_AFTER_SECONDS, within=SETTLE_AT_MOST_SECONDS)
        feed.close()
        await server.stop(grace=config.shutdown_grace_seconds)
        unobserve()
        await metrics_closed
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


def main() -> None:
    config = settings.load(TrackingSettings)
    configure_logging()
    try:
        certificates = listeners_certificates(config)
    except tls.TlsError as error:
        sys.exit(f"tracking cannot start: {error}")
    provider = telemetry.setup("tracking")
    instrument_database()
    load_calendar(schedule.system_clock())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, certificates))
    provider.shutdown()
