"""Disclosure's read model on a real PostgreSQL does not depend on the order it hears a critique's
events in. They come on two topics (submission's and tracking's): a rebuild reading them from the
beginning interleaves the two differently from the live service, and must publish the same
documents. It did not: a critique that fell overdue and was then withdrawn was never published
when the withdrawal was heard first, and one answered late after falling overdue was published
as answered (at the answer) rather than as overdue (at the due date)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.events import (
    CaseAmended,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    CritiqueContent,
    CritiqueEvent,
    CritiqueKind,
    CritiqueSubmitted,
    Disposition,
    DraftFormat,
    DraftRegistered,
    DraftType,
    DraftVersionRef,
    DraftVersionRegistered,
    DueDateChanged,
    DueDateRule,
    Level,
    OrganisationRef,
    Point,
    PointAnswer,
    WindowFacts,
)
from services.disclosure import commands, consumers
from services.disclosure.domain import DisclosurePolicy
from services.disclosure.main import MIGRATIONS
from services.platform import db
from services.platform.cloudevents import Envelope
from tests.support.engines import Engines
from tests.support.plans import statement_calls

AGENCY = "ubnd-phuong-kinh-bac-bac-ninh"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULE = DueDateRule(days=30, counting="calendar", start=date(2026, 3, 2), explanation="30 ngày")

Topics = tuple[list[CritiqueEvent], list[CritiqueEvent]]
"""A critique's events on submission's topic and on tracking's, each in its topic's order."""


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool(
        "disclosure", MIGRATIONS, prefix="disclosure", max_size=2
    ) as pool:
        yield pool


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def submitted(critique_id: uuid.UUID) -> CritiqueSubmitted:
    return CritiqueSubmitted(
        critique_id=critique_id,
        organisation=OrganisationRef(
            id="mttq-phuong-kinh-bac-bac-ninh",
            name="Ủy ban MTTQ Việt Nam phường Kinh Bắc",
            level=Level.COMMUNE,
        ),
        agency_id=AGENCY,
        kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
        title="Kiến nghị về phí chợ",
        points=(Point(number=1, text="Niêm yết công khai mức phí."),),
        submitted_at=at(0),
    )


def opened(critique_id: uuid.UUID, case_id: uuid.UUID) -> CaseOpened:
    return CaseOpened(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        opened_at=at(1),
        due_date=date(2026, 4, 1),
        due_rule=RULE,
    )


def overdue(critique_id: uuid.UUID, case_id: uuid.UUID) -> CaseOverdue:
    return CaseOverdue(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        due_date=date(2026, 4, 1),
        at=at(2),
    )


def withdrawn_after_overdue(critique_id: uuid.UUID) -> Topics:
    case_id = uuid.uuid4()
    withdrawn = CaseWithdrawn(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        request_id=uuid.uuid4(),
        withdrawn_at=at(3),
    )
    return [submitted(critique_id)], [
        opened(critique_id, case_id),
        overdue(critique_id, case_id),
        withdrawn,
    ]


def amended_then_answered(critique_id: uuid.UUID) -> Topics:
    """The answer is to the amended text (version 2): never to be shown beside version 1's."""
    case_id = uuid.uuid4()
    amended = CaseAmended(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        request_id=uuid.uuid4(),
        version=2,
        content=CritiqueContent(
            title="Kiến nghị về phí chợ (sửa đổi)",
            points=(Point(number=1, text="Niêm yết công khai mức phí tại cổng chợ."),),
        ),
        amended_at=at(2),
    )
    answer = CaseAnswered(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        answered_at=at(3),
        late=False,
        answers=(PointAnswer(point_number=1, disposition=Disposition.ACCEPTED),),
        version=2,
    )
    return [submitted(critique_id)], [opened(critique_id, case_id), amended, answer]


def answered_late(critique_id: uuid.UUID) -> Topics:
    case_id = uuid.uuid4()
    answer = CaseAnswered(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        answered_at=at(3),
        late=True,
        answers=(PointAnswer(point_number=1, disposition=Disposition.ACCEPTED),),
    )
    return [submitted(critique_id)], [
        opened(critique_id, case_id),
        overdue(critique_id, case_id),
        answer,
    ]


def extended_after_overdue(critique_id: uuid.UUID) -> Topics:
    case_id = uuid.uuid4()
    extended = DueDateChanged(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        due_date=date(2026, 5, 1),
        due_rule=RULE,
        changed_at=at(3),
    )
    return [submitted(critique_id)], [
        opened(critique_id, case_id),
        overdue(critique_id, case_id),
        extended,
    ]


def interleavings(first: Sequence[Any], second: Sequence[Any]) -> Iterator[list[Any]]:
    """Every merge of the two sequences that keeps each one's own order."""
    size = len(first) + len(second)
    for places in itertools.combinations(range(size), len(first)):
        ones, twos = iter(first), iter(second)
        yield [next(ones) if i in places else next(twos) for i in range(size)]


async def public_document(
    pool: db.Pool, events: Sequence[CritiqueEvent], *, batch: int = 1
) -> dict[str, Any]:
    """Apply the events as the consumer does (:func:`apply`); the record's document, id left
    out."""
    await apply(pool, events, batch=batch)
    critique_id = events[0].critique_id
    stored = await pool.fetchval(
        "SELECT public_document FROM records WHERE critique_id = $1", critique_id
    )
    document: dict[str, Any] = json.loads(stored) if stored is not None else {}
    document.pop("critique_id", None)
    return document


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (withdrawn_after_overdue, {"status": "withdrawn", "publication_reason": "overdue"}),
        (answered_late, {"status": "answered_late", "publication_reason": "overdue"}),
        (extended_after_overdue, {"status": "awaiting", "publication_reason": "overdue"}),
        (
            amended_then_answered,
            {
                "status": "answered",
                "publication_reason": "answered",
                "version": 2,
                "answered_version": 2,
                "title": "Kiến nghị về phí chợ (sửa đổi)",
            },
        ),
    ],
)
async def test_the_published_document_does_not_depend_on_how_the_two_topics_interleave(
    pool: db.Pool, history: Callable[[uuid.UUID], Topics], expected: dict[str, str]
) -> None:
    critiques, cases = history(uuid.uuid4())
    live = sorted([*critiques, *cases], key=_moment)
    reference = await public_document(pool, live)
    assert {key: reference.get(key) for key in expected} == expected
    if expected["publication_reason"] == "overdue":
        assert reference["published_at"] == "2026-03-02T08:02:00Z"  # when it fell overdue

    for order in interleavings(critiques, cases):
        # Heard one at a time, or in batches the consumer settles once (publishing each record
        # once per batch): the same document.
        for batch in (1, 2, len(order)):
            critique_id = uuid.uuid4()
            renamed = [event.model_copy(update={"critique_id": critique_id}) for event in order]
            assert await public_document(pool, renamed, batch=batch) == reference, (
                batch,
                [type(e).__name__ for e in order],
            )


def _moment(event: CritiqueEvent) -> datetime:
    for name in (
        "submitted_at",
        "withdrawn_at",
        "opened_at",
        "amended_at",
        "answered_at",
        "changed_at",
        "at",
    ):
        if isinstance(moment := getattr(event, name, None), datetime):
            return moment
    raise AssertionError(event)


async def test_a_case_step_is_one_statement_and_a_first_submission_three(pool: db.Pool) -> None:
    """Applying an event costs its record a fixed handful of statements (pg_stat_statements,
    counted once each transaction is over), not an insert, an update and a timeline apiece."""
    critique_id, case_id = uuid.uuid4(), uuid.uuid4()

    async def statements(event: CritiqueEvent) -> int:
        before = await statement_calls(pool, "%", top_level=True)
        async with pool.acquire() as connection, connection.transaction():
            await commands.apply_event(connection, uuid.uuid4(), event)
        return await statement_calls(pool, "%", top_level=True) - before - 2  # BEGIN and COMMIT

    # Once before, on another record: the driver's first use of a type costs it a query.
    warm, warm_case = uuid.uuid4(), uuid.uuid4()
    for event in (opened(warm, warm_case), submitted(warm), overdue(warm, warm_case)):
        await statements(event)
    # Heard before its submission (the topics interleave): the record is made by the step.
    assert await statements(opened(critique_id, case_id)) == 1
    # Lock (or create) the record, take the content, its points.
    assert await statements(submitted(critique_id)) == 3
    assert await statements(overdue(critique_id, case_id)) == 1
    stored = await pool.fetchrow(
        "SELECT case_id, due_date, overdue_at, title, version FROM records WHERE critique_id = $1",
        critique_id,
    )
    assert stored is not None
    assert (stored["case_id"], stored["due_date"], stored["version"]) == (
        case_id,
        date(2026, 4, 1),
        1,
    )
    assert stored["overdue_at"] is not None
    steps = await pool.fetch(
        "SELECT step FROM record_timeline WHERE critique_id = $1 ORDER BY at", critique_id
    )
    assert [row["step"] for row in steps] == ["submitted", "case_opened", "overdue"]


async def test_a_batch_of_records_is_published_with_statements_per_table_not_per_record(
    pool: db.Pool,
) -> None:
    """Five records answered in one batch: locked with one statement, their points and timelines
    read with one each, each stored with one, and appended to the log together (four)."""
    policy = DisclosurePolicy()

    async def heard(count: int) -> list[uuid.UUID]:
        ids = [uuid.uuid4() for _ in range(count)]
        async with pool.acquire() as connection, connection.transaction():
            for critique_id in ids:
                critiques, cases = answered_late(critique_id)
                for event in sorted([*critiques, *cases], key=_moment):
                    await commands.apply_event(connection, uuid.uuid4(), event)
        return ids

    async def publish(ids: list[uuid.UUID]) -> tuple[int, int]:
        before = await statement_calls(pool, "%", top_level=True)
        async with pool.acquire() as connection, connection.transaction():
            published = await commands.publish(connection, ids, policy=policy, now=at(10))
        return published, await statement_calls(pool, "%", top_level=True) - before - 2

    await publish(await heard(2))  # the log's first leaves, and the driver's first use of types
    assert await publish(await heard(5)) == (5, 3 + 5 + 4)
    assert await publish(await heard(1)) == (1, 3 + 1 + 4)


DRAFT_TEXT = "NGHỊ ĐỊNH\nĐiều 1. Phạm vi\nĐiều 2. Mức thu\n1. Chợ hạng 1.\n2. Chợ hạng 2.\n"


def draft_events(draft_id: uuid.UUID) -> list[Any]:
    from services.tracking.legal_text import parse_text, to_parts

    registered = DraftRegistered(
        draft_id=draft_id,
        agency_id=AGENCY,
        draft_type=DraftType.DECREE,
        title="Dự thảo Nghị định về phí chợ",
        issuing_authority="Chính phủ",
        registered_at=at(-60),
    )
    version = DraftVersionRegistered(
        draft_id=draft_id,
        agency_id=AGENCY,
        version=1,
        received_at=at(-50),
        file_format=DraftFormat.TEXT,
        file_name="du-thao.txt",
        file_size=len(DRAFT_TEXT.encode()),
        sha256="0" * 64,
        parts=to_parts(parse_text(DRAFT_TEXT)),
        window=WindowFacts(
            received_on=date(2026, 3, 2),
            planned_on=date(2026, 3, 30),
            closes_on=date(2026, 3, 29),
            latest_receipt_on=date(2026, 3, 15),
            days_given=28,
            minimum_days=15,
            sent_late=False,
            explanation="28 ngày",
        ),
    )
    return [registered, version]


def citing(critique_id: uuid.UUID, draft_id: uuid.UUID) -> Topics:
    case_id = uuid.uuid4()
    submission = submitted(critique_id).model_copy(
        update={
            "kind": CritiqueKind.SOCIAL_CRITICISM,
            "draft_version": DraftVersionRef(draft_id=draft_id, version=1),
            "points": (Point(number=1, text="Mức thu quá cao.", cites=("dieu-2.khoan-1",)),),
        }
    )
    answer = CaseAnswered(
        critique_id=critique_id,
        case_id=case_id,
        agency_id=AGENCY,
        answered_at=at(3),
        late=False,
        answers=(PointAnswer(point_number=1, disposition=Disposition.ACCEPTED),),
    )
    return [submission], [opened(critique_id, case_id), answer]


async def apply(pool: db.Pool, events: Sequence[Any], *, batch: int) -> None:
    """Apply the events as the consumer does, ``batch`` at a time in one transaction each (the
    handlers, then the subscription's settling once)."""
    subscription = consumers.subscription(DisclosurePolicy())
    assert subscription.settle is not None
    for start in range(0, len(events), batch):
        async with pool.acquire() as connection, connection.transaction():
            touched: dict[Hashable, None] = {}
            for event in events[start : start + batch]:
                envelope = Envelope(
                    id=uuid.uuid4(), type=event.ce_type, source="test", time=at(0), subject=""
                )
                handler = subscription.handlers[type(event)]
                touched.update(dict.fromkeys(await handler(connection, envelope, event) or ()))
            await subscription.settle(connection, list(touched))


async def test_a_record_citing_a_draft_its_draft_and_its_report_do_not_depend_on_the_order(
    pool: db.Pool,
) -> None:
    """The drafts' topic is a third, in no order with the other two: whichever is heard first,
    the record shows the text it cites, and the draft and its report are the same."""

    async def documents(events: Sequence[Any], batch: int) -> tuple[Any, Any, Any]:
        await apply(pool, events, batch=batch)
        draft_id = events_draft(events)
        critique_id = next(e.critique_id for e in events if isinstance(e, CritiqueSubmitted))
        record = json.loads(
            await pool.fetchval(
                "SELECT public_document FROM records WHERE critique_id = $1", critique_id
            )
        )
        record.pop("critique_id")
        draft = json.loads(
            await pool.fetchval("SELECT public_document FROM drafts WHERE id = $1", draft_id)
        )
        draft.pop("draft_id")
        report = json.loads(
            await pool.fetchval(
                "SELECT document FROM draft_reports WHERE draft_id = $1 AND version = 1", draft_id
            )
        )
        report.pop("draft_id")
        for part in report["parts"]:
            for point in part["points"]:
                point.pop("critique_id")
        record.pop("draft_version")
        return record, draft, report

    def events_draft(events: Sequence[Any]) -> uuid.UUID:
        return next(e.draft_id for e in events if isinstance(e, DraftRegistered))

    def history() -> tuple[list[Any], list[Any]]:
        draft_id, critique_id = uuid.uuid4(), uuid.uuid4()
        critiques, cases = citing(critique_id, draft_id)
        return draft_events(draft_id), sorted([*critiques, *cases], key=_moment)

    drafts, others = history()
    reference = await documents([*drafts, *others], batch=1)
    record, _, report = reference
    assert record["points"][0]["cited"] == [
        {"id": "dieu-2.khoan-1", "citation": "khoản 1 Điều 2", "text": "Chợ hạng 1."}
    ]
    assert report["totals"]["points"] == 1
    for order in interleavings(drafts, others):
        for batch in (1, len(order)):
            drafts, others = history()
            renamed = interleavings_like(order, drafts, others)
            assert await documents(renamed, batch) == reference, (
                batch,
                [type(e).__name__ for e in order],
            )


def interleavings_like(order: Sequence[Any], drafts: list[Any], others: list[Any]) -> list[Any]:
    """``order``'s interleaving of the drafts' events with the others', on fresh ids."""
    fresh_drafts, fresh_others = iter(drafts), iter(others)
    return [
        next(fresh_drafts)
        if isinstance(e, DraftRegistered | DraftVersionRegistered)
        else next(fresh_others)
        for e in order
    ]
