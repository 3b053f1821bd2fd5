"""Crash matrix: while organisations submit and the agency answers, each service process and the
Kafka broker is killed (SIGKILL, and separately stopped with SIGTERM) several times and started
again. Afterwards every submission that got a 201 is disclosed exactly once with the answer the
agency got OK for, no outbox holds an unsent event, and the transparency log verifies."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.directory import Directory, register
from tests.support.engines import Engines, OwnKafka, free_port
from tests.support.load import Load, assert_nothing_lost
from tests.support.services import Deployment, deployed, wait_ready

ROUNDS = 2
"""Each target is killed and stopped this many times with each signal."""


@pytest.fixture(scope="module")
async def broker() -> AsyncIterator[OwnKafka]:
    """A broker of this module's own, which it kills and starts again on the same data."""
    kafka = OwnKafka(
        port=free_port(),
        controller_port=free_port(),
        workdir=Path(tempfile.mkdtemp(prefix="supervision-crash-")),
    )
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
        if not os.environ.get("SUPERVISION_TEST_KEEP"):  # kept for a post-mortem when set
            shutil.rmtree(kafka.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
async def deployment(engines: Engines, broker: OwnKafka) -> AsyncIterator[Deployment]:
    async with deployed(engines, "crash", kafka_bootstrap=broker.bootstrap) as running:
        yield running


@pytest.fixture(scope="module")
async def directory(deployment: Deployment) -> Directory:
    return await register(deployment)


async def crash(deployment: Deployment, broker: OwnKafka, target: str, signum: int) -> float:
    """Stop ``target`` with ``signum`` and start it again; returns the seconds until every
    service was ready again.

    The waits for the process to end run in a thread: the load's clients live on this event loop
    and must go on (sending the rest of a request, say) while the target drains."""
    began = time.monotonic()
    if target == "kafka":
        assert broker.process is not None
        await asyncio.to_thread(broker.process.stop, signum, 60)
        await asyncio.to_thread(broker.start)  # waits until the broker answers
    else:
        await deployment.restart(target, signum)
    await wait_ready(deployment)
    return time.monotonic() - began


@pytest.mark.timeout(900)
async def test_every_accepted_submission_survives_crashes_of_each_process(
    deployment: Deployment, directory: Directory, broker: OwnKafka
) -> None:
    outages: list[tuple[str, str, float]] = []
    async with Load(deployment, directory) as load:
        await asyncio.sleep(5)
        for _ in range(ROUNDS):
            for target in ("submission", "tracking", "disclosure", "kafka"):
                for signum in (signal.SIGKILL, signal.SIGTERM):
                    before = len(load.accepted)
                    away = await crash(deployment, broker, target, signum)
                    outages.append((target, signal.Signals(signum).name, away))
                    print(f"{target} {outages[-1][1]}: ready again after {away:.1f} s", flush=True)
                    # Work goes on between crashes: the load is accepted again before the next.
                    async with asyncio.timeout(120):
                        while len(load.accepted) < before + 20:
                            await asyncio.sleep(0.2)
        await asyncio.sleep(3)
    print(
        f"\naccepted {len(load.accepted)}, answered {len(load.answered)},"
        f" retried {dict(load.retries)}"
    )
    for target, name, away in outages:
        print(f"  {target:<11} {name:<8} ready again after {away:5.1f} s")
    assert len(outages) == ROUNDS * 4 * 2
    await assert_nothing_lost(load)
    # Every SIGTERM drained within the grace period: no request was cut off (and answered 503).
    for name, process in deployment.processes.items():
        log = process.log_path.read_text(errors="replace")
        assert "timeout graceful shutdown exceeded" not in log, name
        assert "request cancelled at shutdown" not in log, name
