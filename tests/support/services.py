"""The three services as separate processes on the real engines, as `make run` starts them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.disclosure import checkpoints
from services.platform.certificates import DevelopmentCA, Issued
from services.platform.tls import private_file
from tests.support.engines import Engines, Process, free_port, start

SERVICES = ("submission", "tracking", "disclosure")
CLIENT_CA_SETTING = "SUPERVISION_TRACKING_CLIENT_CA_FILE"


@dataclass(frozen=True)
class Tls:
    """A deployment served over TLS, with certificates from a development CA of its own: the
    servers' certificate for loopback, and a client certificate for readiness probes (registered
    to no agency: it opens a mutual-TLS connection, it acts for nobody)."""

    ca: DevelopmentCA
    server: Issued
    probe: Issued

    @classmethod
    def make(cls, folder: Path) -> Tls:
        ca = DevelopmentCA(folder)
        return cls(ca, ca.issue_server(folder), ca.issue_agency(folder / "probe", "probe"))

    @property
    def ca_file(self) -> Path:
        return self.ca.certificate_file

    def env(self) -> dict[str, str]:
        return {
            "SUPERVISION_TLS_CERT_FILE": str(self.server.certificate_file),
            "SUPERVISION_TLS_KEY_FILE": str(self.server.key_file),
        }

    def mutual_env(self) -> dict[str, str]:
        """What makes a tracking instance require agencies' client certificates."""
        return {CLIENT_CA_SETTING: str(self.ca_file)}

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def channel_credentials(self, client: Issued | None = None) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=client.key_file.read_bytes() if client else None,
            certificate_chain=client.certificate_file.read_bytes() if client else None,
        )


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    service: str = ""
    """Which service this process is an instance of (``tracking`` for ``tracking-2``)."""
    endpoint: str = ""
    """Where it serves: a base URL (``http://…``) for HTTP services, ``host:port`` for gRPC."""
    metrics_url: str = ""
    """Tracking's Prometheus listener; empty for the HTTP services (they serve ``/metrics``)."""


@dataclass
class Deployment:
    submission_url: str
    disclosure_url: str
    tracking_address: str
    database_urls: dict[str, str]
    traces_dir: Path
    processes: dict[str, Process]
    log_verifier_key: str = ""
    log_key_file: Path | None = None
    """The file of disclosure's private log keys (``SUPERVISION_DISCLOSURE_LOG_KEY_FILE``), mode
    0600; a test rotating the key edits it and restarts disclosure."""
    tracking_metrics_url: str = ""
    """Tracking's Prometheus listener (``…/metrics``); the HTTP services serve ``/metrics``."""
    launches: dict[str, Launch] = field(default_factory=dict)
    """How each process was started, so a test can start it again after stopping or killing it."""
    tls: Tls | None = None
    """Set when the services serve TLS: reach them with :meth:`http_client` and :meth:`channel`."""

    def http_client(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client that trusts the deployment's CA when it serves TLS."""
        if self.tls is not None:
            options.setdefault("verify", self.tls.ssl_context())
        return httpx.AsyncClient(**options)

    def channel(self, address: str | None = None, client: Issued | None = None) -> grpc.aio.Channel:
        """A channel to tracking (its first instance unless ``address``), over TLS when the
        deployment serves it, with ``client``'s certificate if given."""
        target = address or self.tracking_address
        if self.tls is None:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, self.tls.channel_credentials(client))

    def _probe_channel(self, name: str) -> grpc.aio.Channel:
        """A channel for ``name``'s health: with the probe's certificate where it asks for one
        (``""``: :attr:`tracking_address`, started by the test itself)."""
        if name not in self.launches:
            return self.channel()
        launch = self.launches[name]
        mutual = self.tls is not None and CLIENT_CA_SETTING in launch.env
        return self.channel(launch.endpoint, self.tls.probe if mutual and self.tls else None)

    async def restart(self, name: str, signum: int = signal.SIGTERM) -> Process:
        """Stop ``name`` with ``signum`` (if still running) and start it again, same ports and
        settings; its log continues in the same file.

        The wait for the process to end (after SIGTERM, its whole drain) runs in a thread: the
        test's own clients, a load say, live on this event loop and must go on meanwhile. Frozen,
        they once left a request's body unsent, and the drain waited its whole grace period."""
        await asyncio.to_thread(self.processes[name].stop, signum)
        launch = self.launches[name]
        self.processes[name] = start(name, launch.argv, launch.env, launch.log_dir)
        return self.processes[name]

    def stop(self, signum: int = signal.SIGTERM) -> dict[str, int]:
        return {name: process.stop(signum) for name, process in self.processes.items()}

    # -- several instances of a service ------------------------------------------------------------
    #
    # The first instance of each service is named after it (``submission``); more instances are
    # ``submission-2``, ``submission-3`` … on the same databases, Kafka and consumer groups, with
    # ports, a log file (``submission-2.log``) and a trace file of their own. Every instance
    # connects to PostgreSQL with its name as ``application_name``, so a test can tell from
    # ``pg_stat_activity`` which instance holds a lock.

    def instances(self, service: str) -> list[str]:
        """The names of ``service``'s instances, first started first."""
        return [name for name, launch in self.launches.items() if launch.service == service]

    def endpoints(self, service: str) -> list[str]:
        """Each instance's base URL (HTTP services) or ``host:port`` (tracking), in order."""
        return [self.launches[name].endpoint for name in self.instances(service)]

    async def kill(self, name: str, signum: int = signal.SIGKILL) -> int:
        """Stop one instance (by default as a crash would: SIGKILL); ``restart`` starts it again.
        Waits in a thread, as :meth:`restart` does."""
        return await asyncio.to_thread(self.processes[name].stop, signum)

    def start_instance(self, service: str, extra_env: dict[str, str] | None = None) -> str:
        """Start one more instance of ``service``, set up like its first but on ports of its own
        (and ``extra_env``); return its name. Wait for it with :func:`wait_ready`."""
        first = self.launches[self.instances(service)[0]]
        name = f"{service}-{len(self.instances(service)) + 1}"
        port = free_port()
        database_setting = f"SUPERVISION_{service.upper()}_DATABASE_URL"
        env = {
            **first.env,
            database_setting: first.env[database_setting].replace(
                f"application_name={first.service}", f"application_name={name}"
            ),
            _PORT_SETTINGS[service]: str(port),
            "SUPERVISION_OTEL_JSON_FILE": str(self.traces_dir / f"{name}.jsonl"),
            **(extra_env or {}),
        }
        scheme = "https" if self.tls else "http"
        metrics_url = ""
        if service == "tracking":
            metrics_port = free_port()
            env["SUPERVISION_TRACKING_METRICS_PORT"] = str(metrics_port)
            metrics_url = f"{scheme}://127.0.0.1:{metrics_port}"
        launch = Launch(
            first.argv, env, first.log_dir, service, _endpoint(service, port, scheme), metrics_url
        )
        self.launches[name] = launch
        self.processes[name] = start(name, launch.argv, launch.env, launch.log_dir)
        return name

    def spans(self) -> list[dict[str, Any]]:
        """Every span the services exported, flattened, with the service name of its resource."""
        found = []
        for path in sorted(self.traces_dir.glob("*.jsonl")):
            for line in path.read_text().splitlines():
                for resource_spans in json.loads(line).get("resourceSpans", []):
                    attributes = resource_spans["resource"]["attributes"]
                    service = next(
                        a["value"]["stringValue"] for a in attributes if a["key"] == "service.name"
                    )
                    for scope_spans in resource_spans.get("scopeSpans", []):
                        for span in scope_spans.get("spans", []):
                            found.append({**span, "service": service})
        return found


_PORT_SETTINGS = {
    "submission": "SUPERVISION_SUBMISSION_HTTP_PORT",
    "tracking": "SUPERVISION_TRACKING_GRPC_PORT",
    "disclosure": "SUPERVISION_DISCLOSURE_HTTP_PORT",
}


def _endpoint(service: str, port: int, scheme: str = "http") -> str:
    return f"127.0.0.1:{port}" if service == "tracking" else f"{scheme}://127.0.0.1:{port}"


def _named(database_url: str, application_name: str) -> str:
    """``database_url`` with ``application_name`` set (shown in ``pg_stat_activity``)."""
    return f"{database_url}{'&' if '?' in database_url else '?'}application_name={application_name}"


async def wait_ready(deployment: Deployment, timeout: float = 90.0) -> None:
    """Wait until every instance of every service is ready; if one exits or is not ready in
    ``timeout`` seconds, fail naming it, with the last lines of every service's log."""
    http_urls = [
        url for service in ("submission", "disclosure") for url in deployment.endpoints(service)
    ] or [deployment.submission_url, deployment.disclosure_url]
    grpc_instances = deployment.instances("tracking") or [""]  # "": tracking_address
    waiting_for = ""
    last_answer = "nothing yet"

    def logs() -> str:
        return "\n".join(
            f"--- {process.name} (exit code {process.popen.poll()}):\n{process.log_tail()}"
            for process in deployment.processes.values()
        )

    def none_exited() -> None:
        for process in deployment.processes.values():
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"{process.name} exited while {waiting_for} was awaited:\n{logs()}"
                )

    try:
        async with asyncio.timeout(timeout), deployment.http_client() as client:
            for url in http_urls:
                waiting_for = f"{url}/readyz"
                while True:
                    none_exited()
                    try:
                        answer = await client.get(f"{url}/readyz")
                        if answer.status_code == 200:
                            break
                        last_answer = f"{answer.status_code} {answer.text[:300]}"
                    except httpx.TransportError as error:
                        last_answer = repr(error)
                    await asyncio.sleep(0.3)
            for name in grpc_instances:
                waiting_for = f"gRPC health of {name or deployment.tracking_address}"
                async with deployment._probe_channel(name) as channel:
                    health = health_pb2_grpc.HealthStub(channel)
                    while True:
                        none_exited()
                        try:
                            reply = await health.Check(
                                health_pb2.HealthCheckRequest(service=""), timeout=5
                            )
                            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                                break
                            last_answer = health_pb2.HealthCheckResponse.ServingStatus.Name(
                                reply.status
                            )
                        except grpc.aio.AioRpcError as error:
                            last_answer = f"{error.code().name} {error.details()}"
                        await asyncio.sleep(0.3)
    except TimeoutError:
        raise TimeoutError(
            f"{waiting_for} not ready after {timeout} s (last answer: {last_answer}):\n{logs()}"
        ) from None


async def scale_out(deployment: Deployment, instances: int = 2, timeout: float = 90.0) -> None:
    """Run ``instances`` instances of every service (starting the missing ones), all ready."""
    for service in SERVICES:
        while len(deployment.instances(service)) < instances:
            deployment.start_instance(service)
    await wait_ready(deployment, timeout)


def start_services(
    stack: ExitStack,
    engines: Engines,
    database_urls: dict[str, str],
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    kafka_bootstrap: str | None = None,
    tls: bool = False,
) -> Deployment:
    """Start the three services on ``engines`` (Kafka at ``kafka_bootstrap`` if given), over
    TLS with certificates of a CA of their own if ``tls``."""
    workdir.mkdir(parents=True, exist_ok=True)
    certificates = Tls.make(workdir / "tls") if tls else None
    scheme = "https" if tls else "http"
    traces = workdir / "traces"
    ports = {name: free_port() for name in SERVICES}
    metrics_port = free_port()
    log_key = checkpoints.Signer.generate(f"supervision.test/{workdir.name}")
    log_key_file = workdir / "disclosure-log.key"
    private_file(log_key_file, f"{log_key.private_key}\n".encode())
    env = {
        "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap or engines.kafka_bootstrap,
        "SUPERVISION_SUBMISSION_DATABASE_URL": database_urls["submission"],
        "SUPERVISION_TRACKING_DATABASE_URL": database_urls["tracking"],
        "SUPERVISION_DISCLOSURE_DATABASE_URL": database_urls["disclosure"],
        "SUPERVISION_SUBMISSION_HTTP_PORT": str(ports["submission"]),
        "SUPERVISION_TRACKING_GRPC_PORT": str(ports["tracking"]),
        "SUPERVISION_DISCLOSURE_HTTP_PORT": str(ports["disclosure"]),
        "SUPERVISION_TRACKING_METRICS_PORT": str(metrics_port),
        "SUPERVISION_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "SUPERVISION_OTEL_JSON_FILE": str(traces / "{service}.jsonl"),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "SUPERVISION_DISCLOSURE_LOG_KEY_FILE": str(log_key_file),
        "SUPERVISION_DISCLOSURE_LOG_SIGN_INTERVAL_SECONDS": "1",
        # Tests poll the public API hard; its rate limit has tests of its own.
        "SUPERVISION_DISCLOSURE_RATE_PER_SECOND": "10000",
        "SUPERVISION_DISCLOSURE_RATE_BURST": "10000",
        **(certificates.env() if certificates else {}),
        **(extra_env or {}),
    }
    launches = {
        name: Launch(
            [sys.executable, "-m", "services.cli", "serve", name],
            {
                **env,
                f"SUPERVISION_{name.upper()}_DATABASE_URL": _named(
                    env[f"SUPERVISION_{name.upper()}_DATABASE_URL"], name
                ),
                "OTEL_SERVICE_NAME": name,
                "PYTHONUNBUFFERED": "1",
            },
            workdir,
            name,
            _endpoint(name, ports[name], scheme),
            f"{scheme}://127.0.0.1:{metrics_port}" if name == "tracking" else "",
        )
        for name in SERVICES
    }
    processes = {
        name: start(name, launch.argv, launch.env, launch.log_dir)
        for name, launch in launches.items()
    }
    deployment = Deployment(
        submission_url=f"{scheme}://127.0.0.1:{ports['submission']}",
        disclosure_url=f"{scheme}://127.0.0.1:{ports['disclosure']}",
        tracking_address=f"127.0.0.1:{ports['tracking']}",
        database_urls=database_urls,
        traces_dir=traces,
        processes=processes,
        log_verifier_key=log_key.verifier_key,
        log_key_file=log_key_file,
        tracking_metrics_url=f"{scheme}://127.0.0.1:{metrics_port}",
        launches=launches,
        tls=certificates,
    )
    # The deployment's current processes, which a test may have restarted.
    stack.callback(deployment.stop)
    return deployment


@contextlib.asynccontextmanager
async def deployed(
    engines: Engines,
    name: str,
    *,
    extra_env: dict[str, str] | None = None,
    kafka_bootstrap: str | None = None,
    instances: int = 1,
    tls: bool = False,
) -> AsyncIterator[Deployment]:
    """The three services, ready, on databases of their own; stopped on leaving. With
    ``instances`` above 1, that many instances of each (see :meth:`Deployment.start_instance`)."""
    urls = {
        service: await engines.create_database(service)
        for service in ("submission", "tracking", "disclosure")
    }
    with ExitStack() as stack:
        running = start_services(
            stack,
            engines,
            urls,
            engines.workdir / f"{name}-{uuid.uuid4().hex[:6]}",
            extra_env=extra_env,
            kafka_bootstrap=kafka_bootstrap,
            tls=tls,
        )
        await scale_out(running, instances)
        yield running
