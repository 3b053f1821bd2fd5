from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest

from tests.support.engines import Engines
from tests.support.services import Deployment, start_services, wait_ready
from tests.support.zipkin import Zipkin, start_zipkin


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The three services as processes, with their own databases, for one test module."""
    urls = {
        name: await engines.create_database(name)
        for name in ("submission", "tracking", "disclosure")
    }
    with ExitStack() as stack:
        running = start_services(
            stack, engines, urls, engines.workdir / f"e2e-{uuid.uuid4().hex[:6]}"
        )
        await wait_ready(running)
        yield running


@pytest.fixture(scope="session")
def zipkin() -> Iterator[Zipkin]:
    """A real Zipkin server (in-memory) on a free loopback port, for the whole session."""
    with ExitStack() as stack:
        yield start_zipkin(stack)
