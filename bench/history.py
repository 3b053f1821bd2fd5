"""A history for the benchmark to run on (``--history N``): ``N`` critiques submitted, answered
or fallen overdue, and published long ago, written straight into the three services' databases
with ``COPY`` (not through the services), as the services would have left them.

They are between provincial Front committees and People's Committees of their own
(``mttq-tinh-NN`` to ``ubnd-tinh-NN``), never the load's organisations and agencies, and every
one is done with: no deadline step still to fire, nothing pending in an outbox, nothing left to
publish; so the load's critiques go through as on an empty system, only among more rows. Nine
in ten were answered on time, five days before their due date (the reminder 7 days before had
fired, the later ones were cancelled); one in ten fell overdue, was escalated and was published
for being overdue. Each is in its transparency log as one leaf.

An outbox and an inbox hold only what their retention keeps (a day and 30 days by default,
``SUPERVISION_OUTBOX_RETENTION_SECONDS``, ``SUPERVISION_INBOX_RETENTION_SECONDS``), so theirs
are dated within it: submission's outbox holds each critique's ``critique.submitted`` as sent
over the last :data:`OUTBOX_SPAN`, and each inbox one event id per critique as applied over the
last :data:`INBOX_SPAN`. Dated any older, the services' pruning would delete them during the
run, and note the offsets pruned, which on the run's fresh Kafka would drop the load's events.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import asyncpg

from contracts.disclosure_api import PublicationReason, RecordStatus, TimelineStep
from contracts.events import (
    AgencyKind,
    CaseAnswered,
    CaseOpened,
    CaseOverdue,
    CritiqueKind,
    CritiqueSubmitted,
    Disposition,
    Level,
    OrganisationRef,
    Point,
    Topic,
)
from contracts.lifecycle import CaseStatus, Change
from contracts.submission_api import CritiqueStatus, HistoryStep, OrganisationKind
from contracts.vocabulary import RECORD_STATUS, TIMELINE_STEP, VIETNAM
from services.disclosure import transparency
from services.disclosure.domain import fold
from services.platform import cloudevents, db
from services.tracking.deadlines import DeadlinePolicy, compute_due
from services.tracking.domain import ScheduledStep, SchedulePolicy, Step, step_detail

PROVINCES: Final = 34
SPAN: Final = timedelta(days=730)
"""The critiques were submitted over two years …"""
NEWEST: Final = timedelta(days=90)
"""… ending this long ago: every due date has passed."""
OUTBOX_SPAN: Final = timedelta(hours=20)
INBOX_SPAN: Final = timedelta(days=20)
PARTITIONS: Final = 3
"""Of each topic (``SUPERVISION_KAFKA_TOPIC_PARTITIONS``' default)."""
CHUNK: Final = 20_000
"""Critiques per round of ``COPY``."""

TOPICS: Final = (
    (
        "quy hoạch khu dân cư",
        "Đề nghị công khai phương án bồi thường, hỗ trợ và tái định cư.",
        "Lấy ý kiến các hộ dân bị ảnh hưởng trước khi phê duyệt.",
    ),
    (
        "an toàn thực phẩm tại chợ",
        "Tăng cường kiểm tra nguồn gốc hàng hóa tại các chợ đầu mối.",
        "Công bố định kỳ kết quả kiểm tra cho người dân biết.",
    ),
    (
        "thủ tục hành chính về đất đai",
        "Rút ngắn thời gian giải quyết hồ sơ cấp giấy chứng nhận.",
        "Niêm yết công khai phí, lệ phí tại nơi tiếp nhận hồ sơ.",
    ),
    (
        "môi trường khu công nghiệp",
        "Quan trắc nước thải liên tục và công khai số liệu.",
        "Xử lý dứt điểm các cơ sở xả thải vượt quy chuẩn.",
    ),
)
ANSWERS: Final = (
    (Disposition.ACCEPTED, "Tiếp thu, sẽ thực hiện trong quý tới."),
    (Disposition.PARTLY_ACCEPTED, "Tiếp thu một phần; phần còn lại đã có quy định hiện hành."),
)
KINDS: Final = tuple(CritiqueKind)
DEADLINES: Final = DeadlinePolicy()
SCHEDULE: Final = SchedulePolicy()
FIRED_CHANGE: Final = {
    Step.REMINDER: (Change.REMINDER, HistoryStep.REMINDER_SENT),
    Step.OVERDUE: (Change.OVERDUE, HistoryStep.OVERDUE),
    Step.ESCALATION: (Change.ESCALATED, HistoryStep.ESCALATED),
}
"""A fired step as tracking's history and submission's name it."""


@functools.cache
def organisation(province: int) -> OrganisationRef:
    return OrganisationRef(
        id=f"mttq-tinh-{province:02d}",
        name=f"Ủy ban MTTQ Việt Nam tỉnh {province:02d}",
        level=Level.PROVINCIAL,
    )


@functools.cache
def agency(province: int) -> tuple[str, str]:
    """The id and name of the People's Committee a province's Front committee addresses."""
    return f"ubnd-tinh-{province:02d}", f"Ủy ban nhân dân tỉnh {province:02d}"


@dataclass(frozen=True)
class Due:
    date: date
    rule: str
    """The rule's JSON, as tracking stores it."""
    explanation: str
    steps: tuple[ScheduledStep, ...]
    """The deadline steps tracking planned: reminders, overdue, escalation."""

    @functools.cached_property
    def rule_document(self) -> Any:
        return json.loads(self.rule)


@functools.cache
def _due(day: date, kind: CritiqueKind) -> Due:
    """Tracking's due date for a provincial critique received on ``day``, and its steps."""
    rule, source = DEADLINES.rule_for(kind, Level.PROVINCIAL)
    due = compute_due(datetime.combine(day, time(12), VIETNAM), rule, source=source)
    steps = SCHEDULE.steps(due.due_date, after=datetime.combine(day, time(0), VIETNAM))
    return Due(due.due_date, due.rule_record.model_dump_json(), due.explanation, tuple(steps))


@dataclass(frozen=True)
class Past:
    """One critique of the history, as the three services remember it."""

    number: int
    age: float
    """How far back in the history, from 0 (the newest) to 1 (the oldest)."""
    critique_id: uuid.UUID
    case_id: uuid.UUID
    events: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
    """Its critique.submitted, case.opened, and case.answered or case.overdue."""
    kind: CritiqueKind
    submitted_at: datetime
    due: Due
    fired: tuple[ScheduledStep, ...]
    """The steps that fired (those after the answer were cancelled, so deleted)."""
    answered_at: datetime | None
    """None: it fell overdue and was never answered."""
    overdue_at: datetime | None
    escalated_at: datetime | None

    @property
    def province(self) -> int:
        return self.number % PROVINCES + 1

    @property
    def title(self) -> str:
        return f"Kiến nghị số {self.number + 1} về {TOPICS[self.number % len(TOPICS)][0]}"

    @property
    def points(self) -> tuple[str, ...]:
        return TOPICS[self.number % len(TOPICS)][1:]

    @property
    def opened_at(self) -> datetime:
        return self.submitted_at + timedelta(seconds=1)

    @property
    def published_at(self) -> datetime:
        """Once answered or, unanswered, once overdue (the disclosure policy)."""
        published = self.answered_at or self.overdue_at
        assert published is not None
        return published

    @functools.cached_property
    def document(self) -> bytes:
        """Its public document: what disclosure stores and appends to the log."""
        return public_document(self)

    def timeline(self) -> list[tuple[uuid.UUID, datetime, TimelineStep]]:
        """Disclosure's public timeline: an entry for each event it heard."""
        outcome = TimelineStep.ANSWERED if self.answered_at else TimelineStep.OVERDUE
        return [
            (self.events[0], self.submitted_at, TimelineStep.SUBMITTED),
            (self.events[1], self.opened_at, TimelineStep.CASE_OPENED),
            (self.events[2], self.published_at, outcome),
        ]


def history(count: int, *, now: datetime, seed: int = 0) -> Iterator[Past]:
    """The ``count`` critiques, oldest first; the same ones for the same arguments."""
    ids = random.Random(seed)  # noqa: S311 -- ids that are unique, not secret

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=ids.getrandbits(128), version=4)

    newest = (now - NEWEST).astimezone(UTC).replace(microsecond=0)
    for number in range(count):
        age = (count - number) / count
        submitted_at = newest - timedelta(seconds=int(SPAN.total_seconds() * age))
        kind = KINDS[number % len(KINDS)]
        due = _due(submitted_at.astimezone(VIETNAM).date(), kind)
        answered_at = (
            None
            if number % 10 == 9
            else datetime.combine(due.date - timedelta(days=5), time(10), VIETNAM).astimezone(UTC)
        )
        fired = tuple(s for s in due.steps if answered_at is None or s.fire_at < answered_at)
        moments = {s.step: s.fire_at.astimezone(UTC) for s in fired}
        yield Past(
            number=number,
            age=age,
            critique_id=new_id(),
            case_id=new_id(),
            events=(new_id(), new_id(), new_id()),
            kind=kind,
            submitted_at=submitted_at,
            due=due,
            fired=fired,
            answered_at=answered_at,
            overdue_at=moments.get(Step.OVERDUE),
            escalated_at=moments.get(Step.ESCALATION),
        )


Rows = dict[str, list[tuple[Any, ...]]]


def _inbox(consumer: str, past: Past, event: int, topic: Topic, now: datetime) -> tuple[Any, ...]:
    """One of ``past``'s events in ``consumer``'s inbox, applied within the inbox's retention."""
    event_type = (
        CritiqueSubmitted,
        CaseOpened,
        CaseAnswered if past.answered_at else CaseOverdue,
    )[event].ce_type
    partition, offset = past.number % PARTITIONS, past.number // PARTITIONS
    applied_at = now - INBOX_SPAN * past.age
    return (consumer, past.events[event], event_type, topic.value, partition, offset, applied_at)


INBOX: Final = (
    "consumer",
    "event_id",
    "event_type",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "applied_at",
)

# -- submission ------------------------------------------------------------------------------------

SUBMISSION: Final = {
    "critiques": (
        "id",
        "organisation_id",
        "agency_id",
        "kind",
        "title",
        "status",
        "submitted_at",
        "updated_at",
        "case_id",
        "due_date",
        "answered_at",
        "answered_late",
        "answered_version",
        "overdue_at",
    ),
    "critique_points": ("critique_id", "number", "text"),
    "critique_answers": ("critique_id", "point_number", "disposition", "explanation"),
    "critique_history": ("critique_id", "at", "step", "version", "detail"),
    "outbox": (
        "event_id",
        "topic",
        "key",
        "event_type",
        "source",
        "occurred_at",
        "payload",
        "created_at",
        "published_at",
    ),
    "inbox": INBOX,
}


def submission_rows(chunk: Sequence[Past], now: datetime) -> Rows:
    rows: Rows = {table: [] for table in SUBMISSION}
    for past in chunk:
        answered = past.answered_at is not None
        who = organisation(past.province)
        agency_id, _ = agency(past.province)
        rows["critiques"].append(
            (
                past.critique_id,
                who.id,
                agency_id,
                past.kind.value,
                past.title,
                (CritiqueStatus.ANSWERED if answered else CritiqueStatus.AWAITING_REPLY).value,
                past.submitted_at,
                past.submitted_at,
                past.case_id,
                past.due.date,
                past.answered_at,
                False if answered else None,
                1 if answered else None,
                past.overdue_at,
            )
        )
        for number, text in enumerate(past.points, start=1):
            rows["critique_points"].append((past.critique_id, number, text))
            if answered:
                disposition, explanation = ANSWERS[number - 1]
                rows["critique_answers"].append(
                    (past.critique_id, number, disposition.value, explanation)
                )
        due_date = past.due.date.isoformat()
        steps = [
            (past.submitted_at, HistoryStep.SUBMITTED, _detail()),
            (
                past.opened_at,
                HistoryStep.CASE_OPENED,
                _detail(due_date=due_date, due_rule=past.due.explanation),
            ),
        ]
        for fired in past.fired:
            if fired.step is Step.REMINDER:
                detail = _detail(days_left=fired.days_before)
            elif fired.step is Step.OVERDUE:
                detail = _detail(due_date=due_date)
            else:
                detail = _detail(escalated_to=None)
            steps.append((fired.fire_at, FIRED_CHANGE[fired.step][1], detail))
        if past.answered_at:
            steps.append((past.answered_at, HistoryStep.ANSWERED, _detail(late=False, version=1)))
        for at, step, detail in steps:
            rows["critique_history"].append((past.critique_id, at, step.value, 1, detail))
        # Built as submission built it, not validated again (it was, when it was submitted).
        submitted = CritiqueSubmitted.model_construct(
            critique_id=past.critique_id,
            organisation=who,
            agency_id=agency_id,
            kind=past.kind,
            title=past.title,
            points=_points(past.points),
            submitted_at=past.submitted_at,
        )
        sent_at = now - OUTBOX_SPAN * past.age
        rows["outbox"].append(
            (
                past.events[0],
                Topic.CRITIQUES.value,
                submitted.key,
                submitted.ce_type,
                cloudevents.source(Topic.CRITIQUES.owner),
                sent_at,
                submitted.model_dump_json().encode(),
                sent_at,
                sent_at,
            )
        )
        rows["inbox"].append(_inbox("submission", past, 1, Topic.CASES, now))
    return rows


@functools.cache
def _detail(**fields: Any) -> str:
    """A history entry's detail as submission stores it: JSON (the same ones written once)."""
    return json.dumps(fields, ensure_ascii=False)


@functools.cache
def _points(texts: tuple[str, ...]) -> tuple[Point, ...]:
    return tuple(Point(number=n, text=text) for n, text in enumerate(texts, start=1))


async def submission_directory(connection: db.Connection) -> None:
    await connection.copy_records_to_table(
        "organisations",
        columns=["id", "name", "level", "kind"],
        records=[
            (who.id, who.name, who.level.value, OrganisationKind.FRONT_COMMITTEE.value)
            for who in map(organisation, range(1, PROVINCES + 1))
        ],
    )
    await _agencies(connection, "known_agencies")


async def _agencies(connection: db.Connection, table: str) -> None:
    await connection.copy_records_to_table(
        table,
        columns=["id", "name", "level", "kind"],
        records=[
            (*agency(province), Level.PROVINCIAL.value, AgencyKind.PEOPLES_COMMITTEE.value)
            for province in range(1, PROVINCES + 1)
        ],
    )


# -- tracking --------------------------------------------------------------------------------------

TRACKING: Final = {
    "cases": (
        "id",
        "critique_id",
        "agency_id",
        "organisation_id",
        "organisation_name",
        "organisation_level",
        "kind",
        "title",
        "opened_at",
        "due_date",
        "due_rule",
        "status",
        "answer_request_id",
        "answered_at",
        "answered_late",
        "answered_version",
        "overdue_at",
        "escalated_at",
    ),
    "case_points": ("case_id", "number", "text", "disposition", "explanation"),
    "case_history": ("case_id", "agency_id", "at", "change", "detail"),
    "deadline_steps": ("case_id", "step", "due_date", "fire_at", "fired_at"),
    "inbox": INBOX,
}


def tracking_rows(chunk: Sequence[Past], now: datetime) -> Rows:
    rows: Rows = {table: [] for table in TRACKING}
    for past in chunk:
        answered = past.answered_at is not None
        who = organisation(past.province)
        agency_id, _ = agency(past.province)
        rows["cases"].append(
            (
                past.case_id,
                past.critique_id,
                agency_id,
                who.id,
                who.name,
                who.level.value,
                past.kind.value,
                past.title,
                past.opened_at,
                past.due.date,
                past.due.rule,
                (CaseStatus.ANSWERED if answered else CaseStatus.AWAITING_ANSWER).value,
                f"tra-loi-{past.number + 1}" if answered else None,
                past.answered_at,
                False if answered else None,
                1 if answered else None,
                past.overdue_at,
                past.escalated_at,
            )
        )
        for number, text in enumerate(past.points, start=1):
            disposition, explanation = ANSWERS[number - 1]
            rows["case_points"].append(
                (past.case_id, number, text)
                + ((disposition.value, explanation) if answered else (None, None))
            )
        history = [(past.opened_at, Change.OPENED, past.due.explanation)]
        for fired in past.fired:
            detail = step_detail(
                fired.step, days_before=fired.days_before, due_date=past.due.date, escalated_to=None
            )
            history.append((fired.fire_at, FIRED_CHANGE[fired.step][0], detail))
            rows["deadline_steps"].append(
                (past.case_id, fired.key, past.due.date, fired.fire_at, fired.fire_at)
            )
        if past.answered_at:
            history.append((past.answered_at, Change.ANSWERED, "on time"))
        for at, change, detail in history:
            rows["case_history"].append((past.case_id, agency_id, at, change.value, detail))
        rows["inbox"].append(_inbox("tracking", past, 0, Topic.CRITIQUES, now))
    return rows


# -- disclosure ------------------------------------------------------------------------------------

DISCLOSURE: Final = {
    "records": (
        "critique_id",
        "organisation_id",
        "organisation_name",
        "organisation_level",
        "agency_id",
        "kind",
        "title",
        "submitted_at",
        "case_id",
        "due_date",
        "due_rule",
        "answered_at",
        "answered_late",
        "answered_version",
        "overdue_at",
        "published_at",
        "updated_at",
        "version",
        "publication_reason",
        "public_status",
        "public_document",
        "change_seq",
        "search_text",
    ),
    "record_points": ("critique_id", "number", "text"),
    "record_answers": ("critique_id", "point_number", "disposition", "explanation"),
    "record_timeline": ("event_id", "critique_id", "at", "step"),
    "inbox": INBOX,
}


def _json_time(moment: datetime) -> str:
    """As the public document writes a moment (pydantic's JSON, UTC, whole seconds here)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_document(past: Past) -> bytes:
    """The record's public document, exactly the bytes disclosure publishes and logs
    (``domain.canonical`` of what ``domain.public_document`` builds; a test holds it to that)."""
    answered = past.answered_at is not None
    status = RecordStatus.ANSWERED if answered else RecordStatus.OVERDUE
    who = organisation(past.province)
    agency_id, agency_name = agency(past.province)
    document = {
        "critique_id": str(past.critique_id),
        "organisation": {"id": who.id, "name": who.name, "level": who.level.value},
        "agency": {"id": agency_id, "name": agency_name, "level": Level.PROVINCIAL.value},
        "kind": past.kind.value,
        "title": past.title,
        "status": status.value,
        "status_label": str(RECORD_STATUS[status]),
        "submitted_at": _json_time(past.submitted_at),
        "due_date": past.due.date.isoformat(),
        "due_rule": past.due.rule_document,
        "answered_at": _json_time(past.answered_at) if past.answered_at else None,
        "overdue_at": _json_time(past.overdue_at) if past.overdue_at else None,
        "published_at": _json_time(past.published_at),
        "publication_reason": (
            PublicationReason.ANSWERED if answered else PublicationReason.OVERDUE
        ).value,
        "points": [
            {
                "number": number,
                "text": text,
                "citation": None,
                "disposition": ANSWERS[number - 1][0].value if answered else None,
                "explanation": ANSWERS[number - 1][1] if answered else None,
                "cites": [],
                "cited": [],
            }
            for number, text in enumerate(past.points, start=1)
        ],
        "draft": None,
        "draft_version": None,
        "version": 1,
        "answered_version": 1 if answered else None,
        "timeline": [
            {"at": _json_time(at), "step": step.value, "label": str(TIMELINE_STEP[step])}
            for _, at, step in past.timeline()
        ],
        "redactions": [],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@functools.cache
def _search_text(topic: int, answered: bool) -> str:
    """What search matches, folded as disclosure folds it, with ``{}`` for the critique's
    number (the only part of its texts that is not its topic's)."""
    title, *points = TOPICS[topic]
    explanations = [text for _, text in ANSWERS] if answered else []
    return fold(" ".join([f"Kiến nghị số {{}} về {title}", *points, *explanations]))


def disclosure_rows(chunk: Sequence[Past], first_change: int, now: datetime) -> Rows:
    rows: Rows = {table: [] for table in DISCLOSURE}
    for past in chunk:
        answered = past.answered_at is not None
        who = organisation(past.province)
        agency_id, _ = agency(past.province)
        rows["records"].append(
            (
                past.critique_id,
                who.id,
                who.name,
                who.level.value,
                agency_id,
                past.kind.value,
                past.title,
                past.submitted_at,
                past.case_id,
                past.due.date,
                past.due.rule,
                past.answered_at,
                False if answered else None,
                1 if answered else None,
                past.overdue_at,
                past.published_at,
                past.published_at,
                1,
                (PublicationReason.ANSWERED if answered else PublicationReason.OVERDUE).value,
                (RecordStatus.ANSWERED if answered else RecordStatus.OVERDUE).value,
                past.document.decode(),
                first_change + past.number,
                _search_text(past.number % len(TOPICS), answered).format(past.number + 1),
            )
        )
        for number, text in enumerate(past.points, start=1):
            rows["record_points"].append((past.critique_id, number, text))
            if answered:
                disposition, explanation = ANSWERS[number - 1]
                rows["record_answers"].append(
                    (past.critique_id, number, disposition.value, explanation)
                )
        for event_id, at, step in past.timeline():
            rows["record_timeline"].append((event_id, past.critique_id, at, step.value))
        rows["inbox"].append(_inbox("disclosure", past, 0, Topic.CRITIQUES, now))
    return rows


# -- loading ---------------------------------------------------------------------------------------


async def _copy(connection: db.Connection, tables: Mapping[str, Sequence[str]], rows: Rows) -> None:
    for table, columns in tables.items():
        await connection.copy_records_to_table(table, columns=list(columns), records=rows[table])


Load = Callable[[list[Past]], Awaitable[object]]


async def _fan_out(pasts: Iterator[Past], chunk: int, loads: Sequence[Load]) -> None:
    """Hand each batch of ``chunk`` critiques to every one of ``loads``, each taking them at
    its own pace (at most two batches behind): each database writes while Python builds the
    others' rows. The first to fail stops them all."""
    queues = [asyncio.Queue[list[Past] | None](maxsize=2) for _ in loads]

    async def produce() -> None:
        while batch := list(itertools.islice(pasts, chunk)):
            for queue in queues:
                await queue.put(batch)
        for queue in queues:
            await queue.put(None)

    async def consume(load: Load, queue: asyncio.Queue[list[Past] | None]) -> None:
        while (batch := await queue.get()) is not None:
            await load(batch)

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(produce())
        for load, queue in zip(loads, queues, strict=True):
            tasks.create_task(consume(load, queue))


async def preload(
    database_urls: Mapping[str, str],
    count: int,
    *,
    now: datetime | None = None,
    chunk: int = CHUNK,
) -> None:
    """Write the history of ``count`` critiques into the three databases (migrated, and
    without a history of their own), one transaction each, ``chunk`` critiques per ``COPY``;
    then vacuum and analyse them, so that neither the planner's statistics nor autovacuum is
    left behind the rows, and take a checkpoint: the run that follows pays for none of it."""
    if count < 1:
        return
    now = now or datetime.now(UTC)
    # The log has a connection of its own: its leaves are written beside the records.
    submission, tracking, disclosure, log = [
        await asyncpg.connect(database_urls[name])
        for name in ("submission", "tracking", "disclosure", "disclosure")
    ]
    try:
        async with (
            submission.transaction(),
            tracking.transaction(),
            disclosure.transaction(),
            log.transaction(),
        ):
            await submission_directory(submission)
            await _agencies(tracking, "agencies")
            await _agencies(disclosure, "agencies")
            # Change numbers drawn from disclosure's sequence: later publications follow them.
            last_change: int = await disclosure.fetchval(
                "SELECT setval('record_changes', nextval('record_changes') + $1 - 1)", count
            )
            first_change = last_change - count + 1

            async def leaves(batch: list[Past]) -> int:
                documents = [(past.critique_id, past.document) for past in batch]
                return await transparency.preload(
                    log, documents, at=batch[-1].published_at, chunk=len(batch)
                )

            await _fan_out(
                history(count, now=now),
                chunk,
                [
                    lambda batch: _copy(submission, SUBMISSION, submission_rows(batch, now)),
                    lambda batch: _copy(tracking, TRACKING, tracking_rows(batch, now)),
                    lambda batch: _copy(
                        disclosure, DISCLOSURE, disclosure_rows(batch, first_change, now)
                    ),
                    leaves,
                ],
            )
        for connection in (submission, tracking, disclosure):
            await connection.execute("VACUUM (ANALYZE)")
        await disclosure.execute("CHECKPOINT")
    finally:
        for connection in (submission, tracking, disclosure, log):
            await connection.close()
