"""Crash matrix: while organisations submit and the agency answers, each service process and the
Kafka broker is killed (SIGKILL, and separately stopped with SIGTERM) several times and started
again. Afterwards every submission that got a 201 is disclosed exactly once with the answer the
agency got OK for, no outbox holds an unsent event, and the transparency log verifies."""

from __future__ import annotations

import asyncio

from tests.support.directory import Directory
from tests.support.load import Load, assert_nothing_lost
from tests.support.services import Deployment


async def test_load_without_faults_loses_nothing(
    deployment: Deployment, directory: Directory
) -> None:
    async with Load(deployment, directory) as load:
        await asyncio.sleep(10)
    print(f"accepted {len(load.accepted)}, retries {dict(load.retries)}")
    await assert_nothing_lost(load)
