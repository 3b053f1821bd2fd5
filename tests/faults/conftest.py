"""Fault tests: the services under load while processes, brokers and the database are killed,
or while Kafka cleans away what it may.
They take minutes, so `make test` leaves them to `make test-faults` (which `.ci/run` runs too)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.services import Deployment, deployed


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The three services as processes, with their own databases, for one test module."""
    async with deployed(engines, "faults") as running:
        yield running


@pytest.fixture(scope="module")
async def directory(deployment: Deployment) -> Directory:
    return await register(deployment)
