"""The public record as the disclosure API serves it, feeds and exports carry it, and the
transparency log holds it: one model, so that what is verified is what was published."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.drafts import CitedPart
from contracts.events import (
    AnsweredPoint,
    DraftPart,
    DraftReference,
    DraftVersionRef,
    DueDateRule,
    PartDifference,
    UptakeLink,
    WindowFacts,
)


class RecordStatus(enum.StrEnum):
    """Where a disclosed critique stands, as the public reads it."""

    AWAITING = "awaiting"
    ANSWERED = "answered"
    ANSWERED_LATE = "answered_late"
    OVERDUE = "overdue"
    WITHDRAWN = "withdrawn"


class TimelineStep(enum.StrEnum):
    """Steps of a record's public timeline."""

    SUBMITTED = "submitted"
    AMENDED = "amended"
    CASE_OPENED = "case_opened"
    ACKNOWLEDGED = "acknowledged"
    DUE_DATE_CHANGED = "due_date_changed"
    OVERDUE = "overdue"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"


class PublicationReason(enum.StrEnum):
    """Why a record was published (DOMAIN.md, disclosure policy)."""

    ANSWERED = "answered"
    OVERDUE = "overdue"


class RedactionKind(enum.StrEnum):
    """What kind of personal data was hidden before publication."""

    CITIZEN_ID = "citizen_id"
    PHONE = "phone"
    EMAIL = "email"
    NAME = "name"


class _Public(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OrganisationView(_Public):
    id: str
    name: str
    level: str


class AgencyView(_Public):
    id: str
    name: str | None = Field(description="As in tracking's directory, when known.")
    level: str | None = None


class PointView(_Public):
    number: int
    text: str
    citation: str | None
    disposition: str | None = Field(description="accepted, partly_accepted or not_accepted.")
    explanation: str | None
    cites: list[str] = Field(
        default_factory=list, description="The parts of `draft_version` the point cites, by id."
    )
    cited: list[CitedPart] = Field(
        default_factory=list, description="Those parts, with their text in that version."
    )


class TimelineView(_Public):
    at: datetime
    step: str
    label: str = Field(description="For people, Vietnamese first.")


class RedactionView(_Public):
    """What was hidden, where and why — never the content."""

    field: str
    kind: str = Field(description="citizen_id, phone, email or name.")
    count: int
    reason: str


class PublicRecord(_Public):
    """A disclosed critique: what was asked, what was answered point by point, and when."""

    critique_id: uuid.UUID
    organisation: OrganisationView
    agency: AgencyView
    kind: str
    title: str
    status: str = Field(
        description="awaiting, answered, answered_late, overdue or withdrawn (content hidden)."
    )
    status_label: str
    submitted_at: datetime
    due_date: date | None
    due_rule: DueDateRule | None
    answered_at: datetime | None
    overdue_at: datetime | None
    published_at: datetime
    publication_reason: str = Field(description="answered or overdue.")
    points: list[PointView]
    draft: DraftReference | None = Field(default=None, description="The draft criticised.")
    draft_version: DraftVersionRef | None = Field(
        default=None, description="The registered draft version criticised (`/v1/drafts/{id}`)."
    )
    version: int = Field(
        default=1,
        description="The version of the critique shown: 1 as submitted, each amendment adds one.",
    )
    answered_version: int | None = Field(
        default=None,
        description="The version the agency answered, once answered: the answers shown are to"
        " the points of exactly that version (an answer is never shown beside other text).",
    )
    timeline: list[TimelineView]
    redactions: list[RedactionView]


class RecordPage(BaseModel):
    items: list[PublicRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ChangeFeed(BaseModel):
    """Records and drafts published or changed after ``since``, oldest change first (for
    mirrors): both take their change numbers from one sequence."""

    items: list[PublicRecord]
    drafts: list[PublicDraft] = Field(
        default_factory=list, description="Drafts published or changed in the same range."
    )
    next_since: int = Field(description="Pass as `since` to continue; unchanged when caught up.")


class Rate(BaseModel):
    """A share of a sample, published only once the sample is large enough to mean something."""

    value: float | None = Field(
        description="Between 0 and 1, three decimals; null while the sample is insufficient."
    )
    sample: int = Field(description="How many records the rate is taken over.")
    insufficient_sample: bool = Field(description="True while `sample` is below `min_sample`.")


class AgencyScorecard(BaseModel):
    """How an agency answers: counts of its records, the median time it takes, and rates."""

    answered_on_time: int = Field(description="Published records answered by the due date.")
    answered_late: int = Field(description="Published records answered after the due date.")
    overdue: int = Field(description="Published records past the due date with no answer yet.")
    open: int = Field(
        description="Critiques awaiting an answer, not yet overdue, published or not: how many is"
        " public, what they say is not until they are answered or overdue."
    )
    median_days_to_answer: float | None = Field(
        description="From submission to answer, in days with one decimal; null with no answer."
    )
    on_time_rate: Rate = Field(description="Answered on time / answered.")
    late_rate: Rate = Field(description="Answered late / answered.")
    overdue_rate: Rate = Field(description="Overdue / (answered + overdue).")
    min_sample: int = Field(description="The smallest sample a rate is shown for.")


class AgencyReport(BaseModel):
    agency: AgencyView
    scorecard: AgencyScorecard


class AgencyPage(BaseModel):
    items: list[AgencyReport] = Field(description="Agencies by id.")
    next_after: str | None = Field(description="Pass as `after` for the next page.")


class DraftVersionView(_Public):
    """A version of a draft as the Front received it, structured into its parts."""

    number: int
    received_at: datetime
    file_format: str
    file_name: str
    file_size: int
    sha256: str = Field(description="Of the file as the drafting agency sent it.")
    preamble: list[str]
    parts: list[DraftPart]
    window: WindowFacts
    changes: list[PartDifference] = Field(description="Since the version before.")
    links: list[UptakeLink] = Field(
        description="The points taken in, each with the parts changed for it, as the drafting"
        " agency declares them."
    )
    accepted_unchanged: list[AnsweredPoint] = Field(
        description="Accepted or partly accepted, yet nothing linked to them changed."
    )
    changed_unasked: list[str] = Field(description="Changed, with no accepted point asking for it.")


class SentToAuthorityView(_Public):
    sent_on: date
    version: int = Field(description="The last version the Front received before it went.")
    sha256: str
    changes: list[PartDifference] = Field(
        description="How the text sent differs from that version."
    )
    changed_without_new_version: bool
    window: WindowFacts = Field(description="The window as it turned out.")


class PublicDraft(_Public):
    """A draft (dự thảo) registered by its drafting agency: every version the Front received,
    the criticism window each gave, and its submission to the issuing authority."""

    draft_id: uuid.UUID
    draft_type: str
    draft_type_label: str
    title: str
    agency: AgencyView = Field(description="The drafting agency.")
    issuing_authority: str
    registered_at: datetime
    versions: list[DraftVersionView]
    sent_to_authority: SentToAuthorityView | None
    sent_late: bool = Field(description="A version gave the Front fewer days than the law.")


class DraftSummary(_Public):
    draft_id: uuid.UUID
    draft_type: str
    draft_type_label: str
    title: str
    agency: AgencyView
    issuing_authority: str
    registered_at: datetime
    versions: int
    sent_late: bool
    changed_without_new_version: bool


class DraftPage(BaseModel):
    items: list[DraftSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ReportPoint(_Public):
    """One point of a critique, as the report lists it under a part it cites."""

    critique_id: uuid.UUID
    organisation: str
    point_number: int
    text: str
    disposition: str | None = Field(description="None while unanswered.")
    disposition_label: str
    explanation: str | None = Field(description="Giải trình: why it was not (fully) taken in.")
    answered_late: bool
    taken_in: bool = Field(description="The next version links a change to it.")


class ReportPart(_Public):
    """A part of the version and every point citing it; ``part_id`` None gathers the points
    citing no part."""

    part_id: str | None
    citation: str
    text: str
    points: list[ReportPoint]
    next_change: str | None = Field(description="added, removed or changed in the next version.")


class ReportTotals(_Public):
    critiques: int
    points: int
    accepted: int
    partly_accepted: int
    not_accepted: int
    unanswered: int
    answered_late: int = Field(description="Critiques answered after their due date.")


class DraftReport(_Public):
    """The consolidated report of one version of a draft (báo cáo tiếp thu, giải trình, Law on
    Promulgation of Legal Documents 2025 art. 6): every disclosed point of every critique of
    the version grouped by the part it cites, with the answer and its explanation, the window
    the Front had, what the next version changed and what that leaves flagged."""

    draft_id: uuid.UUID
    title: str
    draft_type_label: str
    agency: AgencyView
    issuing_authority: str
    version: int
    received_at: datetime
    window: WindowFacts
    sent_to_authority: SentToAuthorityView | None = Field(
        description="When this was the version last received before the draft went on."
    )
    next_version: int | None
    parts: list[ReportPart]
    changes: list[PartDifference] = Field(description="What the next version changed.")
    accepted_unchanged: list[ReportPoint] = Field(
        description="Disclosed points accepted or partly accepted, yet unchanged by the next."
    )
    changed_unasked: list[str]
    totals: ReportTotals


ChangeFeed.model_rebuild()
