"""Bulk exports for mirrors and researchers: every record a filter selects, as JSON Lines (the
documents as published) or as CSV (one row per point, for spreadsheets); and every draft, as JSON
Lines.

Exports are streamed from one database snapshot through a server-side cursor: never built in
memory, whatever their size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from contracts.disclosure_api import PublicRecord
from services.disclosure import queries
from services.disclosure.domain import canonical
from services.disclosure.web.common import MAX_CHANGE, Filter, Limited
from services.platform import db
from services.platform.http import DatabasePool, problem_responses

router = APIRouter()

NDJSON_MEDIA_TYPE = "application/x-ndjson"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CHUNK = 64 * 1024
"""Exports are sent in chunks of about this many bytes."""

CSV_COLUMNS = (
    "critique_id",
    "published_at",
    "organisation_id",
    "organisation_name",
    "organisation_level",
    "agency_id",
    "agency_name",
    "kind",
    "title",
    "status",
    "submitted_at",
    "due_date",
    "answered_at",
    "point_number",
    "point_text",
    "citation",
    "disposition",
    "explanation",
    "draft_id",
    "draft_version",
    "cites",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """A free-text cell for a spreadsheet: text a spreadsheet would run as a formula (CSV
    injection) is prefixed with an apostrophe, which spreadsheets show as plain text. The JSON
    Lines export carries the texts unchanged."""
    if text is None:
        return ""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _when(at: datetime | date | None) -> str:
    return "" if at is None else at.isoformat()


def csv_rows(record: PublicRecord) -> list[list[str]]:
    """One row per point; a record without points (withdrawn: content hidden) has one row with
    the point columns empty, so that it is not missing from the export."""
    common = [
        str(record.critique_id),
        _when(record.published_at),
        record.organisation.id,
        _cell(record.organisation.name),
        record.organisation.level,
        record.agency.id,
        _cell(record.agency.name),
        record.kind,
        _cell(record.title),
        record.status,
        _when(record.submitted_at),
        _when(record.due_date),
        _when(record.answered_at),
    ]
    ref = record.draft_version
    draft = [str(ref.draft_id), str(ref.version)] if ref else ["", ""]
    if not record.points:
        return [[*common, "", "", "", "", "", *draft, ""]]
    return [
        [
            *common,
            str(point.number),
            _cell(point.text),
            _cell(point.citation),
            point.disposition or "",
            _cell(point.explanation),
            *draft,
            " ".join(point.cites),
        ]
        for point in record.points
    ]


async def _jsonl(rows: AsyncIterator[queries.Published]) -> AsyncGenerator[bytes]:
    buffer = bytearray()
    async for published in rows:
        buffer += canonical(published.record) + b"\n"
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


async def _csv(rows: AsyncIterator[queries.Published]) -> AsyncGenerator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text)  # RFC 4180: quoted as needed, CRLF line ends
    text.write("\ufeff")  # the BOM that makes Excel read UTF-8 (Vietnamese) correctly
    writer.writerow(CSV_COLUMNS)
    async for published in rows:
        writer.writerows(csv_rows(published.record))
        if text.tell() >= CHUNK:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


async def _started(chunks: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk before answering, so that a database that does not answer gives a
    problem response rather than a cut-off 200; then stream the rest. However the response ends
    (a client gone midway included), the export's connection goes back to the pool."""
    first = await anext(chunks)

    async def rest() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    return rest()


_CHANGED_SINCE = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_CHANGE,
        description="Only records published or changed after this change number.",
    ),
]
_LAST_CHANGE = {
    "X-Last-Change": {
        "description": "The latest change number when the export began: pass it as"
        " `changed_since` next time (records changed meanwhile may come twice).",
        "schema": {"type": "integer"},
    }
}


async def _export(
    pool: db.Pool,
    where: queries.RecordFilter,
    changed_since: int | None,
    *,
    render: Callable[[AsyncIterator[queries.Published]], AsyncGenerator[bytes]],
    media_type: str,
    filename: str,
) -> StreamingResponse:
    last = await queries.last_change(pool)
    rows = queries.stream(pool, where=where, changed_since=changed_since)
    return StreamingResponse(
        await _started(render(rows)),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Last-Change": str(last),
            "Cache-Control": "public, max-age=60",
        },
    )


@router.get(
    "/exports/records.jsonl",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON_MEDIA_TYPE: {}},
            "description": "One PublicRecord per line, as /v1/records/{id} gives it",
            "headers": _LAST_CHANGE,
        },
        **problem_responses(422, 429),
    },
    tags=["exports"],
    summary="Every matching record as JSON Lines, oldest publication first (streamed)",
)
async def export_jsonl(
    pool: DatabasePool, where: Filter, _: Limited, changed_since: _CHANGED_SINCE = None
) -> StreamingResponse:
    return await _export(
        pool,
        where,
        changed_since,
        render=_jsonl,
        media_type=NDJSON_MEDIA_TYPE,
        filename="records.jsonl",
    )


@router.get(
    "/exports/records.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "UTF-8 with a BOM; one row per point: "
            + ", ".join(CSV_COLUMNS)
            + ". Free text that a spreadsheet would run as a formula starts with an apostrophe.",
            "headers": _LAST_CHANGE,
        },
        **problem_responses(422, 429),
    },
    tags=["exports"],
    summary="Every matching record's points as CSV, oldest publication first (streamed)",
)
async def export_csv(
    pool: DatabasePool, where: Filter, _: Limited, changed_since: _CHANGED_SINCE = None
) -> StreamingResponse:
    return await _export(
        pool,
        where,
        changed_since,
        render=_csv,
        media_type=CSV_MEDIA_TYPE,
        filename="records.csv",
    )


async def _drafts_jsonl(pool: db.Pool) -> AsyncGenerator[bytes]:
    buffer = bytearray()
    async for draft in queries.drafts_stream(pool):
        buffer += canonical(draft) + b"\n"
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


@router.get(
    "/exports/drafts.jsonl",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON_MEDIA_TYPE: {}},
            "description": "One PublicDraft per line, as /v1/drafts/{id} gives it",
        },
        **problem_responses(429),
    },
    tags=["exports"],
    summary="Every published draft as JSON Lines, oldest registration first (streamed)",
)
async def export_drafts(pool: DatabasePool, _: Limited) -> StreamingResponse:
    return StreamingResponse(
        await _started(_drafts_jsonl(pool)),
        media_type=NDJSON_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="drafts.jsonl"',
            "Cache-Control": "public, max-age=60",
        },
    )
