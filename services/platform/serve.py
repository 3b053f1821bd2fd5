"""Running a service process: logging, instrumentation, the HTTP server."""

from __future__ import annotations

import json
import logging
import re
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import MutableHeaders
from uvicorn.protocols.http.h11_impl import H11Protocol

from contracts.problems import Problem
from services.platform import metrics, settings, telemetry, tls
from services.platform.http import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_BASE,
    AnswerStopped,
    secure_headers,
)

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace and span ids of the current span."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


_UNTRACED_SQL = re.compile(
    r"(?:BEGIN|COMMIT|SAVEPOINT|RELEASE)\b|SELECT pg_advisory_unlock_all\(\);", re.IGNORECASE
)
"""Statements run without a span: the transaction brackets asyncpg sends for ``transaction()``
(a rollback keeps its span: it tells of a failure) and the reset query of a connection returned
to the pool. They were a quarter of the SQL spans, and told nothing the statements' spans and the
span around them do not."""


class _AsyncPGInstrumentor(AsyncPGInstrumentor):
    """One span per SQL statement, as the library does, except for :data:`_UNTRACED_SQL`."""

    async def _do_execute(
        self,
        func: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if args and isinstance(args[0], str) and _UNTRACED_SQL.match(args[0]):
            return await func(*args, **kwargs)
        return await super()._do_execute(func, instance, args, kwargs)  # type: ignore[no-untyped-call]


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", frozen=True)

    trace_sql_statements: bool = Field(
        default=False,
        description="A span for every SQL statement. Off, requests, events and Kafka hops are"
        " still traced; on, tracing costs about twice the CPU (see docs/benchmarks.md).",
    )


def instrument_database(*, force: bool = False) -> bool:
    """Trace SQL statements if ``SUPERVISION_TRACE_SQL_STATEMENTS`` (or ``force``) says so;
    returns whether they are traced."""
    if not (force or settings.load(TracingSettings).trace_sql_statements):
        return False
    _AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    return True


def uninstrument_database() -> None:
    _AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


MAX_REQUEST_HEAD_BYTES = 16 * 1024
"""The longest request line and headers read: beyond it, the request is refused (400)."""

_NOT_HTTP = Problem(
    type=PROBLEM_TYPE_BASE + "malformed-request",
    title="The request is not valid HTTP/1.1",
    status=400,
    detail="A malformed request line, header or Content-Length, or a request line and headers"
    f" longer than {MAX_REQUEST_HEAD_BYTES} bytes in all.",
)


class ProblemH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1, answering what it cannot parse (before any route runs) with the same
    problem+json as every other error, instead of a line of plain text."""

    def send_400_response(self, msg: str) -> None:
        body = _NOT_HTTP.model_dump_json(exclude_none=True).encode()
        headers = MutableHeaders(
            raw=[
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
        )
        # Sent before any app or middleware runs: the security headers of every answer, here.
        over_tls = self.transport.get_extra_info("sslcontext") is not None
        secure_headers({"scheme": "https" if over_tls else "http"}, headers, private=True)
        for event in (
            h11.Response(status_code=400, headers=headers.raw, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            output = self.conn.send(event)
            if output:
                self.transport.write(output)
        self.transport.close()


def serve_http(
    name: str, app: FastAPI, *, host: str, port: int, config: settings.CommonSettings
) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests are drained before the lifespan ends.
    Over TLS when the settings name a certificate (read again on SIGHUP); plaintext only on
    loopback, unless allowed (see :mod:`services.platform.tls`).

    Requests get ``SUPERVISION_SHUTDOWN_GRACE_SECONDS`` to finish; those still running then are
    answered 503 (:class:`~services.platform.http.AnswerStopped`).

    After a graceful stop uvicorn re-raises the signal, so the process ends "killed by SIGTERM"
    (or SIGINT) by design; telemetry is flushed at the end of the lifespan.
    """
    configure_logging()
    try:
        certificates = tls.certificates(config.tls_cert_file, config.tls_key_file)
        tls.refuse_plaintext(
            listener=name,
            host=host,
            certificates=certificates,
            allow_plaintext=config.allow_plaintext,
        )
    except tls.TlsError as error:
        sys.exit(f"{name} cannot start: {error}")
    tls.reload_on(signal.SIGHUP, certificates)
    provider = telemetry.setup(name)
    instrument_database()
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="healthz,readyz,metrics",
        # One span per request, not three: the server span keeps its attributes and status, and
        # the trace context still travels. The ASGI "http receive" / "http send" spans told
        # nothing more and were a tenth of the spans the HTTP services exported.
        exclude_spans=["receive", "send"],
    )
    metrics.metrics_endpoint(app)
    http_server(
        app,
        host=host,
        port=port,
        grace_seconds=config.shutdown_grace_seconds,
        certificates=certificates,
        forwarded_allow_ips=config.forwarded_allow_ips,
    ).run()
    provider.shutdown()


def http_server(
    app: FastAPI,
    *,
    host: str,
    port: int,
    grace_seconds: int = 20,
    certificates: tls.Certificates | None = None,
    forwarded_allow_ips: str = "127.0.0.1",
) -> uvicorn.Server:
    """The HTTP server of a service: problem+json for what it cannot parse, a limit on request
    heads, requests still running ``grace_seconds`` after a stop answered 503, and TLS with
    ``certificates`` (each new connection gets the newest pair)."""
    app.add_middleware(AnswerStopped)
    context_factory = None if certificates is None else _context_of(certificates)
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        http=ProblemH11Protocol,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=grace_seconds,
        ssl_context_factory=context_factory,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    return uvicorn.Server(server_config)


def _context_of(
    certificates: tls.Certificates,
) -> Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    def factory(_: uvicorn.Config, __: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return certificates.ssl_context()

    return factory
