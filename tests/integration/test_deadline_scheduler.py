"""The deadline scheduler on a real PostgreSQL, with time injected: reminders, overdue and
escalation fire once each, whatever restarts, crashes and competing instances do."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from contracts.events import (
    ExtensionDecisionRequested,
    PointAnswer,
)
from contracts.vocabulary import VIETNAM
from services.platform import db, outbox
from services.tracking import commands, schedule, store
from services.tracking.domain import SchedulePolicy
from services.tracking.main import MIGRATIONS
from tests.support import tracking
from tests.support.engines import Engines

# Received Monday 2 March 2026 at 10:00 in Hanoi: 30 calendar days end on Wednesday 1 April.
RECEIVED = datetime(2026, 3, 2, 10, 0, tzinfo=VIETNAM)
DUE = date(2026, 4, 1)


def hanoi(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=VIETNAM)


@pytest.fixture
async def pool(engines: Engines) -> AsyncIterator[db.Pool]:
    async with engines.migrated_pool("tracking", MIGRATIONS, prefix="tracking", max_size=6) as pool:
        yield pool


async def open_case(pool: db.Pool, *, parent: str | None = "mttq-tinh-bac-ninh") -> store.Case:
    return await tracking.open_case(pool, received=RECEIVED, parent=parent)


async def events(pool: db.Pool, case: store.Case) -> list[tuple[str, dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 ORDER BY id", str(case.critique_id)
    )
    return [(row["event_type"].split(".")[-2], json.loads(bytes(row["payload"]))) for row in rows]


async def test_reminders_then_overdue_then_escalation_fire_once_each_at_their_time(
    pool: db.Pool,
) -> None:
    case = await open_case(pool)
    assert case.due_date == DUE

    assert await commands.fire_due(pool, now=hanoi(date(2026, 3, 25), 7, 59)) == 0
    assert await commands.fire_due(pool, now=hanoi(date(2026, 3, 25), 8, 0)) == 1
    assert await commands.fire_due(pool, now=hanoi(date(2026, 3, 31), 9)) == 2  # 3 and 1 days
    assert await commands.fire_due(pool, now=hanoi(DUE, 23, 59)) == 0
    assert await commands.fire_due(pool, now=hanoi(date(2026, 4, 2))) == 2
    for _ in range(3):  # restarts find nothing left to do
        assert await commands.fire_due(pool, now=hanoi(date(2026, 6, 1))) == 0

    fired = await events(pool, case)
    assert [name for name, _ in fired] == [
        "opened",
        "reminder_due",
        "reminder_due",
        "reminder_due",
        "overdue",
        "escalated",
    ]
    assert [payload["days_left"] for name, payload in fired if name == "reminder_due"] == [7, 3, 1]
    assert fired[-1][1]["escalated_to"] == "mttq-tinh-bac-ninh"
    assert (await store.get_case(pool, case.id)).overdue_at == hanoi(date(2026, 4, 2))


async def test_a_crash_while_firing_loses_nothing_and_repeats_nothing(
    pool: db.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await open_case(pool)
    real_record = outbox.record
    calls = 0

    async def crash_on_second_event(*args: Any, **kwargs: Any) -> uuid.UUID:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionResetError("the process died here")
        return await real_record(*args, **kwargs)

    monkeypatch.setattr(outbox, "record", crash_on_second_event)
    with pytest.raises(ConnectionResetError):
        await commands.fire_due(pool, now=hanoi(date(2026, 4, 2)))
    monkeypatch.setattr(outbox, "record", real_record)
    assert [name for name, _ in await events(pool, case)] == ["opened"]

    assert await commands.fire_due(pool, now=hanoi(date(2026, 4, 2))) == 5
    assert await commands.fire_due(pool, now=hanoi(date(2026, 4, 2))) == 0
    assert len(await events(pool, case)) == 6


async def test_competing_schedulers_never_fire_a_step_twice(pool: db.Pool) -> None:
    cases = [await open_case(pool) for _ in range(20)]
    fired = await asyncio.gather(
        *(commands.fire_due(pool, now=hanoi(date(2026, 4, 2)), limit=7) for _ in range(6))
    )
    while await commands.fire_due(pool, now=hanoi(date(2026, 4, 2))):
        pass
    assert sum(fired) <= 5 * len(cases)
    for case in cases:
        assert [name for name, _ in await events(pool, case)].count("reminder_due") == 3
        assert len(await events(pool, case)) == 6


async def test_an_answered_case_is_neither_reminded_nor_overdue(pool: db.Pool) -> None:
    case = await open_case(pool)
    await commands.answer(
        pool,
        agency_id=case.agency_id,
        case_id=case.id,
        request_id="r1",
        version=case.version,
        answers=[PointAnswer(point_number=1, disposition="accepted")],
        now=hanoi(date(2026, 3, 20)),
    )
    assert await commands.fire_due(pool, now=hanoi(date(2026, 6, 1))) == 0


async def test_a_granted_extension_moves_the_reminders_and_ends_the_overdue_state(
    pool: db.Pool,
) -> None:
    case = await open_case(pool)
    await commands.fire_due(pool, now=hanoi(date(2026, 4, 2)))
    assert (await store.get_case(pool, case.id)).overdue_at is not None
    await commands.request_extension(
        pool,
        agency_id=case.agency_id,
        case_id=case.id,
        request_id="x1",
        reason="Cần khảo sát thêm",
        requested_due_date=date(2026, 4, 30),
        now=hanoi(date(2026, 4, 3)),
    )
    extension = (await store.get_case(pool, case.id)).extensions[0]
    async with pool.acquire() as connection, connection.transaction():
        await commands.decide_extension(
            connection,
            ExtensionDecisionRequested(
                critique_id=case.critique_id,
                request_id=uuid.uuid4(),
                extension_id=extension.id,
                grant=True,
                requested_at=hanoi(date(2026, 4, 4)),
            ),
            steps=SchedulePolicy(),
            now=hanoi(date(2026, 4, 4)),
        )

    extended = await store.get_case(pool, case.id)
    assert extended.due_date == date(2026, 4, 30)
    assert extended.overdue_at is None
    assert extended.due_rule.source == "extension granted"
    assert await commands.fire_due(pool, now=hanoi(date(2026, 4, 23), 8)) == 1  # 7 days before
    fired = [name for name, _ in await events(pool, case)]
    assert fired[-4:] == [
        "extension_requested",
        "extension_decided",
        "due_date_changed",
        "reminder_due",
    ]


async def test_a_step_due_while_its_case_is_being_answered_is_skipped_then_never_fires(
    pool: db.Pool,
) -> None:
    case = await open_case(pool)
    async with pool.acquire() as answering, answering.transaction():
        # The agency's answer holds the case while it is recorded: the scheduler does not wait
        # for it, nor fire on what it read before the answer committed.
        await store.get_case(answering, case.id, for_update=True)
        assert await commands.fire_due(pool, now=hanoi(date(2026, 4, 2))) == 0
        await store.mark_answered(
            answering,
            case,
            request_id="r1",
            answers=[PointAnswer(point_number=1, disposition="accepted")],
            answered_at=hanoi(date(2026, 4, 1), 23),
            late=False,
        )
        await store.cancel_steps(answering, case.id)
    assert await commands.fire_due(pool, now=hanoi(date(2026, 6, 1))) == 0
    assert [name for name, _ in await events(pool, case)] == ["opened"]


async def test_a_step_still_planned_for_a_closed_case_is_dropped_not_fired(pool: db.Pool) -> None:
    case = await open_case(pool)
    await pool.execute("UPDATE cases SET status = 'withdrawn' WHERE id = $1", case.id)
    await commands.fire_due(pool, now=hanoi(date(2026, 4, 2)))
    assert [name for name, _ in await events(pool, case)] == ["opened"]
    assert not await pool.fetchval(
        "SELECT count(*) FROM deadline_steps WHERE case_id = $1 AND fired_at IS NULL", case.id
    )


async def test_a_central_committees_overdue_case_escalates_to_no_one_above(pool: db.Pool) -> None:
    case = await open_case(pool, parent=None)
    await commands.fire_due(pool, now=hanoi(date(2026, 4, 2)))
    name, payload = (await events(pool, case))[-1]
    assert name == "escalated"
    assert payload["escalated_to"] is None


def test_the_clock_is_utc_by_default() -> None:
    assert schedule.system_clock().tzinfo is UTC
