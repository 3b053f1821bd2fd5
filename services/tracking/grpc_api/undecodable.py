"""Requests that are not the method's message are INVALID_ARGUMENT, not UNKNOWN.

gRPC parses a request before any interceptor's or servicer's code runs, and answers bytes that do
not parse with ``UNKNOWN: Unexpected <class 'DecodeError'>`` and a logged traceback, as if the
server had failed. :class:`RefuseUndecodable`, the innermost interceptor, has the method take the
bytes as they came and parses them itself: what does not parse is the client's error, and is
answered so, naming the message the method expects.

It also holds each method to its own size: the server takes messages as large as a draft's file,
for the two methods that carry one; every other method refuses a request larger than gRPC's
usual 4 MiB with RESOURCE_EXHAUSTED, as gRPC itself would, before parsing it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import grpc

DEFAULT_MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024
"""gRPC's own default limit of a received message."""


async def _parse(
    parse: Callable[[bytes], Any], raw: bytes, context: Any, method: str, limit: int
) -> Any:
    if len(raw) > limit:
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the request is {len(raw)} bytes; {method} takes at most {limit}",
        )
    try:
        return parse(raw)
    except Exception as error:  # protobuf's DecodeError, whichever implementation raises it
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid message for {method}: {error}",
        )


class RefuseUndecodable(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """For every method taking one request message (unary or server-streaming). ``larger``: the
    methods allowed more than ``DEFAULT_MAX_REQUEST_BYTES``, and how much (the server's own
    limit must be at least the largest)."""

    def __init__(self, larger: Mapping[str, int] | None = None) -> None:
        self._limits = dict(larger or {})

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse: Callable[[bytes], Any] = handler.request_deserializer
        method = str(details.method)
        limit = self._limits.get(method, DEFAULT_MAX_REQUEST_BYTES)
        if not handler.response_streaming:
            answer = handler.unary_unary

            async def unary(raw: bytes, context: Any) -> Any:
                return await answer(await _parse(parse, raw, context, method, limit), context)

            return grpc.unary_unary_rpc_method_handler(
                unary, response_serializer=handler.response_serializer
            )
        stream = handler.unary_stream
        if inspect.isasyncgenfunction(stream):  # responses yielded

            async def yielded(raw: bytes, context: Any) -> AsyncIterator[Any]:
                async for response in stream(
                    await _parse(parse, raw, context, method, limit), context
                ):
                    yield response

            behaviour: Callable[..., Any] = yielded
        else:  # responses written with context.write()

            async def written(raw: bytes, context: Any) -> Any:
                return await stream(await _parse(parse, raw, context, method, limit), context)

            behaviour = written
        return grpc.unary_stream_rpc_method_handler(
            behaviour, response_serializer=handler.response_serializer
        )
