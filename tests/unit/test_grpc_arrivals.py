"""On SIGTERM tracking lets in the calls clients sent before the signal: it waits until none has
come in for a moment, health checks aside, and never longer than its bound."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from services.platform.grpc_server import Arrivals


async def arrive(arrivals: Arrivals, method: str) -> None:
    async def continuation(details: Any) -> str:
        return "handler"

    assert await arrivals.intercept_service(continuation, SimpleNamespace(method=method)) == (
        "handler"
    )


async def test_with_no_call_coming_in_it_settles_at_once() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await Arrivals().settle(quiet=0.5, within=5)
    assert loop.time() - started < 0.1


async def test_it_waits_while_calls_keep_coming_in_then_for_the_quiet_period() -> None:
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def callers() -> None:
        for _ in range(6):  # one call every 0.1 s for 0.6 s
            await arrive(arrivals, "/supervision.agency.v1.AgencyService/ListCases")
            await asyncio.sleep(0.1)

    calling = asyncio.create_task(callers())
    await asyncio.sleep(0.05)
    await arrivals.settle(quiet=0.3, within=5)
    await calling
    assert loop.time() - started >= 0.5 + 0.3 - 0.05


async def test_health_checks_do_not_hold_it_and_a_client_calling_without_pause_neither() -> None:
    arrivals = Arrivals()
    await arrive(arrivals, "/grpc.health.v1.Health/Check")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await arrivals.settle(quiet=0.5, within=5)
    assert loop.time() - started < 0.1

    async def forever() -> None:
        while True:
            await arrive(arrivals, "/supervision.agency.v1.AgencyService/ListCases")
            await asyncio.sleep(0.05)

    calling = asyncio.create_task(forever())
    await asyncio.sleep(0.01)
    started = loop.time()
    await arrivals.settle(quiet=0.5, within=0.4)
    calling.cancel()
    assert 0.35 <= loop.time() - started < 0.6
