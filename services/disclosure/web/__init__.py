"""The disclosure service's web application, one module per thing it serves: the JSON API of
records, feeds and exports, the transparency log, and the pages for people. Each only translates
a request to a read and the result to the wire."""

from __future__ import annotations

from fastapi import FastAPI

from services.disclosure.web import (
    agencies,
    drafts,
    exports,
    feeds,
    pages,
    records,
    transparency_log,
)
from services.platform.http import (
    BodyLimit,
    HeadLimit,
    SecurityHeaders,
    install_problem_handlers,
)
from services.platform.ratelimit import RateLimiter

MAX_BODY_BYTES = 64 * 1024
"""The API is read-only and reads no request body: a client sending a large one is refused."""


def build_app(limiter: RateLimiter) -> FastAPI:
    app = FastAPI(
        title="Supervision — public disclosure API",
        version="1.0.0",
        description="Critiques of the Fatherland Front, the agencies' answers, and lateness.",
        # A path is one the document names or a 404 problem, not a 307 to a URL made from the
        # request's Host header ('/v1/records/' to 'http://<Host>/v1/records').
        redirect_slashes=False,
    )
    app.state.limiter = limiter
    app.state.log_keys = None
    install_problem_handlers(app)
    for module in (records, drafts, feeds, exports, agencies, transparency_log, pages):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit_for=lambda _: MAX_BODY_BYTES)
    app.add_middleware(HeadLimit)
    # Outermost, on the refusals too; public: only a request carrying credentials is answered
    # no-store, and every route keeps the caching it chose.
    app.add_middleware(SecurityHeaders)
    return app
