"""Requests that are not the method's message are INVALID_ARGUMENT, not UNKNOWN.

gRPC parses a request before any interceptor's or servicer's code runs, and answers bytes that do
not parse with ``UNKNOWN: Unexpected <class 'DecodeError'>`` and a logged traceback, as if the
server had failed. :class:`RefuseUndecodable`, the innermost interceptor, has the method take the
bytes as they came and parses them itself: what does not parse is the client's error, and is
answered so, naming the message the method expects.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc


async def _parse(parse: Callable[[bytes], Any], raw: bytes, context: Any, method: str) -> Any:
    try:
        return parse(raw)
    except Exception as error:  # protobuf's DecodeError, whichever implementation raises it
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid message for {method}: {error}",
        )


class RefuseUndecodable(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """For every method taking one request message (unary or server-streaming)."""

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse: Callable[[bytes], Any] = handler.request_deserializer
        method = str(details.method)
        if not handler.response_streaming:
            answer = handler.unary_unary

            async def unary(raw: bytes, context: Any) -> Any:
                return await answer(await _parse(parse, raw, context, method), context)

            return grpc.unary_unary_rpc_method_handler(
                unary, response_serializer=handler.response_serializer
            )
        stream = handler.unary_stream
        if inspect.isasyncgenfunction(stream):  # responses yielded

            async def yielded(raw: bytes, context: Any) -> AsyncIterator[Any]:
                async for response in stream(await _parse(parse, raw, context, method), context):
                    yield response

            behaviour: Callable[..., Any] = yielded
        else:  # responses written with context.write()

            async def written(raw: bytes, context: Any) -> Any:
                return await stream(await _parse(parse, raw, context, method), context)

            behaviour = written
        return grpc.unary_stream_rpc_method_handler(
            behaviour, response_serializer=handler.response_serializer
        )
