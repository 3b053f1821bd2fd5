"""The events the services exchange over Kafka: the single source of the wire schema.

Every event travels as a CloudEvents 1.0 message in Kafka binary mode: the envelope is in
``ce_*`` headers and the body is the JSON of one of the payload models below. ``ce_type`` names
the event and its version (``vn.mttq.supervision.<aggregate>.<event>.v<N>``); within a version
changes are additive only, and readers ignore fields they do not know.

All events of one submission share its ``critique_id`` as the Kafka key, so they keep their order.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.identifiers import AgencyId, OrganisationId

CE_SOURCE_PREFIX: Final = "urn:vn:mttq:supervision"


class Topic(enum.StrEnum):
    """One topic per aggregate stream, keyed by critique id."""

    CRITIQUES = "submission.critiques"
    CASES = "tracking.cases"

    @property
    def dead_letter(self) -> str:
        return f"{self.value}.dlq"


class Event(BaseModel):
    """Base of every event payload. Unknown fields are ignored so that readers stay compatible."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[Topic]

    critique_id: UUID = Field(description="The submission this event belongs to; the Kafka key.")


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


Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Point(BaseModel):
    """One numbered point of a critique; the agency answers each point separately."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: Annotated[int, Field(ge=1, le=1000)]
    text: Text
    citation: ShortText | None = Field(
        default=None, description="The draft's article or clause the point refers to."
    )


class OrganisationRef(BaseModel):
    """The submitting Front committee or member organisation, as known when it submitted."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: OrganisationId
    name: ShortText
    level: Level


class CritiqueSubmitted(Event):
    """A Front organisation submitted a critique (or recommendation, or opinion) to an agency."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.critique.submitted.v1"
    topic: ClassVar[Topic] = Topic.CRITIQUES

    organisation: OrganisationRef
    agency_id: AgencyId
    kind: CritiqueKind
    title: ShortText
    points: tuple[Point, ...] = Field(min_length=1, max_length=1000)
    submitted_at: datetime


class DueDateRule(BaseModel):
    """How a due date was computed, so that anyone can check it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    days: int = Field(ge=1)
    counting: str = Field(description="'calendar' or 'working' days.")
    start: date
    explanation: str


class CaseOpened(Event):
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
    explanation: Annotated[str, StringConstraints(max_length=20_000)] = ""


class CaseAnswered(Event):
    """The agency answered every point of the case."""

    ce_type: ClassVar[str] = "vn.mttq.supervision.case.answered.v1"
    topic: ClassVar[Topic] = Topic.CASES

    case_id: UUID
    agency_id: AgencyId
    answered_at: datetime
    late: bool
    answers: tuple[PointAnswer, ...] = Field(min_length=1, max_length=1000)


EVENT_TYPES: Final[dict[str, type[Event]]] = {
    model.ce_type: model for model in (CritiqueSubmitted, CaseOpened, CaseAnswered)
}
"""Every known ``ce_type`` and the payload model that reads it."""
