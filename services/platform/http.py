"""What the HTTP services share: RFC 9457 problem responses, the security headers of every
response, and health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.problems import FieldViolation, Problem, field_path
from services.platform import cursor, telemetry
from services.platform.db import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    _Pool = asyncpg.Pool[Any]
else:  # asyncpg's classes are generic only to the type checker
    _Pool = asyncpg.Pool


async def _request_pool(request: Request) -> _Pool:
    pool: _Pool = request.app.state.runtime.pool
    return pool


DatabasePool = Annotated[_Pool, Depends(_request_pool)]
"""A route parameter receiving the service's connection pool."""

PROBLEM_TYPE_BASE = "https://supervision.mttq.vn/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raise to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[FieldViolation] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(
            type=PROBLEM_TYPE_BASE + slug,
            title=title,
            status=status,
            detail=detail,
            errors=list(errors),
        )
        self.headers = headers


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def problem_responses(
    *statuses: int, headers: dict[int, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for errors sent as problem+json (429 with its Retry-After)."""
    documented = {429: _RETRY_AFTER, **(headers or {})}
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            **({"headers": documented[status]} if status in documented else {}),
        }
        for status in statuses
    }


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


_UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,  # U+0000 in a text parameter
    asyncpg.exceptions.UntranslatableCharacterError,  # U+0000 in a jsonb value
)


def _not_json(error: RequestValidationError) -> bool:
    """FastAPI hands a JSON body's route the raw bytes when the request did not say it sends
    JSON (``Content-Type`` missing or another type): that is the wrong media type, not a body
    of the wrong shape."""
    return any(
        tuple(item.get("loc", ())) == ("body",) and isinstance(item.get("input"), bytes)
        for item in error.errors()
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return problem_response(error.problem, error.headers)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        if _not_json(error):
            return problem_response(
                Problem(
                    type=PROBLEM_TYPE_BASE + "unsupported-media-type",
                    title="The request body must be JSON",
                    status=415,
                    detail=f"Content-Type is {request.headers.get('content-type')!r};"
                    " send 'application/json'.",
                )
            )
        violations = [
            FieldViolation(field=field_path(item["loc"]), message=item["msg"])
            for item in error.errors()
        ]
        return problem_response(
            Problem(
                type=PROBLEM_TYPE_BASE + "invalid-request",
                title="The request is invalid",
                status=422,
                detail="; ".join(f"{v.field}: {v.message}" for v in violations),
                errors=violations,
            )
        )

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if isinstance(error, _TooLarge):
            return problem_response(error.problem)
        return problem_response(
            Problem(
                type=PROBLEM_TYPE_BASE + f"http-{error.status_code}",
                title=str(error.detail),
                status=error.status_code,
            ),
            headers=dict(error.headers) if error.headers else None,
        )

    async def on_unstorable_text(_: Request, error: Exception) -> JSONResponse:
        # PostgreSQL stores no U+0000 in text or jsonb; the value can only have come from the
        # request, and the transaction it failed in was rolled back.
        return problem_response(
            Problem(
                type=PROBLEM_TYPE_BASE + "unstorable-text",
                title="The request contains text that cannot be stored",
                status=422,
                detail="Text may not contain the NUL character (U+0000). Nothing was stored.",
            )
        )

    async def on_unavailable(_: Request, error: Exception) -> JSONResponse:
        log.warning("a dependency is unavailable", extra={"error": repr(error)})
        return problem_response(
            Problem(
                type=PROBLEM_TYPE_BASE + "unavailable",
                title="The service is briefly unavailable",
                status=503,
                detail="Nothing was changed; retry shortly.",
            ),
            headers={"Retry-After": "5"},
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, TRANSIENT_ERRORS):
            return await on_unavailable(request, error)
        log.exception("unexpected error", exc_info=error)
        response = problem_response(
            Problem(type=PROBLEM_TYPE_BASE + "internal", title="Internal error", status=500)
        )
        # Sent by the server-error middleware, outside SecurityHeaders: given its headers here.
        secure_headers(request.scope, response.headers, private=True)
        return response

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unstorable in _UNSTORABLE_TEXT:
        app.add_exception_handler(unstorable, on_unstorable_text)
    # By class too: the catch-all handler above also answers 503, but the server then re-raises
    # the error and logs it with a traceback on every request for as long as a database is down.
    for transient in TRANSIENT_ERRORS:
        app.add_exception_handler(transient, on_unavailable)
    _document_problems(app)


_SCHEMAS = "#/components/schemas/"
_PROBLEM_REF = {"$ref": _SCHEMAS + "Problem"}


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above send: every error is
    ``application/problem+json`` with a :class:`Problem` body, including the 422 that FastAPI
    documents on its own as ``application/json`` ``HTTPValidationError``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = problems_as_served(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def problems_as_served(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document's error responses as the problem handlers serve them."""
    fastapi_422 = {"$ref": _SCHEMAS + "HTTPValidationError"}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if PROBLEM_MEDIA_TYPE in content or schema in (_PROBLEM_REF, fastapi_422):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": dict(_PROBLEM_REF)}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=_SCHEMAS + "{model}")
    for name, definition in {**problem.pop("$defs", {}), "Problem": problem}.items():
        schemas.setdefault(name, definition)
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unused
        definition = schemas.pop(name, None)
        if definition is not None and f'"{_SCHEMAS}{name}"' in json.dumps(document):
            schemas[name] = definition
    return document


def page_after(value: str | None, field: str = "cursor") -> tuple[datetime, uuid.UUID] | None:
    """The position a ``cursor`` parameter names, or a 422 problem naming the parameter."""
    if not value:
        return None
    try:
        return cursor.decode(value)
    except cursor.BadCursor:
        raise ProblemError(
            422,
            "invalid-cursor",
            "The cursor is not one this API gave",
            errors=[FieldViolation(field=field, message="not a cursor from a previous page")],
        ) from None


class BodyLimit:
    """Refuses request bodies over a size limit with 413, before they are read into memory.

    ``limit_for(path)`` gives the limit for a path, so uploads may be larger than JSON.
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self._app = app
        self._limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self._app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(limit, scope, receive, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(_TooLarge(limit).problem)(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """An HTTP exception, so that FastAPI lets it through when it reads a JSON body (it answers
    any other exception then with "400 There was an error parsing the body")."""

    def __init__(self, limit: int) -> None:
        self.problem = Problem(
            type=PROBLEM_TYPE_BASE + "body-too-large",
            title="The request body is too large",
            status=413,
            detail=f"at most {limit} bytes",
        )
        super().__init__(413, self.problem.title)


MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024


class HeadLimit:
    """Refuses a URL longer than ``MAX_URL_BYTES`` (414) and headers longer than
    ``MAX_HEADER_BYTES`` in all (431), before any route runs. (The HTTP server refuses a request
    head it has to wait for past its own limit with 400; one that arrives at once it reads.)"""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            url = len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b""))
            headers = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if url > MAX_URL_BYTES:
                refusal = Problem(
                    type=PROBLEM_TYPE_BASE + "uri-too-long",
                    title="The URL is too long",
                    status=414,
                    detail=f"at most {MAX_URL_BYTES} bytes of path and query",
                )
            elif headers > MAX_HEADER_BYTES:
                refusal = Problem(
                    type=PROBLEM_TYPE_BASE + "headers-too-large",
                    title="The request headers are too large",
                    status=431,
                    detail=f"at most {MAX_HEADER_BYTES} bytes of headers in all",
                )
            else:
                refusal = None
            if refusal is not None:
                await problem_response(refusal, {"Connection": "close"})(scope, receive, send)
                return
        await self._app(scope, receive, send)


REFERRER_POLICY = "same-origin"
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""For what is not a page (JSON, problems, feeds, exports, proofs, files): nothing in it may
load, run or be framed, should a browser ever render it."""
NO_FRAMING = "frame-ancestors 'none'"
"""For HTML that sets no policy of its own: the API docs, whose Swagger UI loads its script."""
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
"""A year, sent only on responses that came over TLS (RFC 6797 §7.2: never over plain HTTP)."""
NO_STORE = "no-store"


def secure_headers(scope: Scope, headers: MutableHeaders, *, private: bool) -> None:
    """Set the security headers every response of the HTTP services carries (OWASP Secure
    Headers): ``nosniff``, a ``Referrer-Policy``, no framing, a Content-Security-Policy unless
    the route chose its own (the public pages), HSTS over TLS; and for a ``private`` response
    ``Cache-Control: no-store`` in place of whatever the route said, so that no browser or
    shared cache keeps what was answered to one caller."""
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = REFERRER_POLICY
    headers["X-Frame-Options"] = "DENY"
    if "content-security-policy" not in headers:
        page = headers.get("content-type", "").startswith("text/html")
        headers["Content-Security-Policy"] = NO_FRAMING if page else API_CONTENT_SECURITY_POLICY
    if private:
        headers["Cache-Control"] = NO_STORE
    if scope.get("scheme") == "https":
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY


def carries_credentials(scope: Scope) -> bool:
    """Whether the request carries an ``Authorization`` header (valid or not): what is answered
    to it is the caller's alone."""
    return any(name.lower() == b"authorization" for name, _ in scope.get("headers", ()))


class SecurityHeaders:
    """The one place the HTTP services' response headers are decided (:func:`secure_headers`),
    on every response that passes through it: routes, problems, unknown routes, refusals of the
    middlewares inside it.

    A response is private when its request carries credentials, or when ``private(path)`` says
    so (every route of the submission API but health, metrics and its documents); a public
    response keeps the caching its route chose (disclosure's ``public, max-age=60``)."""

    def __init__(self, app: ASGIApp, *, private: Callable[[str], bool] = lambda _: False) -> None:
        self._app = app
        self._private = private

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        private = carries_credentials(scope) or self._private(scope["path"])

        async def securing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure_headers(scope, MutableHeaders(scope=message), private=private)
            await send(message)

        await self._app(scope, receive, securing_send)


def _unsafe_in_a_name(char: str) -> bool:
    """A path separator, a control or format character (CR, LF, a right-to-left override that
    turns ``gnp.exe`` around …), or a line separator."""
    return char in "/\\\u2028\u2029" or unicodedata.category(char)[0] == "C"


def attachment_disposition(filename: str) -> str:
    """``Content-Disposition`` for a file to save, never to display (RFC 6266), under a name
    that is safe whatever was uploaded: the name itself, percent-encoded, in ``filename*``
    (RFC 8187, once RFC 5987), and for clients that read only ``filename`` an ASCII fallback
    without diacritics (``văn bản.pdf`` → ``van ban.pdf``). In both, path separators and control
    characters become ``_``; the fallback keeps letters, digits, spaces and ``._-()`` only, so no
    quote, backslash, CR or LF can end the value or the header."""
    name = unicodedata.normalize("NFC", filename)
    kept = "".join("_" if _unsafe_in_a_name(char) else char for char in name).strip(" .")
    kept = kept or "attachment"
    letters = unicodedata.normalize("NFKD", kept.replace("đ", "d").replace("Đ", "D"))
    fallback = "".join(
        char if char.isascii() and (char.isalnum() or char in " ._-()") else "_"
        for char in letters
        if not unicodedata.combining(char)
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(kept, safe='')}"


_STOPPED_MID_REQUEST = Problem(
    type=PROBLEM_TYPE_BASE + "stopping",
    title="The service stopped before this request was done",
    status=503,
    detail="The request was still being received or handled when the service's shutdown grace"
    " period ended. Unless it was committed just before, nothing was changed; retry it (with the"
    " same Idempotency-Key, if it had one).",
)


class AnswerStopped:
    """A request cancelled before its response began is answered 503 with Retry-After.

    On SIGTERM the HTTP server waits ``SUPERVISION_SHUTDOWN_GRACE_SECONDS`` for the requests it
    has, then cancels those still running: a client still sending its body, say, or a handler
    still waiting on the database. The server would answer them with a bare "500 Internal Server
    Error" in plain text; a client cannot tell that from a bug, while a 503 says "retry"."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, watching_send)
        except asyncio.CancelledError:
            if started:
                raise
            # The request's own task, cancelled by the server: nothing above it is waiting for
            # it, so it ends here with its answer rather than as an error.
            log.warning(
                "request cancelled at shutdown; answered 503",
                extra={"method": scope["method"], "path": scope["path"]},
            )
            response = problem_response(
                _STOPPED_MID_REQUEST, {"Retry-After": "5", "Connection": "close"}
            )
            secure_headers(scope, response.headers, private=True)  # sent outside SecurityHeaders
            await response(scope, receive, send)


Check = Callable[[], Awaitable[Any]]


def install_health(
    app: FastAPI, checks: dict[str, Check], warnings: Callable[[], dict[str, Any]] | None = None
) -> None:
    """``/healthz``: the process is alive. ``/readyz``: every dependency answers, and (under
    ``warnings``) what an operator should know that does not stop the service serving, such as a
    topic that may delete what its retention policy keeps."""

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness",
        response_model=None,
        responses={503: {"description": "A dependency does not answer"}},
    )
    async def readyz() -> JSONResponse:
        results = {}
        ready = True
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as error:
                ready = False
                results[name] = f"unavailable: {type(error).__name__}"
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": results}
        noted = warnings() if warnings is not None else {}
        if noted:
            body["warnings"] = noted
        return JSONResponse(body, status_code=200 if ready else 503)


def _retention_warnings(app: FastAPI) -> dict[str, Any]:
    runtime = getattr(app.state, "runtime", None)
    found = runtime.retention.shortfalls if runtime is not None else {}
    return {"retention": found} if found else {}


def attach_runtime(
    app: FastAPI,
    start: Callable[[], Any],
    warnings: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """Run the service's runtime for the app's lifetime, and report on it at ``/readyz``.

    ``start`` returns the async context manager of :func:`services.platform.runtime.running`
    (or one yielding its runtime); ``warnings`` adds the service's own to ``/readyz``'s.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with start() as running:
                app.state.runtime = running
                yield
        finally:
            # uvicorn ends the process by re-raising the stop signal once the lifespan is over,
            # so spans are flushed here rather than at exit.
            telemetry.flush()

    app.router.lifespan_context = lifespan
    install_health(
        app,
        {
            "database": lambda: app.state.runtime.check_database(),
            "kafka": lambda: app.state.runtime.check_kafka(),
        },
        warnings=lambda: {**_retention_warnings(app), **(warnings() if warnings else {})},
    )
    return app
