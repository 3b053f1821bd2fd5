"""What the public sees of a critique: status and timeline labels; pure rules, no I/O."""

from __future__ import annotations

import enum
from datetime import datetime


class RecordStatus(enum.StrEnum):
    AWAITING = "awaiting"
    ANSWERED = "answered"
    ANSWERED_LATE = "answered_late"


class Step(enum.StrEnum):
    """Steps of the public timeline, each with its label for people (Vietnamese first)."""

    SUBMITTED = "submitted"
    AMENDED = "amended"
    CASE_OPENED = "case_opened"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Step.SUBMITTED: "Đã gửi / Submitted",
    Step.AMENDED: "Đã sửa đổi / Amended",
    Step.CASE_OPENED: "Đã chuyển đến cơ quan / Delivered to the agency",
    Step.ACKNOWLEDGED: "Cơ quan đã tiếp nhận / Acknowledged by the agency",
    Step.ANSWERED: "Đã trả lời / Answered",
    Step.WITHDRAWN: "Đã rút / Withdrawn",
}


def status(*, answered_at: datetime | None, late: bool | None) -> RecordStatus:
    if answered_at is None:
        return RecordStatus.AWAITING
    return RecordStatus.ANSWERED_LATE if late else RecordStatus.ANSWERED


def is_publishable(*, has_content: bool, answered: bool, withdrawn: bool) -> bool:
    """Disclosure policy (DOMAIN.md): a record is published once answered, with its content;
    a withdrawn critique's content is never published."""
    return has_content and answered and not withdrawn
