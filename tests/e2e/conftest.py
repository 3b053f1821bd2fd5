from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack

import pytest

from tests.support.engines import Engines
from tests.support.services import Deployment, start_services, wait_ready


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
