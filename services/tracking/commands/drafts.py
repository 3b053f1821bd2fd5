"""Drafts, decided by tracking for the drafting agency: registering one, each version it sends
the Front, and its submission to the issuing authority. Each is written with its event
(outbox, topic ``tracking.drafts``) in the transaction that records it, on the draft's row
locked: two versions cannot both follow the same one.

A file is read and structured before the transaction opens (a large DOCX takes a while, in a
thread of its own), so no lock waits on parsing; a retry with the same ``request_id`` returns
what was decided the first time, without reading its file again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError

from contracts.events import (
    AnsweredPoint,
    DraftFormat,
    DraftRegistered,
    DraftSentToAuthority,
    DraftType,
    DraftVersionRegistered,
    PartDifference,
    UptakeLink,
    WindowFacts,
)
from contracts.vocabulary import VIETNAM
from services.platform import db, outbox
from services.tracking import draft_files, legal_text, store, uptake
from services.tracking.criticism_window import (
    CriticismWindow,
    PlannedBeforeReceipt,
    WindowPolicy,
    window,
)
from services.tracking.domain import (
    AnswerProblem,
    InvalidRequest,
    NotYourDraft,
    new_version_refusal,
    submission_refusal,
)
from services.tracking.legal_text import PartChange

log = logging.getLogger(__name__)

MAX_VERSION_EVENT_BYTES = outbox.MAX_EVENT_BYTES // 2
"""The largest announcement of a version (its structured text): well inside what Kafka and
every consumer take, whatever the envelope adds. A law runs to a few hundred kilobytes."""


def _problems(error: ValidationError, fields: dict[str, str]) -> list[AnswerProblem]:
    return [
        AnswerProblem(fields.get(str(item["loc"][0]), str(item["loc"][0])), item["msg"])
        for item in error.errors()
    ]


async def register_draft(
    pool: db.Pool,
    *,
    agency_id: str,
    request_id: str,
    draft_type: DraftType,
    title: str,
    issuing_authority: str,
    now: datetime,
) -> store.Draft:
    """Register a draft the agency leads, once per ``request_id``."""
    try:
        registered = DraftRegistered(
            draft_id=uuid.uuid4(),
            agency_id=agency_id,
            draft_type=draft_type,
            title=title,
            issuing_authority=issuing_authority,
            registered_at=now,
        )
    except ValidationError as error:
        raise InvalidRequest(_problems(error, {"draft_type": "type"})) from error
    async with pool.acquire() as connection, connection.transaction():
        if await store.insert_draft(connection, registered, request_id=request_id):
            await outbox.record(connection, registered, occurred_at=now)
            log.info(
                "draft registered",
                extra={"draft_id": str(registered.draft_id), "agency_id": agency_id},
            )
            draft_id = registered.draft_id
        else:
            found = await store.draft_by_request(connection, agency_id, request_id)
            assert found is not None, "the conflicting draft is committed"
            draft_id = found
        return await store.get_draft(connection, draft_id)


async def _own_draft(
    connection: db.Connection, agency_id: str, draft_id: uuid.UUID
) -> store.LockedDraft:
    locked = await store.lock_draft(connection, draft_id)
    if locked.agency_id != agency_id:
        raise NotYourDraft(draft_id)
    return locked


async def _check_own(executor: db.Executor, agency_id: str, draft_id: uuid.UUID) -> None:
    """Before reading a file: the draft is there, and the caller's."""
    if await store.draft_agency(executor, draft_id) != agency_id:
        raise NotYourDraft(draft_id)


async def _read(data: bytes, format: DraftFormat) -> draft_files.DraftFile:
    """The file structured, off the event loop; refused naming the field (and the line)."""
    try:
        return await asyncio.to_thread(draft_files.read, data, format)
    except (draft_files.FileRefused, legal_text.TextRefused) as refused:
        raise InvalidRequest([AnswerProblem("file", str(refused))]) from refused


def _window(given: CriticismWindow) -> WindowFacts:
    return WindowFacts(
        received_on=given.received_on,
        planned_on=given.planned_on,
        closes_on=given.closes_on,
        latest_receipt_on=given.latest_receipt_on,
        days_given=given.days_given,
        minimum_days=given.minimum_days,
        sent_late=given.sent_late,
        explanation=given.explanation,
    )


def _differences(changes: Sequence[PartChange]) -> tuple[PartDifference, ...]:
    return tuple(PartDifference(part_id=c.id, change=c.change) for c in changes)


def _diff(before: DraftVersionRegistered, after: legal_text.Structure) -> list[PartChange]:
    return legal_text.diff(legal_text.from_parts(before.preamble, before.parts), after)


@dataclass(frozen=True)
class Link:
    """A point answered as taken in, by its case, and the parts changed for it."""

    case_id: uuid.UUID
    point_number: int
    part_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Uptake:
    links: tuple[UptakeLink, ...] = ()
    accepted_unchanged: tuple[AnsweredPoint, ...] = ()
    changed_unasked: tuple[str, ...] = ()


async def _uptake(
    connection: db.Connection,
    *,
    before: DraftVersionRegistered,
    after: legal_text.Structure,
    changes: list[PartChange],
    links: Sequence[Link],
) -> _Uptake:
    """The links checked against the answers given on the version before and both texts, and
    what they leave flagged (services/tracking/uptake.py)."""
    answered = await store.answered_points(
        connection, agency_id=before.agency_id, draft_id=before.draft_id, version=before.version
    )
    by_case = {(a.case_id, a.point_number): a for a in answered}
    problems = [
        AnswerProblem(
            f"links[{index}]",
            f"case {link.case_id} has no answered point {link.point_number} on version"
            f" {before.version} of this draft",
        )
        for index, link in enumerate(links)
        if (link.case_id, link.point_number) not in by_case
    ]
    if problems:
        raise InvalidRequest(problems)
    point = {(str(a.critique_id), a.point_number): a for a in answered}
    linked: dict[tuple[str, int], list[str]] = {}
    for link in links:
        ref = by_case[(link.case_id, link.point_number)]
        linked.setdefault((str(ref.critique_id), ref.point_number), []).extend(link.part_ids)
    known = [p.id for p in before.parts] + [p.id for p in after.walk()]
    try:
        found = uptake.review(
            {ref: a.disposition for ref, a in point.items()}, linked, changes, known
        )
    except uptake.LinkRefused as refused:
        raise InvalidRequest([AnswerProblem("links", str(refused))]) from refused

    def answered_point(ref: tuple[str, int]) -> AnsweredPoint:
        a = point[ref]
        return AnsweredPoint(critique_id=a.critique_id, case_id=a.case_id, point_number=ref[1])

    return _Uptake(
        links=tuple(
            UptakeLink(
                critique_id=point[ref].critique_id,
                case_id=point[ref].case_id,
                point_number=ref[1],
                part_ids=tuple(dict.fromkeys(parts)),
            )
            for ref, parts in linked.items()
        ),
        accepted_unchanged=tuple(answered_point(ref) for ref in found.accepted_unchanged),
        changed_unasked=tuple(found.changed_unasked),
    )


async def add_version(
    pool: db.Pool,
    *,
    agency_id: str,
    draft_id: uuid.UUID,
    request_id: str,
    follows_version: int,
    file: bytes,
    format: DraftFormat,
    file_name: str,
    planned_on: date,
    now: datetime,
    policy: WindowPolicy,
    links: Sequence[Link] = (),
) -> DraftVersionRegistered:
    """Record the version the Front receives now: its structure, the window it gives before
    ``planned_on``, and what changed since the version it follows."""
    async with pool.acquire() as connection:
        await _check_own(connection, agency_id, draft_id)
        if (first := await store.version_by_request(connection, draft_id, request_id)) is not None:
            return first
    problems: list[AnswerProblem] = []
    if not file_name.strip():
        problems.append(AnswerProblem("file_name", "required"))
    try:
        given = _window(window(now, planned_on, policy))
    except PlannedBeforeReceipt as refused:
        problems.append(AnswerProblem("planned_submission_date", str(refused)))
    if problems:
        raise InvalidRequest(problems)
    read = await _read(file, format)
    async with pool.acquire() as connection, connection.transaction():
        locked = await _own_draft(connection, agency_id, draft_id)
        if (first := await store.version_by_request(connection, draft_id, request_id)) is not None:
            return first
        if refusal := new_version_refusal(
            versions=locked.versions, sent=locked.sent, follows=follows_version
        ):
            raise refusal
        changes: tuple[PartDifference, ...] = ()
        taken_in = _Uptake()
        if locked.versions:
            before = await store.draft_version(connection, draft_id, locked.versions)
            changed = _diff(before, read.structure)
            changes = _differences(changed)
            taken_in = await _uptake(
                connection, before=before, after=read.structure, changes=changed, links=links
            )
        elif links:
            raise InvalidRequest(
                [AnswerProblem("links", "the first version follows no critique to take in")]
            )
        version = DraftVersionRegistered(
            draft_id=draft_id,
            agency_id=agency_id,
            version=locked.versions + 1,
            received_at=now,
            file_format=format,
            file_name=file_name.strip(),
            file_size=read.size,
            sha256=read.sha256,
            preamble=tuple(read.structure.preamble),
            parts=legal_text.to_parts(read.structure),
            window=given,
            changes=changes,
            links=taken_in.links,
            accepted_unchanged=taken_in.accepted_unchanged,
            changed_unasked=taken_in.changed_unasked,
        )
        if len(version.model_dump_json()) > MAX_VERSION_EVENT_BYTES:
            raise InvalidRequest(
                [
                    AnswerProblem(
                        "file",
                        f"văn bản dài hơn {MAX_VERSION_EVENT_BYTES} byte / the text is longer"
                        f" than {MAX_VERSION_EVENT_BYTES} bytes once structured",
                    )
                ]
            )
        await store.insert_version(connection, version, request_id=request_id, original=file)
        await outbox.record(connection, version, occurred_at=now)
    log.info(
        "draft version registered",
        extra={
            "draft_id": str(draft_id),
            "version": version.version,
            "parts": len(version.parts),
            "sent_late": given.sent_late,
        },
    )
    return version


async def record_submission(
    pool: db.Pool,
    *,
    agency_id: str,
    draft_id: uuid.UUID,
    request_id: str,
    sent_on: date | None,
    file: bytes,
    format: DraftFormat,
    now: datetime,
    policy: WindowPolicy,
) -> store.Draft:
    """Record that the draft went to its issuing authority with ``file``, compared with the
    last version the Front received."""
    async with pool.acquire() as connection:
        await _check_own(connection, agency_id, draft_id)
        if await store.submission_request(connection, draft_id) == request_id:
            return await store.get_draft(connection, draft_id)
    today = now.astimezone(VIETNAM).date()
    day = sent_on or today
    if day > today:
        raise InvalidRequest(
            [AnswerProblem("sent_on", "a submission is recorded once made: not after today")]
        )
    read = await _read(file, format)
    async with pool.acquire() as connection, connection.transaction():
        locked = await _own_draft(connection, agency_id, draft_id)
        if await store.submission_request(connection, draft_id) == request_id:
            return await store.get_draft(connection, draft_id)
        if refusal := submission_refusal(versions=locked.versions, sent=locked.sent):
            raise refusal
        received = await store.draft_version(connection, draft_id, locked.versions)
        try:
            given = _window(window(received.received_at, day, policy, sent=True))
        except PlannedBeforeReceipt as before:
            raise InvalidRequest([AnswerProblem("sent_on", str(before))]) from before
        same_file = read.sha256 == received.sha256
        sent = DraftSentToAuthority(
            draft_id=draft_id,
            agency_id=agency_id,
            version=received.version,
            sent_on=day,
            recorded_at=now,
            sha256=read.sha256,
            changes=() if same_file else _differences(_diff(received, read.structure)),
            window=given,
        )
        await store.insert_submission(connection, sent, request_id=request_id, original=file)
        await outbox.record(connection, sent, occurred_at=now)
        log.info(
            "draft sent to its issuing authority",
            extra={
                "draft_id": str(draft_id),
                "version": received.version,
                "changed_without_new_version": sent.changed_without_new_version,
            },
        )
        return await store.get_draft(connection, draft_id)
