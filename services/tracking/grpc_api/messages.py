"""Cases and drafts as protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from contracts.agency_api import (
    CHANGES,
    DISPOSITIONS,
    DRAFT_FORMATS,
    DRAFT_TYPES,
    EXTENSION_STATUSES,
    KINDS,
    PART_KINDS,
    STATUSES,
    TEXT_CHANGES,
)
from contracts.events import DraftVersionRegistered, PartDifference, WindowFacts
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
            pb.Point(number=p.number, text=p.text, citation=p.citation or "", cites=p.cites)
            for p in case.points
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
    if case.draft_version is not None:
        message.draft_version.CopyFrom(
            pb.DraftVersionRef(
                draft_id=str(case.draft_version.draft_id), version=case.draft_version.version
            )
        )
    if case.acknowledged_at is not None:
        message.acknowledged_at.CopyFrom(timestamp(case.acknowledged_at))
    if case.answered_at is not None:
        message.answered_at.CopyFrom(timestamp(case.answered_at))
    return message


def _window(window: WindowFacts) -> pb.CriticismWindow:
    return pb.CriticismWindow(
        received_on=window.received_on.isoformat(),
        planned_on=window.planned_on.isoformat(),
        closes_on=window.closes_on.isoformat(),
        latest_receipt_on=window.latest_receipt_on.isoformat(),
        days_given=window.days_given,
        minimum_days=window.minimum_days,
        sent_late=window.sent_late,
        explanation=window.explanation,
    )


def _changes(changes: tuple[PartDifference, ...]) -> list[pb.PartDifference]:
    return [pb.PartDifference(part_id=c.part_id, change=TEXT_CHANGES[c.change]) for c in changes]


def version_message(version: DraftVersionRegistered) -> pb.DraftVersion:
    return pb.DraftVersion(
        draft_id=str(version.draft_id),
        number=version.version,
        received_at=timestamp(version.received_at),
        format=DRAFT_FORMATS[version.file_format],
        file_name=version.file_name,
        file_size=version.file_size,
        sha256=version.sha256,
        preamble=version.preamble,
        parts=[
            pb.DraftPart(
                id=p.id,
                kind=PART_KINDS[p.kind],
                number=p.number,
                title=p.title,
                text=p.text,
                parent_id=p.parent_id or "",
                citation=p.citation,
            )
            for p in version.parts
        ],
        window=_window(version.window),
        changes=_changes(version.changes),
        links=[
            pb.UptakeLink(
                case_id=str(link.case_id),
                point_number=link.point_number,
                part_ids=link.part_ids,
                critique_id=str(link.critique_id),
            )
            for link in version.links
        ],
        accepted_unchanged=[
            pb.AnsweredPoint(
                case_id=str(point.case_id),
                point_number=point.point_number,
                critique_id=str(point.critique_id),
            )
            for point in version.accepted_unchanged
        ],
        changed_unasked=version.changed_unasked,
    )


def draft_message(draft: store.Draft) -> pb.Draft:
    registered = draft.registered
    message = pb.Draft(
        draft_id=str(registered.draft_id),
        agency_id=registered.agency_id,
        type=DRAFT_TYPES[registered.draft_type],
        title=registered.title,
        issuing_authority=registered.issuing_authority,
        registered_at=timestamp(registered.registered_at),
        versions=[version_message(v) for v in draft.versions],
    )
    if (sent := draft.sent) is not None:
        message.sent_to_authority.CopyFrom(
            pb.SubmissionToAuthority(
                sent_on=sent.sent_on.isoformat(),
                recorded_at=timestamp(sent.recorded_at),
                version=sent.version,
                sha256=sent.sha256,
                changes=_changes(sent.changes),
                changed_without_new_version=sent.changed_without_new_version,
                window=_window(sent.window),
            )
        )
    return message
