"""Failures of the infrastructure, not of the request, are answered as "retry": HTTP 503 with
Retry-After and gRPC UNAVAILABLE — never 500 / UNKNOWN — whatever the database said."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from fastapi import FastAPI

from services.platform import db, grpc_server
from services.platform.http import install_problem_handlers

FAILURES = [
    ConnectionRefusedError("PostgreSQL is not listening"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.SerializationError("could not serialize access"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
async def test_http_answers_503_with_retry_after(failure: Exception) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/thing")
    async def thing() -> None:
        raise failure

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.get("/thing")
    assert reply.status_code == 503, reply.text
    assert int(reply.headers["Retry-After"]) > 0
    assert reply.json()["type"].endswith("/unavailable")


class Aborted(Exception):
    pass


class Context:
    code: grpc.StatusCode | None = None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        raise Aborted(details)


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
async def test_grpc_answers_unavailable(failure: Exception) -> None:
    assert isinstance(failure, db.TRANSIENT_ERRORS)

    async def behaviour(request: Any, context: Any) -> None:
        raise failure

    class Details:
        method = "/supervision.agency.v1.AgencyService/ListCases"

    async def continuation(_: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(behaviour)

    handler = await grpc_server.transient_errors_interceptor().intercept_service(
        continuation, Details()
    )
    context = Context()
    with pytest.raises(Aborted):
        await handler.unary_unary(object(), context)
    assert context.code is grpc.StatusCode.UNAVAILABLE
