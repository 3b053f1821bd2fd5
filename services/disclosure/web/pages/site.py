"""What every page shares: the templates and their environment, the response headers (no script
may run, whatever a record contains), the not-found page, and the one stylesheet with its
route."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts.disclosure_api import RecordStatus
from contracts.vocabulary import (
    COUNTING,
    DISPOSITION,
    KIND,
    LEVEL,
    PUBLICATION_REASON,
    RECORD_STATUS,
)
from services.disclosure.web.pages.markup import (
    Bilingual,
    bi,
    bi_block,
    bilingual,
    label,
    machine,
    redacted,
    vn_date,
    vn_datetime,
)

TEMPLATES = Path(__file__).parent / "templates"

router = APIRouter()

# The search form's choices, as (value, text); an <option> holds text only, so "vi / en".
STATUS_OPTIONS = [
    (s.value, str(RECORD_STATUS[s]))
    for s in (
        RecordStatus.ANSWERED,
        RecordStatus.ANSWERED_LATE,
        RecordStatus.OVERDUE,
        RecordStatus.AWAITING,
        RecordStatus.WITHDRAWN,
    )
]
KIND_OPTIONS = [(kind.value, str(label)) for kind, label in KIND.items()]
LEVEL_OPTIONS = [(level.value, str(label)) for level, label in LEVEL.items()]


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals.update(
    bi=bi,
    bi_block=bi_block,
    label=label,
    KIND_LABELS=KIND,
    LEVEL_LABELS=LEVEL,
    DISPOSITION_LABELS=DISPOSITION,
    COUNTING_LABELS=COUNTING,
    REASON_LABELS=PUBLICATION_REASON,
    STATUS_OPTIONS=STATUS_OPTIONS,
    KIND_OPTIONS=KIND_OPTIONS,
    LEVEL_OPTIONS=LEVEL_OPTIONS,
)
_environment.filters.update(
    bilingual=bilingual,
    redacted=redacted,
    vn_date=vn_date,
    vn_datetime=vn_datetime,
    machine=machine,
)

STYLESHEET = (TEMPLATES / "site.css").read_bytes()
_STYLESHEET_VERSION = hashlib.sha256(STYLESHEET).hexdigest()[:12]
STYLESHEET_URL = f"/static/site.css?v={_STYLESHEET_VERSION}"

_HEADERS = {
    # No script may run, whatever a record contains; only our own stylesheet is loaded. (The
    # headers every response carries, nosniff and the others, are services.platform.http's.)
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "public, max-age=60",
}


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _environment.get_template(template).render(stylesheet=STYLESHEET_URL, **context)
    headers = dict(_HEADERS)
    if status_code >= 400:
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(html, status_code=status_code, headers=headers)


@router.get("/static/site.css")
async def stylesheet(request: Request) -> Response:
    etag = f'"{_STYLESHEET_VERSION}"'
    versioned = request.query_params.get("v") == _STYLESHEET_VERSION
    headers = {
        "ETag": etag,
        "Cache-Control": (
            "public, max-age=31536000, immutable" if versioned else "public, max-age=3600"
        ),
    }
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(STYLESHEET, media_type="text/css; charset=utf-8", headers=headers)


def not_found(what: Bilingual, detail: Bilingual) -> HTMLResponse:
    return render("not_found.html", status_code=404, current=None, what=what, detail=detail)
