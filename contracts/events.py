"""The events the services exchange over Kafka: the single source of the wire schema.

Every event travels as a CloudEvents 1.0 message in Kafka binary mode: the envelope is in
``ce_*`` headers and the body is the JSON of one of the payload models below. ``ce_type`` names
the event and its version (``vn.mttq.supervision.<aggregate>.<event>.v<N>``); within a version
changes are additive only, and readers ignore fields they do not know.

All events of one submission share its ``critique_id`` as the Kafka key, so they keep their order;
directory events are keyed by the agency's id, a draft's events by the draft's id (so its versions
keep their order), and the transparency log's checkpoints by the log's origin.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from contracts.identifiers import AgencyId, OrganisationId
from contracts.lifecycle import RefusalReason, RequestKind
from contracts.text import clean_text

CE_SOURCE_PREFIX: Final = "urn:vn:mttq:supervision"


FOREVER: Final = -1
"""Kafka's ``retention.ms`` / ``retention.bytes`` for "never delete by age / by size"."""


@dataclass(frozen=True)
class Retention:
    """How long Kafka keeps a topic's records, chosen on purpose rather than the broker's
    default (seven days, then deleted)."""

    cleanup_policy: Literal["delete", "compact"]
    """``delete``: whole segments are deleted once older than ``retention_ms``; ``compact``: the
    latest record of each key is kept for ever, older ones of the same key are cleaned away."""
    retention_ms: int
    """How long a record is kept before deletion may take it (``FOREVER``: never)."""
    why: str

    def configs(self) -> dict[str, str]:
        """The topic-level configurations that carry this policy, as Kafka names them; none is
        left to the broker's defaults, which delete after seven days."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "retention.bytes": str(FOREVER),
        }


THE_RECORD: Final = Retention(
    "delete",
    FOREVER,
    "The record itself: every event of the stream is kept for as long as the system is, so that"
    " any read model can be rebuilt and any consumer stopped for however long can catch up.",
)
LATEST_PER_KEY: Final = Retention(
    "compact",
    FOREVER,
    "A directory, the latest state of each key: compacted, so the newest record of every key is"
    " kept for ever and a reader starting from the beginning learns every entry.",
)
UNTIL_HANDLED: Final = Retention(
    "delete",
    FOREVER,
    "Dead letters wait for an operator to fix their cause and replay them, however long that"
    " takes: never deleted by Kafka. Marked handled (`supervision ops dlq`), a dead letter leaves"
    " the operators' queue and stays here, in the topic's history.",
)


class Topic(enum.StrEnum):
    """One topic per aggregate stream."""

    CRITIQUES = "submission.critiques"
    CASES = "tracking.cases"
    AGENCIES = "tracking.agencies"
    DRAFTS = "tracking.drafts"
    CHECKPOINTS = "disclosure.checkpoints"

    @property
    def owner(self) -> str:
        """The service whose aggregate this topic streams: the only one that writes to it."""
        return self.value.partition(".")[0]

    @property
    def retention(self) -> Retention:
        """How long Kafka keeps this topic's records (its ``.dlq`` keeps ``UNTIL_HANDLED``)."""
        return LATEST_PER_KEY if self is Topic.AGENCIES else THE_RECORD


class Event(BaseModel):
    """Base of every event payload. Unknown fields are ignored so that readers stay compatible."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[Topic]

    @property
    def key(self) -> str:
        """The Kafka key: events with the same key keep their order."""
        raise NotImplementedError


class CritiqueEvent(Event):
    """An event in the life of one submission."""

    critique_id: UUID = Field(description="The submission this event belongs to; the Kafka key.")

    @property
    def key(self) -> str:
        return str(self.critique_id)


class Level(enum.StrEnum):
    """Administrative level since 1 July 2025 (VFF Law art. 6 as amended): no district level."""

    CENTRAL = "central"
    PROVINCIAL = "provincial"
    COMMUNE = "commune"


class CritiqueKind(enum.StrEnum):
    SOCIAL_CRITICISM = "social_criticism"
    """Phản biện xã hội: criticism of a draft, addressed to the lead drafting agency."""
    SUPERVISION_RECOMMENDATION = "supervision_recommendation"
    """Kiến nghị sau giám sát: addressed to the supervised entity."""
    GOVERNMENT_BUILDING_OPINION = "government_building_opinion"
    """Góp ý xây dựng Đảng, xây dựng chính quyền: addressed to the body concerned."""


_NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store U+0000 in text


_CLEAN = BeforeValidator(clean_text)

Text = Annotated[str, _CLEAN, StringConstraints(min_length=1, max_length=20_000, pattern=_NO_NUL)]
"""A point's text or an explanation: NFC, trimmed, without NUL, 1 to 20,000 characters."""
ShortText = Annotated[str, _CLEAN, StringConstraints(min_length=1, max_length=500, pattern=_NO_NUL)]
"""A title or a name: 1 to 500 characters."""
LongNote = Annotated[str, _CLEAN, StringConstraints(max_length=2000, pattern=_NO_NUL)]
"""A legal basis or a reason: up to 2,000 characters, may be empty."""
OptionalText = Annotated[str, _CLEAN, StringConstraints(max_length=20_000, pattern=_NO_NUL)]
"""Like Text, but may be empty (an explanation when a point is accepted)."""
MAX_POINTS = 200
PartId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9.\-]+$")]
"""A part's stable id, built from its numbering: ``dieu-5.khoan-2.diem-dd``, ``chuong-2.muc-1``."""
MAX_CITES = 50
MAX_DRAFT_VERSION = 100_000
"""No draft goes through more versions than this (it bounds the number a critique names)."""


class Point(BaseModel):
    """One numbered point of a critique; the agency answers each point separately."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: Annotated[int, Field(ge=1, le=1000)]
    text: Text
    citation: ShortText | None = Field(
        default=None, description="The draft's article or clause the point refers to."
    )
    cites: tuple[PartId, ...] = Field(
        default=(),
        max_length=MAX_CITES,
        description="The parts of the draft version named (``draft_version``) the point cites,"
        " by their ids: ``dieu-5.khoan-2``.",
    )


class DraftVersionRef(BaseModel):
    """A version of a draft registered in tracking, which a critique is about."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    draft_id: UUID
    version: int = Field(ge=1, le=MAX_DRAFT_VERSION)


class OrganisationRef(BaseModel):
    """The submitting Front committee or member organisation, as known when it submitted."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: OrganisationId
    name: ShortText
    level: Level
    parent_id: OrganisationId | None = Field(
        default=None, description="The Front committee one level up, to which delays escalate."
    )


class DraftReference(BaseModel):
    """The draft a social criticism is about (dự thảo): required for that kind."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: ShortText
    drafting_agency: ShortText = Field(description="Cơ quan chủ trì soạn thảo.")
    version: ShortText | None = Field(default=None, description="e.g. 'Dự thảo lần 3'.")
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^\S*$")] | None = None


class CritiqueContent(BaseModel):
    """What an organisation wrote: replaced as a whole by each amendment."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: ShortText
    points: tuple[Point, ...] = Field(min_length=1, max_length=MAX_POINTS)
    draft: DraftReference | None = None
    draft_version: DraftVersionRef | None = Field(
        default=None, description="The registered draft version criticised; points cite its parts."
    )
    legal_basis: LongNote | None = Field(
        default=None, description="The legal basis, e.g. 'Điều 33 Luật MTTQ Việt Nam'."
    )
    redact_names: tuple[ShortText, ...] = Field(
        default=(),
        max_length=50,
        description="Names of private persons in the text, to be hidden before publication.",
    )


class CritiqueSubmitted(CritiqueEvent):
    """A Front organisation submitted a critique (or recommendation, or opinion) to an agency."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.submitted.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    organisation: OrganisationRef
    agency_id: AgencyId
    kind: CritiqueKind
    title: ShortText
    points: tuple[Point, ...] = Field(min_length=1, max_length=MAX_POINTS)
    draft: DraftReference | None = None
    draft_version: DraftVersionRef | None = None
    # As bounded as the API has always bounded them (ContentIn): no submission ever sent more.
    legal_basis: LongNote | None = None
    redact_names: tuple[ShortText, ...] = Field(default=(), max_length=50)
    submitted_at: datetime


class AmendmentRequested(CritiqueEvent):
    """The organisation asked to replace the critique's content. Tracking decides, since only it
    knows whether the agency has acknowledged or answered meanwhile: ``case.amended`` or
    ``case.request_refused``, naming ``request_id``. Until then the amendment is pending."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.amendment_requested.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    request_id: UUID
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="The version the organisation amended (its If-Match); refused when the"
        " critique is no longer at that version. None: whatever version is current.",
    )
    content: CritiqueContent
    requested_at: datetime


class WithdrawalRequested(CritiqueEvent):
    """The organisation asked to withdraw the critique; tracking decides (``case.withdrawn`` or
    ``case.request_refused``)."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.withdrawal_requested.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    request_id: UUID
    reason: LongNote = ""
    requested_at: datetime


class ExtensionDecisionRequested(CritiqueEvent):
    """The organisation granted or refused an extension the agency asked for. Tracking applies
    the decision if the request is still pending and the case still open
    (``case.extension_decided``), else refuses it (``case.request_refused``)."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.extension_decision_requested.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    request_id: UUID
    extension_id: UUID
    grant: bool
    note: LongNote = ""
    requested_at: datetime


class AttachmentAdded(CritiqueEvent):
    """A PDF (usually the signed paper document) was attached; the bytes stay in submission."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.attachment_added.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    attachment_id: UUID
    filename: ShortText
    media_type: str
    size: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    added_at: datetime


class Counting(enum.StrEnum):
    """How the days of a reply period are counted."""

    CALENDAR = "calendar"
    WORKING = "working"


class SkippedDay(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    day: date
    reason: str


class DueDateRule(BaseModel):
    """How a due date was computed, so that anyone can check it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    days: int = Field(ge=1)
    counting: str = Field(description="'calendar' or 'working' days.")
    start: date
    explanation: str
    source: str = Field(default="", description="Which rule of the policy applied.")
    skipped: tuple[SkippedDay, ...] = Field(
        default=(), description="Weekends and public holidays that moved the due date."
    )


class CaseOpened(CritiqueEvent):
    """Tracking opened a case for a submitted critique; the agency must answer by ``due_date``."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.opened.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    opened_at: datetime
    due_date: date
    due_rule: DueDateRule


class Disposition(enum.StrEnum):
    ACCEPTED = "accepted"
    """Tiếp thu."""
    PARTLY_ACCEPTED = "partly_accepted"
    """Tiếp thu một phần."""
    NOT_ACCEPTED = "not_accepted"
    """Không tiếp thu, với giải trình."""


class PointAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    point_number: Annotated[int, Field(ge=1, le=1000)]
    disposition: Disposition
    explanation: OptionalText = ""


class CaseAcknowledged(CritiqueEvent):
    """The agency confirmed receipt: from now on the organisation can no longer amend or withdraw
    the critique."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.acknowledged.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    acknowledged_at: datetime


class ExtensionRequested(CritiqueEvent):
    """The agency asks the submitting organisation for more time (or a dialogue, Res. 403)."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.extension_requested.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    extension_id: UUID
    reason: LongNote
    current_due_date: date
    requested_due_date: date
    requested_at: datetime


class CaseAmended(CritiqueEvent):
    """Tracking accepted an amendment: the critique's content is now ``content``, at
    ``version``. Only before the agency acknowledged it (DOMAIN.md)."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.amended.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    request_id: UUID
    version: int = Field(ge=2, description="1 is the submission; each amendment adds one.")
    content: CritiqueContent
    amended_at: datetime


class CaseWithdrawn(CritiqueEvent):
    """Tracking accepted the organisation's withdrawal: nothing is left to answer, and the
    critique's content is never published."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.withdrawn.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    request_id: UUID
    reason: LongNote = ""
    withdrawn_at: datetime


class ExtensionDecided(CritiqueEvent):
    """Tracking applied the organisation's decision on an extension request; a granted one is
    followed by ``case.due_date_changed``."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.extension_decided.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    request_id: UUID
    extension_id: UUID
    granted: bool
    note: LongNote = ""
    decided_at: datetime


class RequestRefused(CritiqueEvent):
    """Tracking refused a change the organisation asked for (amendment, withdrawal, decision on
    an extension), saying why; nothing changed."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.request_refused.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID | None = Field(description="None when tracking has no case for the critique.")
    request_id: UUID
    request: RequestKind
    reason: RefusalReason
    detail: str = Field(description="The reason for people, Vietnamese first.")
    current_version: int = Field(ge=0, description="The critique's version at tracking.")
    refused_at: datetime


class DueDateChanged(CritiqueEvent):
    """The case's due date moved (an extension was granted); reminders follow the new date."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.due_date_changed.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    extension_id: UUID | None = None
    due_date: date
    due_rule: DueDateRule
    changed_at: datetime


class ReminderDue(CritiqueEvent):
    """The answer is due soon (by default 7, 3 and 1 days before the due date)."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.reminder_due.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    due_date: date
    days_left: int = Field(ge=0)
    at: datetime


class CaseOverdue(CritiqueEvent):
    """The due date passed without an answer: from now on this is public information."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.overdue.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    due_date: date
    at: datetime


class CaseEscalated(CritiqueEvent):
    """An overdue case is reported to the Front committee one level above the submitter
    (Res. 403 art. 9(3)); at central level there is none above, and ``escalated_to`` is empty."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.escalated.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    organisation_id: OrganisationId
    escalated_to: OrganisationId | None
    due_date: date
    at: datetime


class CaseAnswered(CritiqueEvent):
    """The agency answered every point of the case."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.answered.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    answered_at: datetime
    late: bool
    answers: tuple[PointAnswer, ...] = Field(min_length=1, max_length=MAX_POINTS)
    version: int | None = Field(
        default=None,
        ge=1,
        description="The version of the critique answered: the answers are to its points."
        " None only in answers recorded before answers named their version.",
    )


class AgencyKind(enum.StrEnum):
    MINISTRY = "ministry"
    PEOPLES_COMMITTEE = "peoples_committee"
    DEPARTMENT = "department"


class AgencyRegistered(Event):
    """An agency joined (or changed in) tracking's directory; critiques may be addressed to it."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.agency.registered.v1"
    topic: ClassVar[Topic] = Topic.AGENCIES

    agency_id: AgencyId
    name: ShortText
    level: Level
    kind: AgencyKind
    parent_id: AgencyId | None = None

    @property
    def key(self) -> str:
        return self.agency_id


class CheckpointSigned(Event):
    """Disclosure signed a checkpoint of its transparency log: a C2SP signed note stating the
    log's size and Merkle root (RFC 9162). Witnesses and monitors keep these to check that the
    public record is only ever appended to; keyed by the log's origin."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.log.checkpoint_signed.v1"
    topic: ClassVar[Topic] = Topic.CHECKPOINTS

    origin: str = Field(min_length=1, description="The log's identity, the note's first line.")
    size: int = Field(ge=0, description="How many leaves the tree has.")
    root_hash: str = Field(
        pattern=r"^[A-Za-z0-9+/]{43}=$", description="Base64 of the tree's SHA-256 root."
    )
    note: str = Field(description="The signed note, exactly as served at /v1/log/checkpoint.")
    signed_at: datetime

    @property
    def key(self) -> str:
        return self.origin


# --- drafts (dự thảo): registered by their drafting agency, decided by tracking ----------------


class DraftType(enum.StrEnum):
    """The kinds of document the Front criticises in draft (Law on Promulgation of Legal
    Documents 2025 art. 4, and the plans of provinces)."""

    LAW = "law"
    ORDINANCE = "ordinance"
    RESOLUTION = "resolution"
    DECREE = "decree"
    DECISION = "decision"
    CIRCULAR = "circular"
    PROVINCIAL_PLAN = "provincial_plan"
    OTHER = "other"


class DraftFormat(enum.StrEnum):
    """The file a version came in, kept as received."""

    DOCX = "docx"
    TEXT = "text"
    """Plain text or Markdown, UTF-8."""


class PartKind(enum.StrEnum):
    """The levels of Vietnamese legal numbering, outermost first."""

    CHAPTER = "chapter"
    SECTION = "section"
    ARTICLE = "article"
    CLAUSE = "clause"
    POINT = "point"


class TextChange(enum.StrEnum):
    """How a part differs from the version before."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class DraftPart(BaseModel):
    """One numbered part of a version's text (chương, mục, điều, khoản, điểm), in document
    order; its place in the text is ``parent_id``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: PartId
    kind: PartKind
    number: str = Field(description='As printed: "II", "5a", "2", "đ".')
    title: str = Field(description="A heading, or a clause's or point's first line.")
    text: tuple[str, ...] = Field(default=(), description="Its own paragraphs after the first.")
    parent_id: PartId | None = None
    citation: str = Field(description='How a person names it: "điểm đ khoản 2 Điều 5".')


class PartDifference(BaseModel):
    """A part added, removed or changed since the version before (its own text, not its
    children's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    part_id: PartId
    change: TextChange


class WindowFacts(BaseModel):
    """The criticism window a version gave the Front (VFF Law art. 36(1)): days counted from
    the day after the Front received it, in Vietnam time, to the submission to the issuing
    authority."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    received_on: date
    planned_on: date = Field(description="When the draft goes (or went) to the issuing authority.")
    closes_on: date = Field(description="The window's last day: the day before.")
    latest_receipt_on: date = Field(description="The last day of receipt for a full window.")
    days_given: int
    minimum_days: int
    sent_late: bool = Field(description="The Front had fewer days than the law requires.")
    explanation: str = Field(description="In words, Vietnamese first.")


class UptakeLink(BaseModel):
    """An accepted or partly accepted point of a critique of the version before, and the parts
    the drafting agency says it changed for it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    critique_id: UUID
    case_id: UUID
    point_number: int
    part_ids: tuple[PartId, ...] = Field(min_length=1, max_length=MAX_CITES)


class AnsweredPoint(BaseModel):
    """A point of a critique, as its case's answer names it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    critique_id: UUID
    case_id: UUID
    point_number: int


class DraftEvent(Event):
    """An event in the life of one draft."""

    draft_id: UUID = Field(description="The draft; the Kafka key.")
    agency_id: AgencyId = Field(description="The drafting agency (cơ quan chủ trì soạn thảo).")

    @property
    def key(self) -> str:
        return str(self.draft_id)


class DraftRegistered(DraftEvent):
    """A drafting agency registered a draft; its text comes with its versions."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.draft.registered.v1"
    topic: ClassVar[Topic] = Topic.DRAFTS

    draft_type: DraftType
    title: ShortText
    issuing_authority: ShortText = Field(description="Who issues it, e.g. 'Quốc hội'.")
    registered_at: datetime


class DraftVersionRegistered(DraftEvent):
    """The drafting agency sent the Front a version of the draft: its text structured into
    parts, the window it gives, and what changed since the version before."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.draft.version_registered.v1"
    topic: ClassVar[Topic] = Topic.DRAFTS

    version: int = Field(ge=1, description="1 for the first version the Front received.")
    received_at: datetime
    file_format: DraftFormat
    file_name: str
    file_size: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the file as received.")
    preamble: tuple[str, ...] = Field(
        default=(), description="The lines before the first chapter or article."
    )
    parts: tuple[DraftPart, ...]
    window: WindowFacts
    changes: tuple[PartDifference, ...] = Field(
        default=(), description="Since the version before; none for the first."
    )
    links: tuple[UptakeLink, ...] = Field(
        default=(),
        description="The points of the version before's critiques taken in, each with the parts"
        " changed for it, as the drafting agency declares them.",
    )
    accepted_unchanged: tuple[AnsweredPoint, ...] = Field(
        default=(),
        description="Accepted or partly accepted in an answer, yet no part linked to it changed.",
    )
    changed_unasked: tuple[PartId, ...] = Field(
        default=(), description="Parts that changed with no accepted point linked to them."
    )


class DraftSentToAuthority(DraftEvent):
    """The drafting agency submitted the draft to the issuing authority. Its text is compared
    with the last version the Front received: a text that differs was changed after the Front
    received it without a new version."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.draft.sent_to_authority.v1"
    topic: ClassVar[Topic] = Topic.DRAFTS

    version: int = Field(ge=1, description="The last version the Front received.")
    sent_on: date
    recorded_at: datetime
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the file sent.")
    changes: tuple[PartDifference, ...] = Field(
        default=(), description="The parts of the text sent that differ from that version."
    )
    window: WindowFacts = Field(description="The window as it turned out, to the day sent.")

    @property
    def changed_without_new_version(self) -> bool:
        return bool(self.changes)


EVENT_TYPES: Final[dict[str, type[Event]]] = {
    model.ce_type: model
    for model in (
        CritiqueSubmitted,
        AmendmentRequested,
        WithdrawalRequested,
        ExtensionDecisionRequested,
        AttachmentAdded,
        CaseOpened,
        CaseAcknowledged,
        CaseAmended,
        CaseWithdrawn,
        ExtensionRequested,
        ExtensionDecided,
        RequestRefused,
        DueDateChanged,
        ReminderDue,
        CaseOverdue,
        CaseEscalated,
        CaseAnswered,
        AgencyRegistered,
        DraftRegistered,
        DraftVersionRegistered,
        DraftSentToAuthority,
        CheckpointSigned,
    )
}
"""Every known ``ce_type`` and the payload model that reads it."""

RETIRED_TYPES: Final[dict[str, str]] = {
    "vn.mttq.supervision.critique.amended.v1": "an amendment submission decided on its copy of"
    " the case; amendments are requested (critique.amendment_requested.v1) and decided by"
    " tracking (case.amended.v1, case.request_refused.v1)",
    "vn.mttq.supervision.critique.withdrawn.v1": "a withdrawal submission decided on its copy of"
    " the case; withdrawals are requested (critique.withdrawal_requested.v1) and decided by"
    " tracking (case.withdrawn.v1, case.request_refused.v1)",
    "vn.mttq.supervision.critique.extension_decided.v1": "a decision on an extension applied"
    " without tracking's say; decisions are requested"
    " (critique.extension_decision_requested.v1) and applied by tracking"
    " (case.extension_decided.v1, case.request_refused.v1)",
}
"""Types no longer read, and why: a reader meeting one dead-letters it saying so."""
