"""The agency API's enums on the wire (``supervision.agency.v1``) and the contract's own: one
table each way, for the server and for every client that shows a case."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, TypeVar

from contracts.events import (
    CritiqueKind,
    Disposition,
    DraftFormat,
    DraftType,
    PartKind,
    TextChange,
)
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.lifecycle import CaseStatus, Change, ExtensionStatus

KINDS: Final[Mapping[CritiqueKind, pb.CritiqueKind.ValueType]] = {
    CritiqueKind.SOCIAL_CRITICISM: pb.CRITIQUE_KIND_SOCIAL_CRITICISM,
    CritiqueKind.SUPERVISION_RECOMMENDATION: pb.CRITIQUE_KIND_SUPERVISION_RECOMMENDATION,
    CritiqueKind.GOVERNMENT_BUILDING_OPINION: pb.CRITIQUE_KIND_GOVERNMENT_BUILDING_OPINION,
}
STATUSES: Final[Mapping[CaseStatus, pb.CaseStatus.ValueType]] = {
    CaseStatus.AWAITING_ANSWER: pb.CASE_STATUS_AWAITING_ANSWER,
    CaseStatus.ACKNOWLEDGED: pb.CASE_STATUS_ACKNOWLEDGED,
    CaseStatus.ANSWERED: pb.CASE_STATUS_ANSWERED,
    CaseStatus.WITHDRAWN: pb.CASE_STATUS_WITHDRAWN,
}
DISPOSITIONS: Final[Mapping[Disposition, pb.Disposition.ValueType]] = {
    Disposition.ACCEPTED: pb.DISPOSITION_ACCEPTED,
    Disposition.PARTLY_ACCEPTED: pb.DISPOSITION_PARTLY_ACCEPTED,
    Disposition.NOT_ACCEPTED: pb.DISPOSITION_NOT_ACCEPTED,
}
CHANGES: Final[Mapping[Change, pb.ChangeKind.ValueType]] = {
    Change.OPENED: pb.CHANGE_KIND_OPENED,
    Change.AMENDED: pb.CHANGE_KIND_AMENDED,
    Change.WITHDRAWN: pb.CHANGE_KIND_WITHDRAWN,
    Change.ACKNOWLEDGED: pb.CHANGE_KIND_ACKNOWLEDGED,
    Change.EXTENSION_REQUESTED: pb.CHANGE_KIND_EXTENSION_REQUESTED,
    Change.EXTENSION_GRANTED: pb.CHANGE_KIND_EXTENSION_GRANTED,
    Change.EXTENSION_REFUSED: pb.CHANGE_KIND_EXTENSION_REFUSED,
    Change.REMINDER: pb.CHANGE_KIND_REMINDER,
    Change.OVERDUE: pb.CHANGE_KIND_OVERDUE,
    Change.ESCALATED: pb.CHANGE_KIND_ESCALATED,
    Change.ANSWERED: pb.CHANGE_KIND_ANSWERED,
}
EXTENSION_STATUSES: Final[Mapping[ExtensionStatus, pb.ExtensionStatus.ValueType]] = {
    ExtensionStatus.PENDING: pb.EXTENSION_STATUS_PENDING,
    ExtensionStatus.GRANTED: pb.EXTENSION_STATUS_GRANTED,
    ExtensionStatus.REFUSED: pb.EXTENSION_STATUS_REFUSED,
}

DRAFT_TYPES: Final[Mapping[DraftType, pb.DraftType.ValueType]] = {
    DraftType.LAW: pb.DRAFT_TYPE_LAW,
    DraftType.ORDINANCE: pb.DRAFT_TYPE_ORDINANCE,
    DraftType.RESOLUTION: pb.DRAFT_TYPE_RESOLUTION,
    DraftType.DECREE: pb.DRAFT_TYPE_DECREE,
    DraftType.DECISION: pb.DRAFT_TYPE_DECISION,
    DraftType.CIRCULAR: pb.DRAFT_TYPE_CIRCULAR,
    DraftType.PROVINCIAL_PLAN: pb.DRAFT_TYPE_PROVINCIAL_PLAN,
    DraftType.OTHER: pb.DRAFT_TYPE_OTHER,
}
DRAFT_FORMATS: Final[Mapping[DraftFormat, pb.DraftFormat.ValueType]] = {
    DraftFormat.DOCX: pb.DRAFT_FORMAT_DOCX,
    DraftFormat.TEXT: pb.DRAFT_FORMAT_TEXT,
}
PART_KINDS: Final[Mapping[PartKind, pb.PartKind.ValueType]] = {
    PartKind.CHAPTER: pb.PART_KIND_CHAPTER,
    PartKind.SECTION: pb.PART_KIND_SECTION,
    PartKind.ARTICLE: pb.PART_KIND_ARTICLE,
    PartKind.CLAUSE: pb.PART_KIND_CLAUSE,
    PartKind.POINT: pb.PART_KIND_POINT,
}
TEXT_CHANGES: Final[Mapping[TextChange, pb.TextChange.ValueType]] = {
    TextChange.ADDED: pb.TEXT_CHANGE_ADDED,
    TextChange.REMOVED: pb.TEXT_CHANGE_REMOVED,
    TextChange.CHANGED: pb.TEXT_CHANGE_CHANGED,
}


class DraftRefusalReason(enum.StrEnum):
    """Why a call on a draft was refused: the ``reason`` of its google.rpc.ErrorInfo, in upper
    case."""

    VERSION_MISMATCH = "version_mismatch"
    """The version named to follow is not the draft's current one."""
    SENT_TO_AUTHORITY = "sent_to_authority"
    """The draft went to its issuing authority: it takes no new version, and is sent once."""
    NO_VERSION = "no_version"
    """The Front has received no version of the draft yet."""


K = TypeVar("K")
V = TypeVar("V")


def inverse(table: Mapping[K, V]) -> dict[V, K]:
    """The same table read from the wire: wire value → the contract's."""
    return {wire: value for value, wire in table.items()}
