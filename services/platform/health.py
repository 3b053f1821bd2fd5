"""Readiness of a gRPC server: the standard health service follows the service's dependencies.

HTTP services answer ``/readyz`` by checking their dependencies on each request
(:func:`services.platform.http.install_health`). gRPC health checks are answered from a stored
status instead, so :func:`follow_dependencies` checks the same dependencies every few seconds and
sets that status: ``SERVING`` while every check answers, ``NOT_SERVING`` while one does not.
Watchers of ``grpc.health.v1.Health/Watch`` see each change; a change is also logged once, with
the dependencies that failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from grpc_health.v1 import health, health_pb2

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[Any]]
"""A dependency check: returns when the dependency answers, raises when it does not."""

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def failing(checks: Mapping[str, Check]) -> dict[str, str]:
    """Run the checks together; the ones that fail, each with the name of its error."""
    results = await asyncio.gather(*(check() for check in checks.values()), return_exceptions=True)
    return {
        name: type(result).__name__
        for name, result in zip(checks, results, strict=True)
        if isinstance(result, Exception)
    }


async def follow_dependencies(
    servicer: health.aio.HealthServicer,
    services: Iterable[str],
    checks: Mapping[str, Check],
    *,
    interval: float,
) -> None:
    """Until cancelled: check now and then every ``interval`` seconds, and set each of
    ``services`` (``""`` is the whole server) to ``SERVING`` or ``NOT_SERVING`` accordingly."""
    names = tuple(services)
    current: int | None = None
    while True:
        try:
            failures = await failing(checks)
            status = NOT_SERVING if failures else SERVING
            if status != current:
                for name in names:
                    await servicer.set(name, status)
                if failures:
                    log.warning(
                        "not serving: a dependency does not answer", extra={"failing": failures}
                    )
                elif current is not None:
                    log.info("serving again: every dependency answers")
                current = status
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never let the health reporting die
            log.exception("health check loop failed", exc_info=error)
        await asyncio.sleep(interval)
