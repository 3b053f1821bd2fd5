"""The OWASP API Security Top 10 (2023), one module per item that applies, on one deployment.

Every module of this package shares the ``deployment`` below (one set of service processes for
the package, not one per module), and makes its clients only through the fixtures here, so the
way the package reaches the services (plaintext or TLS) is decided in this file alone.

The items, and where each is tested:

- API1:2023 Broken Object Level Authorization, API2:2023 Broken Authentication, API3:2023 Broken
  Object Property Level Authorization, API5:2023 Broken Function Level Authorization, API6:2023
  Unrestricted Access to Sensitive Business Flows: a module each, ``test_api<N>_*.py``.
- API4:2023 Unrestricted Resource Consumption: ``test_api4_resource_consumption.py`` (page sizes,
  body and message sizes, the public rate limit, proofs and search, WatchCases streams).
- API7:2023 Server Side Request Forgery: does not apply. No service fetches a URL a client gives
  it: a draft's link is stored and shown as text, never followed; the services connect only to
  PostgreSQL, Kafka and the trace exporter their operators configure (``supervision verify
  fetch`` fetches what its own user names, on that user's machine).
- API8:2023 Security Misconfiguration: ``test_api8_*.py`` (TLS on every listener, plaintext
  refused).
- API9:2023 Improper Inventory Management: ``test_api9_inventory.py`` (every route documented,
  every documented route served, nothing else answering; gRPC reflection; the metrics listener).
- API10:2023 Unsafe Consumption of APIs: ``test_api10_unsafe_consumption.py`` (the events each
  service takes from the others' topics are held to their contract, or dead-lettered).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.engines import Engines
from tests.support.services import Deployment, Tls, deployed, wait_ready


@pytest.fixture(scope="package")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The three services as processes, with their own databases, for the whole package."""
    # An organisation refills one request a second past its burst (100): API6's flood stays held
    # back for the next request however slowly the machine answers (at 20/s a token came back
    # within one slow request, and the request meant to be held was accepted).
    async with deployed(
        engines, "owasp", tls=True, extra_env={"SUPERVISION_SUBMISSION_RATE_PER_SECOND": "1"}
    ) as running:
        yield running


@pytest.fixture(scope="package")
async def tls(deployment: Deployment) -> Tls:
    """The deployment's CA and certificates."""
    assert deployment.tls is not None
    return deployment.tls


@pytest.fixture(scope="package")
async def mutual_tracking(deployment: Deployment, tls: Tls) -> str:
    """The address of a tracking instance (same database and Kafka) that requires a client
    certificate from the deployment's CA on every connection."""
    name = deployment.start_instance("tracking", tls.mutual_env())
    await wait_ready(deployment)
    return deployment.launches[name].endpoint


@pytest.fixture
async def submission_client(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the organisations' HTTP API (no credentials of its own)."""
    async with deployment.http_client(base_url=deployment.submission_url, timeout=10) as client:
        yield client


@pytest.fixture
async def disclosure_client(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the public site and API."""
    async with deployment.http_client(base_url=deployment.disclosure_url, timeout=10) as client:
        yield client


AgencyChannel = Callable[[], grpc.aio.Channel]
"""Opens a new channel to tracking's agency API (close it, or use it with ``async with``)."""


@pytest.fixture
def agency_channel(deployment: Deployment) -> AgencyChannel:
    def open_channel() -> grpc.aio.Channel:
        return deployment.channel()

    return open_channel


@pytest.fixture
async def agency(agency_channel: AgencyChannel) -> AsyncIterator[pb_grpc.AgencyServiceStub]:
    """A stub of tracking's agency API on a channel of its own (no credentials of its own)."""
    async with agency_channel() as channel:
        yield pb_grpc.AgencyServiceStub(channel)


@pytest.fixture
async def tracking_metrics_client(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    """A client of tracking's Prometheus listener (``deployment.tracking_metrics_url``)."""
    async with deployment.http_client(
        base_url=deployment.tracking_metrics_url, timeout=10
    ) as client:
        yield client


RawConnection = Callable[[str], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""Opens a byte stream to ``"submission"`` or ``"disclosure"``, for requests no HTTP client
sends (a declared length with no body, say); close its writer."""


@pytest.fixture
def raw_connection(deployment: Deployment) -> RawConnection:
    base_urls = {"submission": deployment.submission_url, "disclosure": deployment.disclosure_url}

    async def open_connection(service: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = httpx.URL(base_urls[service])
        assert url.host
        assert url.port
        tls = deployment.tls.ssl_context() if deployment.tls else None
        return await asyncio.open_connection(url.host, url.port, ssl=tls)

    return open_connection
