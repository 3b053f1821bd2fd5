"""The consolidated report of a draft version (báo cáo tiếp thu, giải trình), computed from what
disclosure published alone: the draft's document and the disclosed records criticising that
version. Pure, no I/O; the same inputs give the same report, byte for byte."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import drafts
from contracts.disclosure_api import (
    DraftReport,
    PublicDraft,
    PublicRecord,
    RecordStatus,
    ReportPart,
    ReportPoint,
    ReportTotals,
)
from contracts.events import Disposition
from contracts.vocabulary import DISPOSITION, label_of

UNANSWERED = "Chưa trả lời / Not answered"
UNCITED = "Ý kiến chung, không trích dẫn điều, khoản nào / General points, citing no part"


class NoSuchVersion(LookupError):
    """The draft has no such version."""


def draft_report(draft: PublicDraft, number: int, records: Sequence[PublicRecord]) -> DraftReport:
    """The report of version ``number``, from the draft's document and the records that
    criticise that version (others are left out), in the order of the parts."""
    versions = {v.number: v for v in draft.versions}
    version = versions.get(number)
    if version is None:
        raise NoSuchVersion(number)
    following = versions.get(number + 1)
    of_version = sorted(
        (
            r
            for r in records
            if r.draft_version is not None
            and r.draft_version.draft_id == draft.draft_id
            and r.draft_version.version == number
            and r.status != RecordStatus.WITHDRAWN
        ),
        key=lambda r: (r.submitted_at, str(r.critique_id)),
    )
    taken_in = (
        {(link.critique_id, link.point_number) for link in following.links} if following else set()
    )
    next_change = {c.part_id: c.change.value for c in following.changes} if following else {}
    unchanged = (
        {(a.critique_id, a.point_number) for a in following.accepted_unchanged}
        if following
        else set()
    )
    flagged: list[ReportPoint] = []
    by_part: dict[str | None, list[ReportPoint]] = {}
    totals = {"accepted": 0, "partly_accepted": 0, "not_accepted": 0, "unanswered": 0}
    count = 0
    for record in of_version:
        late = record.status == RecordStatus.ANSWERED_LATE
        for point in record.points:
            count += 1
            totals[point.disposition or "unanswered"] += 1
            shown = ReportPoint(
                critique_id=record.critique_id,
                organisation=record.organisation.name,
                point_number=point.number,
                text=point.text,
                disposition=point.disposition,
                disposition_label=(
                    str(label_of(DISPOSITION, point.disposition))
                    if point.disposition
                    else UNANSWERED
                ),
                explanation=point.explanation,
                answered_late=late,
                taken_in=(record.critique_id, point.number) in taken_in,
            )
            if (record.critique_id, point.number) in unchanged:
                flagged.append(shown)
            cited: list[str | None] = list(point.cites) or [None]
            for part_id in cited:
                by_part.setdefault(part_id, []).append(shown)
    parts = [
        ReportPart(
            part_id=part.id,
            citation=part.citation,
            text=drafts.own_text(part),
            points=by_part[part.id],
            next_change=next_change.get(part.id),
        )
        for part in version.parts
        if part.id in by_part
    ]
    if None in by_part:
        parts.append(
            ReportPart(
                part_id=None, citation=UNCITED, text="", points=by_part[None], next_change=None
            )
        )
    sent = draft.sent_to_authority
    return DraftReport(
        draft_id=draft.draft_id,
        title=draft.title,
        draft_type_label=draft.draft_type_label,
        agency=draft.agency,
        issuing_authority=draft.issuing_authority,
        version=number,
        received_at=version.received_at,
        window=version.window,
        sent_to_authority=sent if sent is not None and sent.version == number else None,
        next_version=following.number if following else None,
        parts=parts,
        changes=list(following.changes) if following else [],
        accepted_unchanged=flagged,
        changed_unasked=list(following.changed_unasked) if following else [],
        totals=ReportTotals(
            critiques=len(of_version),
            points=count,
            accepted=totals[Disposition.ACCEPTED.value],
            partly_accepted=totals[Disposition.PARTLY_ACCEPTED.value],
            not_accepted=totals[Disposition.NOT_ACCEPTED.value],
            unanswered=totals["unanswered"],
            answered_late=sum(1 for r in of_version if r.status == RecordStatus.ANSWERED_LATE),
        ),
    )
