"""What the public sees of a critique: status, the disclosure policy, redaction of personal data,
the public document built from the raw read model and its canonical bytes, and the folding that
lets "quy hoach" find "quy hoạch"; and the public document of a draft. Pure rules, no I/O."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from contracts import drafts
from contracts.disclosure_api import (
    AgencyView,
    DraftVersionView,
    OrganisationView,
    PointView,
    PublicationReason,
    PublicDraft,
    PublicRecord,
    RecordStatus,
    RedactionKind,
    RedactionView,
    SentToAuthorityView,
    TimelineStep,
    TimelineView,
)
from contracts.drafts import CitedPart
from contracts.events import (
    DraftPart,
    DraftReference,
    DraftSentToAuthority,
    DraftType,
    DraftVersionRef,
    DraftVersionRegistered,
    DueDateRule,
)
from contracts.text import nfc
from contracts.vocabulary import (
    DRAFT_TYPE,
    RECORD_STATUS,
    REDACTION_PLACEHOLDER,
    REDACTION_REASON,
    TIMELINE_STEP,
)

WITHDRAWN_TITLE = str(RECORD_STATUS[RecordStatus.WITHDRAWN])


def status(
    *,
    answered_at: datetime | None,
    late: bool | None,
    overdue_at: datetime | None,
    withdrawn_at: datetime | None,
) -> RecordStatus:
    if withdrawn_at is not None:
        return RecordStatus.WITHDRAWN
    if answered_at is not None:
        return RecordStatus.ANSWERED_LATE if late else RecordStatus.ANSWERED
    if overdue_at is not None:
        return RecordStatus.OVERDUE
    return RecordStatus.AWAITING


def shown_answer(
    *, answered_at: datetime | None, answered_version: int | None, version: int
) -> datetime | None:
    """When the record was answered, as the public may be told: only once the content of the
    version answered is the one held, for an answer is never shown beside text the agency did
    not answer (the versions come on two topics, whose relative order a consumer does not get).
    An answer recorded before answers named their version names none."""
    if answered_at is None or answered_version not in (None, version):
        return None
    return answered_at


class DisclosurePolicy(BaseModel):
    """When a record becomes public (DOMAIN.md: when answered, and when it falls overdue — "no
    answer by the due date" is itself public information). A withdrawn critique's content is
    never published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    publish_when_answered: bool = True
    publish_when_overdue: bool = True

    def publication(
        self,
        *,
        has_content: bool,
        answered_at: datetime | None,
        overdue_at: datetime | None,
        withdrawn_at: datetime | None,
    ) -> tuple[datetime, PublicationReason] | None:
        """When the record became public and why ('answered', 'overdue'), or None.

        Decided by the moments the events record, never by the order they are heard in: a
        critique's events come on two topics (submission's and tracking's), whose relative order
        a consumer reading them again from the beginning does not reproduce. The record became
        public at the earliest moment the policy allows, unless the critique had been withdrawn
        by then: one withdrawn after falling overdue was public (its content is hidden since),
        whether the rebuild hears of the withdrawal first or not."""
        if not has_content:
            return None
        moments = [
            (at, reason)
            for at, reason, allowed in (
                (answered_at, PublicationReason.ANSWERED, self.publish_when_answered),
                (overdue_at, PublicationReason.OVERDUE, self.publish_when_overdue),
            )
            if at is not None and allowed
        ]
        if not moments:
            return None
        at, reason = min(moments)
        if withdrawn_at is not None and withdrawn_at <= at:
            return None
        return at, reason


# A CCCD (citizen identity card) number has exactly 12 digits.
_CITIZEN_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
# Vietnamese phone numbers: 0 or +84 then 9 or 10 digits, maybe grouped by spaces, dots, dashes.
_PHONE = re.compile(r"(?<![\d+])(?:\+84|0)(?:[ .-]?\d){9,10}(?!\d)")
# Starting only where a local part can start keeps the search linear on long runs of letters.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


@dataclass(frozen=True)
class Redaction:
    """One redaction, for the public log: what kind, where, why — never the content."""

    kind: RedactionKind
    field: str
    count: int
    reason: str = str(REDACTION_REASON)


@dataclass
class Redactor:
    """Redacts personal data from the texts of one record, noting each redaction."""

    names: tuple[str, ...] = ()
    log: list[Redaction] = field(default_factory=list)

    def __call__(self, text: str | None, where: str) -> str | None:
        if text is None:
            return None
        for kind, pattern in self._patterns():
            text, count = pattern.subn(REDACTION_PLACEHOLDER[kind], text)
            if count:
                self.log.append(Redaction(kind=kind, field=where, count=count))
        return text

    def _patterns(self) -> Iterable[tuple[RedactionKind, re.Pattern[str]]]:
        # Citizen ids first: a 12-digit number is not to be read as a phone number.
        yield RedactionKind.CITIZEN_ID, _CITIZEN_ID
        yield RedactionKind.EMAIL, _EMAIL
        yield RedactionKind.PHONE, _PHONE
        names = sorted({n.strip() for n in self.names if n.strip()}, key=len, reverse=True)
        if names:
            alternatives = "|".join(re.escape(nfc(n)) for n in names)
            yield RedactionKind.NAME, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def fold(text: str) -> str:
    """Lower case without diacritics, so that "quy hoach" matches "quy hoạch" (đ becomes d)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class Columns(Protocol):
    """A row of the raw read model (a record, one of its points with its answer, a step of its
    timeline, its agency), read by column name: a database row, or a plain dict in tests."""

    def __getitem__(self, column: str, /) -> Any: ...


def public_document(
    row: Columns,
    *,
    points: Sequence[Columns],
    timeline: Sequence[Columns],
    agency: Columns | None,
    published_at: datetime,
    reason: str,
    parts: Sequence[DraftPart] | None = None,
) -> tuple[PublicRecord, str]:
    """The public document of a record, redacted, and the text search matches. ``parts``: of
    the draft version it criticises, once heard of, for the text each point cites.

    Built from the raw read model alone, again after each event: the document then depends on
    what the events say, not on the order they were heard in."""
    critique_id = row["critique_id"]
    answered_at = shown_answer(
        answered_at=row["answered_at"],
        answered_version=row["answered_version"],
        version=row["version"],
    )
    record_status = status(
        answered_at=answered_at,
        late=row["answered_late"],
        overdue_at=row["overdue_at"],
        withdrawn_at=row["withdrawn_at"],
    )
    redact = Redactor(names=tuple(row["redact_names"]))
    withdrawn = record_status is RecordStatus.WITHDRAWN
    title = WITHDRAWN_TITLE if withdrawn else redact(row["title"], "title") or ""
    public_points = (
        []
        if withdrawn  # never the content of a withdrawn critique
        else [
            PointView(
                number=p["number"],
                text=redact(p["text"], f"points[{i}].text") or "",
                citation=redact(p["citation"], f"points[{i}].citation"),
                disposition=p["disposition"] if answered_at else None,
                explanation=(
                    redact(p["explanation"], f"points[{i}].explanation") if answered_at else None
                ),
                cites=_cites(p),
                cited=_cited(parts, _cites(p)),
            )
            for i, p in enumerate(points)
        ]
    )
    record = PublicRecord(
        critique_id=critique_id,
        organisation=OrganisationView(
            id=row["organisation_id"],
            name=row["organisation_name"],
            level=row["organisation_level"],
        ),
        agency=AgencyView(
            id=row["agency_id"],
            name=agency["name"] if agency else None,
            level=agency["level"] if agency else None,
        ),
        kind=row["kind"],
        title=title,
        status=record_status.value,
        status_label=str(RECORD_STATUS[record_status]),
        submitted_at=row["submitted_at"],
        due_date=row["due_date"],
        due_rule=DueDateRule.model_validate_json(row["due_rule"]) if row["due_rule"] else None,
        answered_at=answered_at,
        overdue_at=row["overdue_at"],
        published_at=published_at,
        publication_reason=reason,
        points=public_points,
        draft=(
            DraftReference.model_validate_json(row["draft"])
            if row["draft"] and not withdrawn
            else None
        ),
        draft_version=(
            DraftVersionRef.model_validate_json(row["draft_version"])
            if row["draft_version"] and not withdrawn
            else None
        ),
        version=row["version"],
        answered_version=(row["answered_version"] or row["version"]) if answered_at else None,
        timeline=[
            TimelineView(
                at=t["at"], step=t["step"], label=str(TIMELINE_STEP[TimelineStep(t["step"])])
            )
            for t in timeline
        ],
        redactions=[
            RedactionView(field=r.field, kind=r.kind.value, count=r.count, reason=r.reason)
            for r in redact.log
        ],
    )
    searchable = " ".join(
        [title, *(p.text for p in public_points), *(p.citation or "" for p in public_points)]
        + [p.explanation or "" for p in public_points]
    )
    return record, fold(searchable)


def _cites(point: Columns) -> list[str]:
    cites = point["cites"]
    return list(json.loads(cites) if isinstance(cites, str) else cites or ())


def _cited(parts: Sequence[DraftPart] | None, cites: list[str]) -> list[CitedPart]:
    """The cited parts' text in the version (tracking checked they are there; until the
    version is heard of, none: the record is published again when it is)."""
    if parts is None or not cites:
        return []
    try:
        return drafts.cite(parts, cites)
    except drafts.UnknownParts:
        return []


def public_draft(
    row: Columns,
    *,
    versions: Sequence[DraftVersionRegistered],
    sent: DraftSentToAuthority | None,
    agency: Columns | None,
) -> PublicDraft:
    """A draft's public document, from what tracking announced of it alone."""
    draft_type = DraftType(row["draft_type"]) if row["draft_type"] else DraftType.OTHER
    return PublicDraft(
        draft_id=row["id"],
        draft_type=draft_type.value,
        draft_type_label=str(DRAFT_TYPE[draft_type]),
        title=row["title"] or "",
        agency=AgencyView(
            id=row["agency_id"],
            name=agency["name"] if agency else None,
            level=agency["level"] if agency else None,
        ),
        issuing_authority=row["issuing_authority"] or "",
        registered_at=row["registered_at"],
        versions=[
            DraftVersionView(
                number=v.version,
                received_at=v.received_at,
                file_format=v.file_format.value,
                file_name=v.file_name,
                file_size=v.file_size,
                sha256=v.sha256,
                preamble=list(v.preamble),
                parts=list(v.parts),
                window=v.window,
                changes=list(v.changes),
                links=list(v.links),
                accepted_unchanged=list(v.accepted_unchanged),
                changed_unasked=list(v.changed_unasked),
            )
            for v in versions
        ],
        sent_to_authority=(
            SentToAuthorityView(
                sent_on=sent.sent_on,
                version=sent.version,
                sha256=sent.sha256,
                changes=list(sent.changes),
                changed_without_new_version=sent.changed_without_new_version,
                window=sent.window,
            )
            if sent is not None
            else None
        ),
        sent_late=any(v.window.sent_late for v in versions)
        or (sent is not None and sent.window.sent_late),
    )


def canonical(document: BaseModel) -> bytes:
    """The exact bytes published and logged: JSON, keys sorted, no spaces, UTF-8."""
    return json.dumps(
        document.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
