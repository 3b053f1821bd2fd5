"""Cases as protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from contracts.agency_api import CHANGES, DISPOSITIONS, EXTENSION_STATUSES, KINDS, STATUSES
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from services.tracking import store


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def case_message(case: store.Case) -> pb.Case:
    rule = case.due_rule
    message = pb.Case(
        case_id=str(case.id),
        critique_id=str(case.critique_id),
        agency_id=case.agency_id,
        organisation_id=case.organisation_id,
        organisation_name=case.organisation_name,
        kind=KINDS[case.kind],
        title=case.title,
        points=[
            pb.Point(number=p.number, text=p.text, citation=p.citation or "") for p in case.points
        ],
        due_date=case.due_date.isoformat(),
        due_rule=pb.DueDateRule(
            days=rule.days,
            counting=rule.counting,
            start=rule.start.isoformat(),
            explanation=rule.explanation,
            source=rule.source,
            skipped=[pb.SkippedDay(day=d.day.isoformat(), reason=d.reason) for d in rule.skipped],
        ),
        status=STATUSES[case.status],
        answers=[
            pb.PointAnswer(
                point_number=a.point_number,
                disposition=DISPOSITIONS[a.disposition],
                explanation=a.explanation,
            )
            for a in case.answers
        ],
        answered_late=case.answered_late,
        version=case.version,
        overdue=case.overdue_at is not None and case.answered_at is None,
        history=[
            pb.HistoryEntry(at=timestamp(h.at), change=CHANGES[h.change], detail=h.detail)
            for h in case.history
        ],
        extensions=[
            pb.Extension(
                extension_id=str(e.id),
                reason=e.reason,
                requested_due_date=e.requested_due_date.isoformat(),
                requested_at=timestamp(e.requested_at),
                status=EXTENSION_STATUSES[e.status],
                decision_note=e.decision_note,
            )
            for e in case.extensions
        ],
    )
    message.opened_at.CopyFrom(timestamp(case.opened_at))
    if case.acknowledged_at is not None:
        message.acknowledged_at.CopyFrom(timestamp(case.acknowledged_at))
    if case.answered_at is not None:
        message.answered_at.CopyFrom(timestamp(case.answered_at))
    return message
