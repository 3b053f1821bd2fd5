"""The submission HTTP API's request and response bodies: shared by the service and its clients
(the Python SDK and the command line), and rendered in the committed OpenAPI document."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.drafts import CitedPart
from contracts.events import (
    MAX_CITES,
    MAX_DRAFT_VERSION,
    MAX_POINTS,
    CritiqueContent,
    CritiqueKind,
    DraftVersionRef,
    Level,
    LongNote,
    PartId,
    Point,
    PointAnswer,
    ShortText,
    Text,
)
from contracts.identifiers import AgencyId
from contracts.lifecycle import ExtensionStatus, RefusalReason, RequestKind, RequestStatus


class CritiqueStatus(enum.StrEnum):
    """Where a critique stands, as its organisation sees it."""

    SUBMITTED = "submitted"
    AWAITING_REPLY = "awaiting_reply"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"


class Classification(enum.StrEnum):
    """Security markings of the State Secrets Law. Anything but UNCLASSIFIED is refused: such
    material may not be drafted or stored on a networked computer (art. 5)."""

    UNCLASSIFIED = "unclassified"
    CONFIDENTIAL = "mat"  # Mật
    SECRET = "toi_mat"  # noqa: S105 - Tối mật, a marking, not a password
    TOP_SECRET = "tuyet_mat"  # noqa: S105 - Tuyệt mật


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=1000, description="The point's number, unique in the critique.")
    text: Text
    citation: ShortText | None = Field(
        default=None, description="The draft's article or clause, e.g. 'Điều 5, khoản 2'."
    )
    cites: list[PartId] = Field(
        default_factory=list,
        max_length=MAX_CITES,
        description="The parts of `draft_version` the point cites, by id (`dieu-5.khoan-2`):"
        " checked against that version, and shown with their text.",
    )


class DraftVersionIn(BaseModel):
    """A draft version registered by its drafting agency (tracking's `AddDraftVersion`)."""

    model_config = ConfigDict(extra="forbid")

    draft_id: uuid.UUID
    version: int = Field(ge=1, le=MAX_DRAFT_VERSION)


class DraftIn(BaseModel):
    """The draft criticised: its title, the lead drafting agency, and a version or a link."""

    model_config = ConfigDict(extra="forbid")

    title: ShortText
    drafting_agency: ShortText
    version: ShortText | None = None
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None = None


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: ShortText
    points: list[PointIn] = Field(min_length=1, max_length=MAX_POINTS)
    draft: DraftIn | None = Field(
        default=None,
        description="Social criticism (phản biện xã hội) names its draft: here, or as"
        " `draft_version` when the drafting agency registered it.",
    )
    draft_version: DraftVersionIn | None = Field(
        default=None,
        description="The registered draft version criticised: its drafting agency must be the"
        " agency addressed, and the points may cite its parts (`cites`).",
    )
    legal_basis: LongNote | None = Field(
        default=None, description="e.g. 'Điều 33 Luật Mặt trận Tổ quốc Việt Nam'."
    )
    redact_names: list[ShortText] = Field(
        default_factory=list,
        max_length=50,
        description="Names of private persons in the text, hidden before publication.",
    )
    classification: Classification = Field(
        default=Classification.UNCLASSIFIED,
        description="Classified material (mat, toi_mat, tuyet_mat) is refused and not stored.",
    )


class CritiqueIn(ContentIn):
    """A critique, recommendation or opinion addressed to one agency."""

    agency_id: AgencyId = Field(description="The addressed agency's id in tracking's directory.")
    kind: CritiqueKind


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LongNote = ""


class DraftOut(BaseModel):
    title: str
    drafting_agency: str
    version: str | None
    url: str | None


class RefusalOut(BaseModel):
    """Why tracking refused a request."""

    reason: RefusalReason
    detail: str = Field(description="For people, Vietnamese first.")


class ChangeRequestOut(BaseModel):
    """An amendment, a withdrawal or a decision on an extension the organisation asked for.

    Tracking decides it (only tracking knows whether the agency has acknowledged or answered
    meanwhile): it is ``pending`` until tracking's decision is heard, then ``accepted`` or
    ``refused`` with the reason. Follow it at its ``Location``."""

    id: uuid.UUID
    critique_id: uuid.UUID
    kind: RequestKind
    status: RequestStatus
    status_label: str
    requested_at: datetime
    decided_at: datetime | None
    expected_version: int | None = Field(
        description="Amendment: the version amended (If-Match), or null for the current one."
    )
    version: int | None = Field(
        description="Once decided: the critique's version then (an accepted amendment's new one)."
    )
    content: CritiqueContent | None = Field(description="Amendment: the content asked for.")
    reason: str = Field(description="Withdrawal: the reason given.")
    extension_id: uuid.UUID | None = Field(description="Decision: the extension request decided.")
    grant: bool | None = Field(description="Decision: grant (true) or refuse (false).")
    note: str = Field(description="Decision: the note given.")
    refusal: RefusalOut | None = Field(description="Why it was refused, once refused.")


class PointCitations(BaseModel):
    """The parts one point cites, with their text as it reads in the critique's draft
    version. Beside the points, not in them, so that the points read can be sent back as
    they are in an amendment."""

    point_number: int
    parts: list[CitedPart]


class CritiqueOut(BaseModel):
    id: uuid.UUID
    organisation_id: str
    agency_id: str
    kind: CritiqueKind
    version: int = Field(description="1 as submitted; each amendment adds one. Also the ETag.")
    status: CritiqueStatus
    status_label: str
    changeable: bool = Field(
        description="Whether it can still be amended or withdrawn, as far as submission knows:"
        " tracking decides, and refuses once the agency has acknowledged it."
    )
    title: str
    points: list[Point]
    cited: list[PointCitations] = Field(
        default_factory=list,
        description="For each point citing parts of `draft_version`, those parts with their text.",
    )
    draft: DraftOut | None
    draft_version: DraftVersionRef | None = Field(
        default=None, description="The registered draft version criticised."
    )
    legal_basis: str | None
    redact_names: list[str] = Field(default_factory=list)
    submitted_at: datetime
    updated_at: datetime
    due_date: date | None
    acknowledged_at: datetime | None
    answered_at: datetime | None
    answered_late: bool | None
    withdrawn_at: datetime | None
    overdue: bool = Field(default=False, description="The due date passed without an answer.")
    answers: list[PointAnswer]
    answered_version: int | None = Field(
        default=None, description="The version the agency answered (the answers are to its points)."
    )
    pending_requests: list[ChangeRequestOut] = Field(
        default_factory=list, description="Amendments, withdrawals and decisions awaiting tracking."
    )


class CritiquePage(BaseModel):
    items: list[CritiqueOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class HistoryStep(enum.StrEnum):
    """Entries of a critique's history."""

    SUBMITTED = "submitted"
    AMENDMENT_REQUESTED = "amendment_requested"
    AMENDED = "amended"
    AMENDMENT_REFUSED = "amendment_refused"
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    WITHDRAWN = "withdrawn"
    WITHDRAWAL_REFUSED = "withdrawal_refused"
    ATTACHMENT_ADDED = "attachment_added"
    CASE_OPENED = "case_opened"
    ACKNOWLEDGED = "acknowledged"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_DECISION_REQUESTED = "extension_decision_requested"
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_REFUSED = "extension_refused"
    EXTENSION_DECISION_REFUSED = "extension_decision_refused"
    DUE_DATE_CHANGED = "due_date_changed"
    REMINDER_SENT = "reminder_sent"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    ANSWERED = "answered"


class HistoryOut(BaseModel):
    at: datetime
    step: HistoryStep
    version: int
    detail: dict[str, Any] = Field(
        description="submitted: {}; amendment_requested: {request_id, content, expected_version};"
        " amended: {request_id, content}; withdrawal_requested / withdrawn: {request_id,"
        " reason}; amendment_refused / withdrawal_refused / extension_decision_refused:"
        " {request_id, reason, detail}; attachment_added: {attachment_id, filename, sha256};"
        " case_opened: {due_date, due_rule}; acknowledged: {};"
        " extension_requested: {extension_id, requested_due_date, reason};"
        " extension_decision_requested: {request_id, extension_id, grant, note};"
        " extension_granted / extension_refused: {request_id, extension_id, note};"
        " due_date_changed: {due_date, due_rule}; reminder_sent: {days_left};"
        " overdue: {due_date}; escalated: {escalated_to}; answered: {late, version}."
    )


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    critique_id: uuid.UUID
    filename: str
    media_type: str
    size: int
    sha256: str
    added_at: datetime


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    level: Level
    kind: str
    parent_id: str | None


class OrganisationKind(enum.StrEnum):
    FRONT_COMMITTEE = "front_committee"
    """Ủy ban MTTQ Việt Nam at central, provincial or commune level."""
    MEMBER_ORGANISATION = "member_organisation"
    """A socio-political member organisation (Công đoàn, Hội Nông dân, Đoàn TN, Hội LHPN, …)."""


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    level: Level
    kind: OrganisationKind
    parent_id: str | None


class ExtensionOut(BaseModel):
    """An agency's request for a later due date, which the submitting organisation decides."""

    id: uuid.UUID
    critique_id: uuid.UUID
    reason: str
    current_due_date: date
    requested_due_date: date
    requested_at: datetime
    status: ExtensionStatus = Field(description="pending until tracking applies a decision.")
    decided_at: datetime | None
    note: str
    decision_request: uuid.UUID | None = Field(
        default=None, description="The organisation's decision awaiting tracking, if any."
    )


class ExtensionDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grant: bool
    note: LongNote = ""


class EscalationOut(BaseModel):
    """An overdue critique of a committee one level below, escalated to the caller."""

    critique_id: uuid.UUID
    organisation_id: str
    agency_id: str
    title: str
    due_date: date
    at: datetime
