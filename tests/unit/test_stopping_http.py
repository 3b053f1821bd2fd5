"""A stopping HTTP service answers what it could not finish with 503 + Retry-After, not 500.

On a stop, the server gives requests already received the grace period, then cancels those still
running. uvicorn answers a cancelled request with a plain-text "500 Internal Server Error"; the
services' server (``http_server``) answers it as a problem+json 503 a client knows to retry. The
server here is the services' own, on a loopback socket, stopped the way a signal stops it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, Request

from services.platform.serve import http_server
from tests.support.engines import free_port

GRACE_SECONDS = 1


def stalling_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(60)
        return {"late": "yes"}

    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[uvicorn.Server, int]]:
    port = free_port()
    running = http_server(stalling_app(), host="127.0.0.1", port=port, grace_seconds=GRACE_SECONDS)
    serving = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    yield running, port
    running.should_exit = True
    await serving


async def exchange(
    port: int, request: bytes, stop: uvicorn.Server
) -> tuple[str, dict[str, str], bytes]:
    """Send ``request``, stop the server (as SIGTERM does), read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(0.2)  # the server has the request head
    stop.should_exit = True
    async with asyncio.timeout(GRACE_SECONDS + 10):
        answer = await reader.read()  # until the server closes the connection
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    return status, headers, body


def assert_stopping(status: str, headers: dict[str, str], body: bytes) -> None:
    assert status.startswith("HTTP/1.1 503"), (status, body)
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) > 0
    problem = json.loads(body)
    assert problem["type"].endswith("/stopping")
    assert problem["status"] == 503


async def test_a_request_whose_body_never_came_is_answered_503(
    server: tuple[uvicorn.Server, int],
) -> None:
    running, port = server
    head = (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"partial":'
    )
    assert_stopping(*await exchange(port, head, running))


async def test_a_handler_still_running_after_the_grace_period_is_answered_503(
    server: tuple[uvicorn.Server, int],
) -> None:
    running, port = server
    assert_stopping(*await exchange(port, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n", running))


async def test_a_request_finished_within_the_grace_period_is_answered_as_usual(
    server: tuple[uvicorn.Server, int],
) -> None:
    running, port = server
    body = b'{"whole": true}'
    request = (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    status, _, answer = await exchange(port, request, running)
    assert status.startswith("HTTP/1.1 200"), (status, answer)
    assert json.loads(answer) == {"received": len(body)}
