"""Every route and dependency of the HTTP services is a coroutine: FastAPI runs a plain function
in its thread pool, a thread hop (and GIL contention) per request for a few lines of Python."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.disclosure.web import build_app as disclosure_app
from services.platform.ratelimit import RateLimiter
from services.submission.api import build_app as submission_app


def _calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for dependency in dependant.dependencies:
        yield from _calls(dependency)


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.isclass(call):
        return False  # instantiated per request, in the thread pool
    method = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


@pytest.mark.parametrize(
    "build", [submission_app, disclosure_app], ids=["submission", "disclosure"]
)
def test_no_route_or_dependency_runs_in_the_thread_pool(build: Any) -> None:
    app: FastAPI = build(RateLimiter(per_second=10, burst=10))
    routes = [
        route
        for included in app.routes
        for route in (
            [included]
            if isinstance(included, APIRoute)
            else getattr(included, "effective_route_contexts", list)()
        )
    ]
    assert len(routes) > 5
    sync = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', repr(call))}"
            for route in routes
            for call in _calls(route.dependant)
            if not _runs_on_the_loop(call)
        }
    )
    assert sync == []
