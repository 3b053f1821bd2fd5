"""Submission's HTTP API: translate requests to store calls and results to JSON, nothing more."""

from __future__ import annotations

import re

from fastapi import FastAPI

from services.platform.http import (
    BodyLimit,
    HeadLimit,
    SecurityHeaders,
    install_problem_handlers,
)
from services.platform.ratelimit import RateLimiter
from services.submission.api import attachments, critiques, directory, follow_up
from services.submission.api.common import MAX_ATTACHMENT_BYTES, MAX_JSON_BYTES
from services.submission.backlog import BacklogWatch

_ATTACHMENTS_PATH = re.compile(r"^/v1/critiques/[^/]+/attachments$")


def body_limit(path: str) -> int:
    return MAX_ATTACHMENT_BYTES if _ATTACHMENTS_PATH.match(path) else MAX_JSON_BYTES


CACHEABLE_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
"""What a cache may keep: everything else the API answers is one organisation's (``no-store``),
its refusals and the answers to routes it does not have included."""


def private(path: str) -> bool:
    return path not in CACHEABLE_PATHS


def build_app(limiter: RateLimiter, backlog: BacklogWatch | None = None) -> FastAPI:
    """The API; its writes are refused while ``backlog`` says a bound is passed (never without
    one)."""
    app = FastAPI(
        title="Supervision — submission API",
        version="1.0.0",
        description=(
            "Front committees and member organisations submit critiques (phản biện xã hội),"
            " supervision recommendations and opinions to state agencies, and follow them."
        ),
        # A path is one the document names or a 404 problem, not a 307 to a URL made from the
        # request's Host header ('/v1/critiques/' to 'http://<Host>/v1/critiques').
        redirect_slashes=False,
    )
    app.state.limiter = limiter
    app.state.backlog = backlog
    install_problem_handlers(app)
    for module in (directory, critiques, attachments, follow_up):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(HeadLimit)
    app.add_middleware(SecurityHeaders, private=private)  # outermost: on the refusals too
    return app
