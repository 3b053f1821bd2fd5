"""Readiness tells the truth: when PostgreSQL goes away the services say so (HTTP ``/readyz``
503, gRPC health NOT_SERVING) and refuse writes with a 503 to retry, not a 500; when it comes
back they are ready again and accept work, without being restarted.

The deployment here has a PostgreSQL of its own, which the test stops and starts again (same data
directory, same port); Kafka is the session's."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.tracking.main import SERVICE_NAME
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import case_of, critique_body, eventually
from tests.support.postgres import OwnPostgres, deployed_on, own_postgres
from tests.support.services import Deployment

WITHIN = 15.0
"""How soon readiness must follow PostgreSQL, either way."""


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    with own_postgres("readiness") as server:
        yield server


@pytest.fixture(scope="module")
async def own_deployment(engines: Engines, postgres: OwnPostgres) -> AsyncIterator[Deployment]:
    async with deployed_on(engines, postgres, "readiness") as deployment:
        yield deployment


async def readiness(deployment: Deployment) -> dict[str, object]:
    """What each service says of itself now: the HTTP status of /readyz, the gRPC health."""
    seen: dict[str, object] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for name, url in (
            ("submission", deployment.submission_url),
            ("disclosure", deployment.disclosure_url),
        ):
            seen[name] = (await http.get(f"{url}/readyz")).status_code
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            seen[f"tracking {service or 'server'}"] = (
                health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            )
    return seen


async def until(deployment: Deployment, expected: dict[str, object], since: float) -> float:
    """Seconds from ``since`` until every service says what is expected; fails after WITHIN."""
    last: dict[str, object] = {}

    async def matches() -> bool:
        nonlocal last
        last = await readiness(deployment)
        return last == expected

    try:
        await eventually(matches, timeout=WITHIN - (time.monotonic() - since))
    except TimeoutError:
        pytest.fail(f"after {WITHIN} s the services say {last}, expected {expected}")
    return time.monotonic() - since


READY = {
    "submission": 200,
    "disclosure": 200,
    "tracking server": "SERVING",
    f"tracking {SERVICE_NAME}": "SERVING",
}
NOT_READY = {
    "submission": 503,
    "disclosure": 503,
    "tracking server": "NOT_SERVING",
    f"tracking {SERVICE_NAME}": "NOT_SERVING",
}


async def post_critique(deployment: Deployment, directory: Directory) -> httpx.Response:
    async with httpx.AsyncClient(base_url=deployment.submission_url, timeout=10) as http:
        return await http.post(
            "/v1/critiques",
            json=critique_body(directory),
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )


async def test_readiness_follows_postgresql_down_and_back(
    own_deployment: Deployment, postgres: OwnPostgres
) -> None:
    deployment = own_deployment
    directory = await register(deployment)
    assert await readiness(deployment) == READY

    stopping = time.monotonic()
    await asyncio.to_thread(postgres.stop)
    went = await until(deployment, NOT_READY, since=stopping)
    print(f"not ready {went:.1f} s after PostgreSQL was told to stop")

    async with httpx.AsyncClient(timeout=5) as http:
        said = (await http.get(f"{deployment.submission_url}/readyz")).json()
    assert said["checks"]["database"].startswith("unavailable"), said
    assert said["checks"]["kafka"] == "ok", said

    refused = await post_critique(deployment, directory)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/unavailable")
    assert int(refused.headers["Retry-After"]) > 0
    for process in deployment.processes.values():
        assert process.popen.poll() is None, process.log_tail()

    starting = time.monotonic()
    await asyncio.to_thread(postgres.start)
    back = await until(deployment, READY, since=starting)
    print(f"ready again {back:.1f} s after PostgreSQL was started")

    accepted = await post_critique(deployment, directory)
    assert accepted.status_code == 201, accepted.text
    # ... and the whole way still works: outbox relay, Kafka, tracking's consumer.
    case = await case_of(deployment, directory, accepted.json()["id"])
    assert case.agency_id == directory.agency_id

    for process in deployment.processes.values():
        assert process.popen.poll() is None, process.log_tail()
    # The outage was logged as warnings, not as errors with tracebacks: no request failed with
    # a 500 and nothing was dead-lettered.
    assert errors_logged(deployment) == []


def errors_logged(deployment: Deployment) -> list[str]:
    """Errors logged by the services' own code or by the server (not by client libraries)."""
    found = []
    for process in deployment.processes.values():
        for line in process.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            logger = str(entry.get("logger", ""))
            if entry.get("level") in {"error", "critical"} and logger.startswith(
                ("services.", "uvicorn")
            ):
                found.append(f"{process.name}: {logger}: {entry.get('message')}")
    return found
