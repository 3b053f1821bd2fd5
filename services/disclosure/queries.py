"""The read side of disclosure: what the public API, the feeds, the exports, the pages and the
scorecards read. SQL only, and only reads: a record is read as the document last published,
never from the raw read model, except for the counts a scorecard discloses (what is counted, and
why, is in :mod:`services.disclosure.scorecards`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contracts.disclosure_api import (
    AgencyReport,
    AgencyView,
    DraftReport,
    DraftSummary,
    PublicDraft,
    PublicRecord,
    RecordStatus,
)
from contracts.vocabulary import DRAFT_TYPE, label_of
from services.disclosure.domain import fold
from services.disclosure.scorecards import Tally, scorecard
from services.platform import db


@dataclass(frozen=True)
class RecordFilter:
    agency_id: str | None = None
    organisation_id: str | None = None
    level: str | None = None
    kind: str | None = None
    status: RecordStatus | None = None
    overdue: bool | None = None
    submitted_from: date | None = None
    submitted_to: date | None = None
    answered_from: date | None = None
    answered_to: date | None = None
    query: str | None = None
    draft_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Published:
    record: PublicRecord
    change: int


def _published(row: db.Record) -> Published:
    return Published(
        record=PublicRecord.model_validate_json(row["public_document"]), change=row["change_seq"]
    )


async def record(executor: db.Executor, critique_id: uuid.UUID) -> Published | None:
    row = await executor.fetchrow(
        "SELECT public_document, change_seq FROM records"
        " WHERE critique_id = $1 AND public_document IS NOT NULL",
        critique_id,
    )
    return None if row is None else _published(row)


_WHERE = """
    public_document IS NOT NULL
    AND ($1::text IS NULL OR agency_id = $1)
    AND ($2::text IS NULL OR organisation_id = $2)
    AND ($3::text IS NULL OR organisation_level = $3)
    AND ($4::text IS NULL OR kind = $4)
    AND ($5::text IS NULL OR public_status = $5)
    AND ($6::boolean IS NULL OR (public_status = 'overdue') = $6)
    AND ($7::date IS NULL OR submitted_at >= $7)
    AND ($8::date IS NULL OR submitted_at < $8 + 1)
    AND ($9::date IS NULL OR answered_at >= $9)
    AND ($10::date IS NULL OR answered_at < $10 + 1)
    AND ($11::text IS NULL OR search @@ plainto_tsquery('simple', $11))
    AND ($12::text IS NULL OR (draft_version ->> 'draft_id') = $12)
"""


def _arguments(where: RecordFilter) -> list[Any]:
    return [
        where.agency_id,
        where.organisation_id,
        where.level,
        where.kind,
        where.status.value if where.status else None,
        where.overdue,
        where.submitted_from,
        where.submitted_to,
        where.answered_from,
        where.answered_to,
        fold(where.query) if where.query and where.query.strip() else None,
        str(where.draft_id) if where.draft_id else None,
    ]


async def records(
    executor: db.Executor,
    *,
    where: RecordFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Published]:
    """Published records, most recently published first, keyset-paginated."""
    rows = await executor.fetch(
        f"""
        SELECT public_document, change_seq FROM records
        WHERE {_WHERE}
          AND ($13::timestamptz IS NULL OR (published_at, critique_id) < ($13, $14::uuid))
        ORDER BY published_at DESC, critique_id DESC
        LIMIT $15
        """,
        *_arguments(where),
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_published(row) for row in rows]


async def changes_since(executor: db.Executor, since: int, limit: int) -> list[Published]:
    rows = await executor.fetch(
        "SELECT public_document, change_seq FROM records WHERE change_seq > $1"
        " ORDER BY change_seq LIMIT $2",
        since,
        limit,
    )
    return [_published(row) for row in rows]


@dataclass(frozen=True)
class PublishedDraft:
    draft: PublicDraft
    change: int


async def draft_changes_since(
    executor: db.Executor, since: int, limit: int
) -> list[PublishedDraft]:
    rows = await executor.fetch(
        "SELECT public_document, change_seq FROM drafts WHERE change_seq > $1"
        " ORDER BY change_seq LIMIT $2",
        since,
        limit,
    )
    return [
        PublishedDraft(PublicDraft.model_validate_json(row["public_document"]), row["change_seq"])
        for row in rows
    ]


async def drafts_stream(pool: db.Pool, *, batch: int = 100) -> AsyncIterator[PublicDraft]:
    """Every published draft, oldest registration first, in one snapshot (a server-side
    cursor)."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        query = (
            "SELECT public_document FROM drafts WHERE public_document IS NOT NULL"
            " ORDER BY registered_at, id"
        )
        async for row in connection.cursor(query, prefetch=batch):
            yield PublicDraft.model_validate_json(row["public_document"])


async def stream(
    pool: db.Pool, *, where: RecordFilter, batch: int = 500, changed_since: int | None = None
) -> AsyncIterator[Published]:
    """Every matching record, oldest publication first, read in batches inside one snapshot
    (a server-side cursor): exports never hold the whole set in memory. With ``changed_since``
    (a change number), only the records published or changed after it (for mirrors)."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        query = f"""
            SELECT public_document, change_seq FROM records WHERE {_WHERE}
              AND ($13::bigint IS NULL OR change_seq > $13)
            ORDER BY published_at, critique_id
        """
        arguments = [*_arguments(where), changed_since]
        async for row in connection.cursor(query, *arguments, prefetch=batch):
            yield _published(row)


async def latest(
    executor: db.Executor,
    *,
    limit: int,
    agency_id: str | None = None,
    organisation_id: str | None = None,
) -> list[Published]:
    """The records published or changed last (by change number), newest first."""
    rows = await executor.fetch(
        """
        SELECT public_document, change_seq FROM records
        WHERE public_document IS NOT NULL
          AND ($1::text IS NULL OR agency_id = $1)
          AND ($2::text IS NULL OR organisation_id = $2)
        ORDER BY change_seq DESC
        LIMIT $3
        """,
        agency_id,
        organisation_id,
        limit,
    )
    return [_published(row) for row in rows]


async def last_change(executor: db.Executor) -> int:
    """The latest change number (0 before the first publication)."""
    last: int = await executor.fetchval("SELECT coalesce(max(change_seq), 0) FROM records")
    return last


async def agency_name(executor: db.Executor, agency_id: str) -> str | None:
    """The agency's name in tracking's directory, if its entry has arrived."""
    name: str | None = await executor.fetchval("SELECT name FROM agencies WHERE id = $1", agency_id)
    return name


# Agencies known to the public: those in tracking's directory, and any a published record names
# (its directory entry may not have arrived yet).
_KNOWN = """
    SELECT id FROM agencies
    UNION
    SELECT agency_id FROM records WHERE agency_id IS NOT NULL AND published_at IS NOT NULL
"""

_ON_TIME, _LATE, _OVERDUE = (
    RecordStatus.ANSWERED.value,
    RecordStatus.ANSWERED_LATE.value,
    RecordStatus.OVERDUE.value,
)

_TALLY = f"""
    SELECT k.id, a.name, a.level,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_ON_TIME}'
        ) AS answered_on_time,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_LATE}'
        ) AS answered_late,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_OVERDUE}'
        ) AS overdue,
        count(r.critique_id) FILTER (
            WHERE r.answered_at IS NULL AND r.overdue_at IS NULL AND r.withdrawn_at IS NULL
        ) AS open,
        coalesce(
            array_agg(extract(epoch FROM r.answered_at - r.submitted_at)::float8) FILTER (
                WHERE r.published_at IS NOT NULL
                  AND r.public_status IN ('{_ON_TIME}', '{_LATE}')
                  AND r.answered_at IS NOT NULL AND r.submitted_at IS NOT NULL
            ),
            '{{}}'
        ) AS answer_seconds
    FROM page k
    LEFT JOIN agencies a ON a.id = k.id
    LEFT JOIN records r ON r.agency_id = k.id
    GROUP BY k.id, a.name, a.level
    ORDER BY k.id
"""


def _report(row: db.Record) -> AgencyReport:
    return AgencyReport(
        agency=AgencyView(id=row["id"], name=row["name"], level=row["level"]),
        scorecard=scorecard(
            Tally(
                answered_on_time=row["answered_on_time"],
                answered_late=row["answered_late"],
                overdue=row["overdue"],
                open=row["open"],
                answer_seconds=tuple(row["answer_seconds"]),
            )
        ),
    )


async def agency_reports(
    executor: db.Executor, *, after: str | None, limit: int
) -> list[AgencyReport]:
    """Known agencies with their scorecards, by id, after ``after``."""
    rows = await executor.fetch(
        f"""
        WITH page AS (
            SELECT id FROM ({_KNOWN}) known
            WHERE $1::text IS NULL OR id > $1
            ORDER BY id LIMIT $2
        )
        {_TALLY}
        """,
        after,
        limit,
    )
    return [_report(row) for row in rows]


async def agency_report(executor: db.Executor, agency_id: str) -> AgencyReport | None:
    """One agency's scorecard, or None if no one knows the agency."""
    row = await executor.fetchrow(
        f"WITH page AS (SELECT id FROM ({_KNOWN}) known WHERE id = $1) {_TALLY}", agency_id
    )
    return None if row is None else _report(row)


# -- drafts -------------------------------------------------------------------------------------


async def draft(executor: db.Executor, draft_id: uuid.UUID) -> PublicDraft | None:
    """The draft's document as last published."""
    document = await executor.fetchval(
        "SELECT public_document FROM drafts WHERE id = $1 AND public_document IS NOT NULL",
        draft_id,
    )
    return None if document is None else PublicDraft.model_validate_json(document)


async def drafts(
    executor: db.Executor, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[DraftSummary]:
    """Published drafts, newest first, after the cursor: from their columns, not their
    documents (which hold every version's text)."""
    rows = await executor.fetch(
        """
        SELECT d.id, d.draft_type, d.title, d.agency_id, a.name AS agency_name,
               a.level AS agency_level, d.issuing_authority, d.registered_at, d.versions,
               d.sent_late, d.changed_without_new_version
        FROM drafts d LEFT JOIN agencies a ON a.id = d.agency_id
        WHERE d.public_document IS NOT NULL
          AND ($1::timestamptz IS NULL OR (d.registered_at, d.id) < ($1, $2))
        ORDER BY d.registered_at DESC, d.id DESC LIMIT $3
        """,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        DraftSummary(
            draft_id=row["id"],
            draft_type=row["draft_type"],
            draft_type_label=str(label_of(DRAFT_TYPE, row["draft_type"])),
            title=row["title"],
            agency=AgencyView(
                id=row["agency_id"], name=row["agency_name"], level=row["agency_level"]
            ),
            issuing_authority=row["issuing_authority"],
            registered_at=row["registered_at"],
            versions=row["versions"],
            sent_late=row["sent_late"],
            changed_without_new_version=row["changed_without_new_version"],
        )
        for row in rows
    ]


async def records_of_draft(
    executor: db.Executor,
    draft_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[PublicRecord]:
    """The published records criticising any version of the draft, oldest first, after the
    cursor (their submission and id)."""
    rows = await executor.fetch(
        """
        SELECT public_document FROM records
        WHERE (draft_version ->> 'draft_id') = $1::text AND draft_version IS NOT NULL
          AND public_document IS NOT NULL
          AND ($2::timestamptz IS NULL OR (submitted_at, critique_id) > ($2, $3))
        ORDER BY submitted_at, critique_id LIMIT $4
        """,
        str(draft_id),
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [PublicRecord.model_validate_json(row["public_document"]) for row in rows]


async def latest_of_draft(
    executor: db.Executor, draft_id: uuid.UUID, *, limit: int
) -> list[Published]:
    """The draft's records published or changed last, newest first."""
    rows = await executor.fetch(
        """
        SELECT public_document, change_seq FROM records
        WHERE (draft_version ->> 'draft_id') = $1::text AND draft_version IS NOT NULL
          AND public_document IS NOT NULL
        ORDER BY change_seq DESC LIMIT $2
        """,
        str(draft_id),
        limit,
    )
    return [_published(row) for row in rows]


async def draft_report(
    executor: db.Executor, draft_id: uuid.UUID, version: int
) -> DraftReport | None:
    """A draft version's consolidated report, as last published."""
    document = await executor.fetchval(
        "SELECT document FROM draft_reports WHERE draft_id = $1 AND version = $2",
        draft_id,
        version,
    )
    return None if document is None else DraftReport.model_validate_json(document)


# -- statistics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistics:
    """What the statistics page charts, counted over the published records and drafts."""

    answers: dict[tuple[str, str], dict[str, int]]
    """(agency level, month of the due date "YYYY-MM") → status → records, for the answered on
    time or late and the overdue."""
    agencies: list[tuple[str, str, dict[str, int]]]
    """(agency id, name) → status → records, the agencies with the most records first."""
    acceptance: dict[tuple[str, str], dict[str, int]]
    """(kind, agency level) → disposition → points answered."""
    drafts: dict[bool, int]
    """Sent late → drafts."""


_COUNTED = ("answered", "answered_late", "overdue")


async def statistics(executor: db.Executor, *, since: date, agencies: int = 20) -> Statistics:
    """Four aggregate statements; the answers by month from ``since`` on (a due date's month)."""
    answers: dict[tuple[str, str], dict[str, int]] = {}
    for row in await executor.fetch(
        """
        SELECT coalesce(a.level, 'unknown') AS level, to_char(r.due_date, 'YYYY-MM') AS month,
               r.public_status, count(*) AS n
        FROM records r LEFT JOIN agencies a ON a.id = r.agency_id
        WHERE r.public_document IS NOT NULL AND r.public_status = ANY($1::text[])
          AND r.due_date >= $2
        GROUP BY 1, 2, 3
        """,
        list(_COUNTED),
        since,
    ):
        answers.setdefault((row["level"], row["month"]), {})[row["public_status"]] = row["n"]
    by_agency: dict[tuple[str, str], dict[str, int]] = {}
    for row in await executor.fetch(
        """
        WITH counted AS (
            SELECT r.agency_id, r.public_status, count(*) AS n
            FROM records r
            WHERE r.public_document IS NOT NULL AND r.public_status = ANY($1::text[])
            GROUP BY 1, 2
        ), ranked AS (
            SELECT agency_id, sum(n) AS total FROM counted GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
        )
        SELECT c.agency_id, coalesce(a.name, c.agency_id) AS name, c.public_status, c.n, k.total
        FROM counted c JOIN ranked k USING (agency_id) LEFT JOIN agencies a ON a.id = c.agency_id
        ORDER BY k.total DESC, c.agency_id
        """,
        list(_COUNTED),
        agencies,
    ):
        by_agency.setdefault((row["agency_id"], row["name"]), {})[row["public_status"]] = row["n"]
    acceptance: dict[tuple[str, str], dict[str, int]] = {}
    for row in await executor.fetch(
        """
        SELECT r.kind, coalesce(a.level, 'unknown') AS level, ans.disposition, count(*) AS n
        FROM record_answers ans
        JOIN records r ON r.critique_id = ans.critique_id
        LEFT JOIN agencies a ON a.id = r.agency_id
        WHERE r.public_document IS NOT NULL AND r.public_status IN ('answered', 'answered_late')
        GROUP BY 1, 2, 3
        """
    ):
        acceptance.setdefault((row["kind"], row["level"]), {})[row["disposition"]] = row["n"]
    drafts = {
        row["sent_late"]: row["n"]
        for row in await executor.fetch(
            "SELECT sent_late, count(*) AS n FROM drafts WHERE public_document IS NOT NULL"
            " GROUP BY 1"
        )
    }
    return Statistics(
        answers=answers,
        agencies=[(agency_id, name, counts) for (agency_id, name), counts in by_agency.items()],
        acceptance=acceptance,
        drafts=drafts,
    )
