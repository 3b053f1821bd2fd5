"""Server interceptors that wrap every RPC of a grpc.aio server, unary or streaming, in the same
``around`` context: the call runs inside it, and an exception leaving the call passes through it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.platform.db import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

Around = Callable[[str, Any], contextlib.AbstractAsyncContextManager[None]]
"""Given the method (``package.Service/Method``) and the call's context, a context to run it in."""


class AroundInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs every call of the server inside ``around(method, context)`` (streams: until they
    end)."""

    def __init__(self, around: Around) -> None:
        self._around = around

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = str(details.method).lstrip("/")
        around = self._around
        behaviour = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        if inspect.isasyncgenfunction(behaviour):  # a stream of responses, yielded

            async def streamed(request: Any, context: Any) -> AsyncIterator[Any]:
                async with around(method, context):
                    async for response in behaviour(request, context):
                        yield response

            wrapped: Callable[..., Any] = streamed
        else:  # one response returned, or a stream written with context.write()

            async def called(request: Any, context: Any) -> Any:
                async with around(method, context):
                    return await behaviour(request, context)

            wrapped = called
        factory = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(handler.request_streaming, handler.response_streaming)]
        return factory(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class Arrivals(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """When the server last took in a call (health checks aside): on SIGTERM, calls clients sent
    before the signal may still be waiting for the server's loop to take them in — on a busy
    machine for more than the lame-duck second — and gRPC cancels those when the server stops.
    :meth:`settle` waits until they have all come in."""

    def __init__(self, *, ignore: tuple[str, ...] = ("/grpc.health.v1.Health/",)) -> None:
        self._ignore = ignore
        self.last = float("-inf")

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        if not str(details.method).startswith(self._ignore):
            self.last = asyncio.get_running_loop().time()
        return await continuation(details)

    async def settle(self, *, quiet: float, within: float) -> None:
        """Return once no call has come in for ``quiet`` seconds, or after ``within`` seconds
        (a client calling without pause does not hold the shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:  # until quiet: sleeps to the end of the quiet period since the last call
            now = loop.time()
            until = min(deadline, self.last + quiet)
            if until <= now:
                return
            await asyncio.sleep(until - now)


@contextlib.asynccontextmanager
async def _unavailable_on_transient_errors(method: str, context: Any) -> AsyncIterator[None]:
    try:
        yield
    except TRANSIENT_ERRORS as error:
        # The database (or another dependency) is away: a status the client retries, as HTTP
        # answers 503, instead of UNKNOWN with a traceback in the log on every call.
        log.warning("a dependency is unavailable", extra={"method": method, "error": repr(error)})
        await context.abort(grpc.StatusCode.UNAVAILABLE, "briefly unavailable; retry shortly")


def transient_errors_interceptor() -> AroundInterceptor:
    """Answers UNAVAILABLE (retry) when a call fails because a dependency is unreachable."""
    return AroundInterceptor(_unavailable_on_transient_errors)
