"""PostgreSQL restarted under load: while it is down every API refuses with a 503 and a
Retry-After (gRPC: UNAVAILABLE), never a 500; once it is back the work goes on, and nothing
accepted before, during or after is lost. Once with a fast shutdown, once with an immediate
(crash-like) one that makes PostgreSQL recover on the next start."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import agency_metadata, critique_body
from tests.support.load import Load, assert_nothing_lost
from tests.support.postgres import OwnPostgres, deployed_on, own_postgres
from tests.support.services import Deployment

DOWN_FOR = 8.0
"""Seconds PostgreSQL stays down each time."""


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    with own_postgres("pg-restart") as server:
        yield server


@pytest.fixture(scope="module")
async def deployment(engines: Engines, postgres: OwnPostgres) -> AsyncIterator[Deployment]:
    async with deployed_on(engines, postgres, "restart") as running:
        yield running


@pytest.fixture(scope="module")
async def directory(deployment: Deployment) -> Directory:
    return await register(deployment)


async def probe(deployment: Deployment, directory: Directory, seen: Counter[str]) -> None:
    """One request at each door that needs the database; counts what each answered."""
    organisation = {"Authorization": f"Bearer {directory.organisation_token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        for name, send in (
            (
                "submit",
                http.post(
                    f"{deployment.submission_url}/v1/critiques",
                    json=critique_body(directory),
                    headers=organisation,
                ),
            ),
            ("list", http.get(f"{deployment.submission_url}/v1/critiques", headers=organisation)),
            ("records", http.get(f"{deployment.disclosure_url}/v1/records")),
            ("search page", http.get(f"{deployment.disclosure_url}/search?q=quy")),
            ("checkpoint", http.get(f"{deployment.disclosure_url}/v1/log/checkpoint")),
        ):
            try:
                reply = await send
            except httpx.TransportError as error:
                seen[f"{name} {type(error).__name__}"] += 1
                continue
            if reply.status_code == 503:
                assert int(reply.headers["Retry-After"]) > 0, (name, reply.headers)
                assert reply.headers["content-type"].startswith("application/problem+json")
            seen[f"{name} {reply.status_code}"] += 1
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        try:
            await agency.ListCases(
                pb.ListCasesRequest(page_size=5), metadata=agency_metadata(directory), timeout=10
            )
            seen["cases OK"] += 1
        except grpc.aio.AioRpcError as error:
            seen[f"cases {error.code().name}"] += 1


async def test_apis_refuse_with_503_while_postgresql_is_down_and_nothing_is_lost(
    deployment: Deployment, directory: Directory, postgres: OwnPostgres
) -> None:
    while_down: Counter[str] = Counter()
    async with Load(deployment, directory) as load:
        await asyncio.sleep(5)
        for signum in (signal.SIGINT, signal.SIGQUIT):
            before = len(load.accepted)
            await asyncio.to_thread(postgres.stop, signum)
            down_until = time.monotonic() + DOWN_FOR
            while time.monotonic() < down_until:
                await probe(deployment, directory, while_down)
                await asyncio.sleep(0.5)
            await asyncio.to_thread(postgres.start)
            async with asyncio.timeout(120):
                while len(load.accepted) < before + 20:
                    await asyncio.sleep(0.2)
        await asyncio.sleep(3)
    print(f"\nwhile down: {dict(while_down)}")
    print(f"accepted {len(load.accepted)}, retried {dict(load.retries)}")

    # While down: refusals to retry, never a server error or a success that could not be kept.
    doors = {"submit", "list", "records", "search page", "checkpoint", "cases"}
    assert {key.rsplit(" ", 1)[0] for key in while_down} == doors
    assert {key.rsplit(" ", 1)[1] for key in while_down} <= {"503", "UNAVAILABLE"}, while_down
    assert load.retries["503"] > 0  # the load saw the outage too, and retried through it
    for process in deployment.processes.values():
        assert process.popen.poll() is None, process.log_tail()
    await assert_nothing_lost(load)
