"""Tracking's directory entries and the opening of a case for each submitted critique."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from opentelemetry import trace

from contracts import drafts
from contracts.events import (
    AgencyKind,
    AgencyRegistered,
    CaseOpened,
    CritiqueSubmitted,
    Level,
)
from services.platform import db, outbox, telemetry
from services.tracking import store
from services.tracking.deadlines import DeadlinePolicy, compute_due
from services.tracking.domain import (
    SchedulePolicy,
    UncitableCritique,
    UnknownAgency,
)

log = logging.getLogger(__name__)


async def register_agency(
    pool: db.Pool,
    *,
    agency_id: str,
    name: str,
    level: Level,
    kind: AgencyKind,
    parent_id: str | None = None,
) -> None:
    """Add or update a directory entry and announce it, so submission accepts critiques to it."""
    async with pool.acquire() as connection, connection.transaction():
        await store.save_agency(
            connection, agency_id=agency_id, name=name, level=level, kind=kind, parent_id=parent_id
        )
        await outbox.record(
            connection,
            AgencyRegistered(
                agency_id=agency_id, name=name, level=level, kind=kind, parent_id=parent_id
            ),
        )


async def _check_citations(connection: db.Connection, submitted: CritiqueSubmitted) -> None:
    """Submission checked the citations against the version as it heard of it; tracking, which
    registered the version, checks them again against its own: :class:`UncitableCritique` if
    the version is not the addressed agency's, or lacks a part a point cites."""
    ref = submitted.draft_version
    assert ref is not None
    try:
        version = await store.draft_version(connection, ref.draft_id, ref.version)
    except store.NotFound:
        raise UncitableCritique(f"no version {ref.version} of draft {ref.draft_id}") from None
    if version.agency_id != submitted.agency_id:
        raise UncitableCritique(
            f"draft {ref.draft_id} is led by {version.agency_id}, not {submitted.agency_id}"
        )
    for point in submitted.points:
        try:
            drafts.cite(version.parts, point.cites)
        except drafts.UnknownParts as unknown:
            raise UncitableCritique(f"point {point.number}: {unknown}") from None


async def open_case(
    connection: db.Connection,
    submitted: CritiqueSubmitted,
    *,
    policy: DeadlinePolicy,
    steps: SchedulePolicy,
    now: datetime,
) -> uuid.UUID | None:
    """Open the case for a submitted critique, with its due date, deadline steps and
    ``case.opened``; None if it is open already. The journey's trace context is kept so that
    the agency's steps join it. :class:`UnknownAgency` if tracking's directory has no such
    agency: submission only lets an organisation address one it has heard of from tracking;
    :class:`UncitableCritique` if its citations do not hold against tracking's own version."""
    if not await store.agency_known(connection, submitted.agency_id):
        raise UnknownAgency(submitted.agency_id)
    if submitted.draft_version is not None:
        await _check_citations(connection, submitted)
    rule, source = policy.rule_for(submitted.kind, submitted.organisation.level)
    due = compute_due(submitted.submitted_at, rule, source=source)
    case_id = uuid.uuid4()
    opened = await store.insert_case(
        connection,
        submitted,
        case_id=case_id,
        opened_at=now,
        due_date=due.due_date,
        due_rule=due.rule_record,
        journey=telemetry.inject_current(),
        detail=due.explanation,
    )
    if not opened:
        return None  # the same critique heard again through another event id
    await store.plan_steps(connection, case_id, due.due_date, steps.steps(due.due_date, after=now))
    span = trace.get_current_span()
    span.set_attribute(telemetry.ATTR_CASE_ID, str(case_id))
    span.set_attribute(telemetry.ATTR_AGENCY_ID, submitted.agency_id)
    span.set_attribute(telemetry.ATTR_ORGANISATION_ID, submitted.organisation.id)
    await outbox.record(
        connection,
        CaseOpened(
            critique_id=submitted.critique_id,
            case_id=case_id,
            agency_id=submitted.agency_id,
            opened_at=now,
            due_date=due.due_date,
            due_rule=due.rule_record,
        ),
        occurred_at=now,
    )
    log.info(
        "case opened",
        extra={
            "case_id": str(case_id),
            "critique_id": str(submitted.critique_id),
            "agency_id": submitted.agency_id,
            "due_date": due.due_date.isoformat(),
        },
    )
    return case_id
