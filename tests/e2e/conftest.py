from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest

from tests.support.engines import Engines
from tests.support.services import Deployment, deployed
from tests.support.zipkin import Zipkin, start_zipkin


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The three services as processes, with their own databases, for one test module."""
    async with deployed(engines, "e2e") as running:
        yield running


@pytest.fixture(scope="session")
def zipkin() -> Iterator[Zipkin]:
    """A real Zipkin server (in-memory) on a free loopback port, for the whole session."""
    with ExitStack() as stack:
        yield start_zipkin(stack)
