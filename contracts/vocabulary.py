"""The words people read, defined once: bilingual labels (Vietnamese first, as the Front's own
documents put them) of kinds, levels, dispositions, statuses and steps, and the time zone every
date shown to a person is in.

The web pages, the feeds and exports, the command line and the due-date explanations all take
their labels from here, so that one term is never written two ways. ``str(label)`` is the
"Vietnamese / English" form; a page that marks up the two languages reads ``vi`` and ``en``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from contracts.disclosure_api import PublicationReason, RecordStatus, RedactionKind, TimelineStep
from contracts.events import (
    Counting,
    CritiqueKind,
    Disposition,
    DraftType,
    Level,
    PartKind,
    TextChange,
)
from contracts.lifecycle import (
    CaseStatus,
    Change,
    ExtensionStatus,
    RefusalReason,
    RequestKind,
    RequestStatus,
)
from contracts.submission_api import CritiqueStatus, HistoryStep

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
"""Vietnam's time (UTC+7, no daylight saving): due dates end at its midnight, and every date a
person reads is in it."""


@dataclass(frozen=True)
class Label:
    """A term for people, in Vietnamese and in English."""

    vi: str
    en: str

    def __str__(self) -> str:
        return self.vi if self.vi == self.en else f"{self.vi} / {self.en}"

    @property
    def vi_inline(self) -> str:
        """The Vietnamese term inside a sentence: its first letter in lower case (only the
        first: "Góp ý xây dựng Đảng" keeps the capital of the Party)."""
        return self.vi[:1].lower() + self.vi[1:]


def label_of(labels: Mapping[Any, Label], value: str) -> Label:
    """The label of ``value``, a wire value of the enum ``labels`` is keyed by; a value this
    version does not know (a newer writer's, say) stands for itself."""
    found: Label | None = labels.get(value)
    return found if found is not None else Label(value, value)


KIND: Final[Mapping[CritiqueKind, Label]] = {
    CritiqueKind.SOCIAL_CRITICISM: Label("Phản biện xã hội", "Social criticism of a draft"),
    CritiqueKind.SUPERVISION_RECOMMENDATION: Label(
        "Kiến nghị sau giám sát", "Supervision recommendation"
    ),
    CritiqueKind.GOVERNMENT_BUILDING_OPINION: Label(
        "Góp ý xây dựng Đảng, xây dựng chính quyền", "Opinion on Party and government building"
    ),
}

LEVEL: Final[Mapping[Level, Label]] = {
    Level.CENTRAL: Label("Cấp trung ương", "Central"),
    Level.PROVINCIAL: Label("Cấp tỉnh", "Provincial"),
    Level.COMMUNE: Label("Cấp xã", "Commune"),
}

DISPOSITION: Final[Mapping[Disposition, Label]] = {
    Disposition.ACCEPTED: Label("Tiếp thu", "Accepted"),
    Disposition.PARTLY_ACCEPTED: Label("Tiếp thu một phần", "Partly accepted"),
    Disposition.NOT_ACCEPTED: Label("Không tiếp thu", "Not accepted"),
}

COUNTING: Final[Mapping[Counting, Label]] = {
    Counting.CALENDAR: Label("ngày theo lịch", "calendar days"),
    Counting.WORKING: Label("ngày làm việc", "working days"),
}

CRITIQUE_STATUS: Final[Mapping[CritiqueStatus, Label]] = {
    CritiqueStatus.SUBMITTED: Label("Đã gửi", "Submitted"),
    CritiqueStatus.AWAITING_REPLY: Label("Chờ trả lời", "Awaiting reply"),
    CritiqueStatus.ACKNOWLEDGED: Label("Cơ quan đã tiếp nhận", "Acknowledged"),
    CritiqueStatus.ANSWERED: Label("Đã trả lời", "Answered"),
    CritiqueStatus.WITHDRAWN: Label("Đã rút", "Withdrawn"),
}
"""A critique's status as its organisation follows it (submission)."""

CASE_STATUS: Final[Mapping[CaseStatus, Label]] = {
    CaseStatus.AWAITING_ANSWER: Label("Chờ trả lời", "Awaiting answer"),
    CaseStatus.ACKNOWLEDGED: Label("Đã tiếp nhận", "Acknowledged"),
    CaseStatus.ANSWERED: Label("Đã trả lời", "Answered"),
    CaseStatus.WITHDRAWN: Label("Đã rút", "Withdrawn"),
}
"""A case's status as its agency handles it (tracking)."""

CASE_CHANGE: Final[Mapping[Change, Label]] = {
    Change.OPENED: Label("Mở hồ sơ", "Opened"),
    Change.AMENDED: Label("Sửa đổi", "Amended"),
    Change.WITHDRAWN: Label("Rút", "Withdrawn"),
    Change.ACKNOWLEDGED: Label("Tiếp nhận", "Acknowledged"),
    Change.EXTENSION_REQUESTED: Label("Xin gia hạn", "Extension requested"),
    Change.EXTENSION_GRANTED: Label("Gia hạn được chấp thuận", "Extension granted"),
    Change.EXTENSION_REFUSED: Label("Gia hạn bị từ chối", "Extension refused"),
    Change.REMINDER: Label("Nhắc hạn", "Reminder"),
    Change.OVERDUE: Label("Quá hạn", "Overdue"),
    Change.ESCALATED: Label("Báo cáo cấp trên", "Escalated"),
    Change.ANSWERED: Label("Trả lời", "Answered"),
}

EXTENSION_STATUS: Final[Mapping[ExtensionStatus, Label]] = {
    ExtensionStatus.PENDING: Label("Chờ quyết định", "Pending"),
    ExtensionStatus.GRANTED: Label("Chấp thuận", "Granted"),
    ExtensionStatus.REFUSED: Label("Từ chối", "Refused"),
}

HISTORY_STEP: Final[Mapping[HistoryStep, Label]] = {
    HistoryStep.SUBMITTED: Label("Gửi", "Submitted"),
    HistoryStep.AMENDMENT_REQUESTED: Label("Đề nghị sửa đổi", "Amendment requested"),
    HistoryStep.AMENDED: Label("Sửa đổi", "Amended"),
    HistoryStep.AMENDMENT_REFUSED: Label("Không được sửa đổi", "Amendment refused"),
    HistoryStep.WITHDRAWAL_REQUESTED: Label("Đề nghị rút", "Withdrawal requested"),
    HistoryStep.WITHDRAWN: Label("Rút", "Withdrawn"),
    HistoryStep.WITHDRAWAL_REFUSED: Label("Không được rút", "Withdrawal refused"),
    HistoryStep.ATTACHMENT_ADDED: Label("Đính kèm", "Attachment added"),
    HistoryStep.CASE_OPENED: Label("Mở hồ sơ", "Case opened"),
    HistoryStep.ACKNOWLEDGED: Label("Tiếp nhận", "Acknowledged"),
    HistoryStep.EXTENSION_REQUESTED: Label("Cơ quan xin gia hạn", "Extension requested"),
    HistoryStep.EXTENSION_DECISION_REQUESTED: Label(
        "Quyết định về gia hạn đã gửi", "Extension decision sent"
    ),
    HistoryStep.EXTENSION_DECISION_REFUSED: Label(
        "Quyết định về gia hạn không được áp dụng", "Extension decision refused"
    ),
    HistoryStep.EXTENSION_GRANTED: Label("Chấp thuận gia hạn", "Extension granted"),
    HistoryStep.EXTENSION_REFUSED: Label("Từ chối gia hạn", "Extension refused"),
    HistoryStep.DUE_DATE_CHANGED: Label("Đổi hạn trả lời", "Due date changed"),
    HistoryStep.REMINDER_SENT: Label("Nhắc hạn", "Reminder sent"),
    HistoryStep.OVERDUE: Label("Quá hạn", "Overdue"),
    HistoryStep.ESCALATED: Label("Báo cáo cấp trên", "Escalated"),
    HistoryStep.ANSWERED: Label("Trả lời", "Answered"),
}
"""Entries of a critique's history, as its organisation reads them."""

REQUEST_KIND: Final[Mapping[RequestKind, Label]] = {
    RequestKind.AMENDMENT: Label("Sửa đổi", "Amendment"),
    RequestKind.WITHDRAWAL: Label("Rút", "Withdrawal"),
    RequestKind.EXTENSION_DECISION: Label("Quyết định về gia hạn", "Extension decision"),
}

REQUEST_STATUS: Final[Mapping[RequestStatus, Label]] = {
    RequestStatus.PENDING: Label("Chờ hệ thống theo dõi quyết định", "Pending tracking's decision"),
    RequestStatus.ACCEPTED: Label("Đã chấp nhận", "Accepted"),
    RequestStatus.REFUSED: Label("Bị từ chối", "Refused"),
}
"""A request the organisation made of submission, which tracking decides."""

REFUSAL_REASON: Final[Mapping[RefusalReason, Label]] = {
    RefusalReason.ACKNOWLEDGED: Label("Cơ quan đã tiếp nhận", "The agency acknowledged receipt"),
    RefusalReason.ANSWERED: Label("Cơ quan đã trả lời", "The agency answered"),
    RefusalReason.WITHDRAWN: Label("Đã rút", "It was withdrawn"),
    RefusalReason.VERSION_MISMATCH: Label("Văn bản đã thay đổi", "It changed meanwhile"),
    RefusalReason.EXTENSION_DECIDED: Label("Đã quyết định", "Decided already"),
    RefusalReason.EXTENSION_PENDING: Label(
        "Đề nghị gia hạn khác đang chờ quyết định", "Another extension request is pending"
    ),
    RefusalReason.UNKNOWN_EXTENSION: Label("Không có đề nghị gia hạn", "No such extension"),
    RefusalReason.NO_CASE: Label("Chưa có hồ sơ", "No case"),
    RefusalReason.WITHDRAWAL_PENDING: Label("Đang chờ quyết định rút", "Its withdrawal is pending"),
}

RECORD_STATUS: Final[Mapping[RecordStatus, Label]] = {
    RecordStatus.AWAITING: Label("Đang chờ trả lời", "Awaiting an answer"),
    RecordStatus.ANSWERED: Label("Đã trả lời", "Answered"),
    RecordStatus.ANSWERED_LATE: Label("Trả lời quá hạn", "Answered late"),
    RecordStatus.OVERDUE: Label("Quá hạn, chưa trả lời", "Overdue, no answer"),
    RecordStatus.WITHDRAWN: Label("Đã rút", "Withdrawn"),
}

TIMELINE_STEP: Final[Mapping[TimelineStep, Label]] = {
    TimelineStep.SUBMITTED: Label("Đã gửi", "Submitted"),
    TimelineStep.AMENDED: Label("Đã sửa đổi", "Amended"),
    TimelineStep.CASE_OPENED: Label("Đã chuyển đến cơ quan", "Delivered to the agency"),
    TimelineStep.ACKNOWLEDGED: Label("Cơ quan đã tiếp nhận", "Acknowledged by the agency"),
    TimelineStep.DUE_DATE_CHANGED: Label("Gia hạn trả lời", "Due date extended"),
    TimelineStep.OVERDUE: Label("Quá hạn trả lời", "No answer by the due date"),
    TimelineStep.ANSWERED: Label("Đã trả lời", "Answered"),
    TimelineStep.WITHDRAWN: Label("Đã rút", "Withdrawn"),
}

PUBLICATION_REASON: Final[Mapping[PublicationReason, Label]] = {
    PublicationReason.ANSWERED: Label(
        "Công bố khi cơ quan đã trả lời", "Published once the agency answered"
    ),
    PublicationReason.OVERDUE: Label(
        "Công bố vì quá hạn mà chưa có trả lời", "Published because no answer came by the due date"
    ),
}

REDACTION_KIND: Final[Mapping[RedactionKind, Label]] = {
    RedactionKind.CITIZEN_ID: Label("Số định danh cá nhân (CCCD)", "Citizen ID numbers"),
    RedactionKind.PHONE: Label("Số điện thoại", "Phone numbers"),
    RedactionKind.EMAIL: Label("Địa chỉ thư điện tử", "E-mail addresses"),
    RedactionKind.NAME: Label("Họ tên", "Names"),
}

REDACTION_PLACEHOLDER: Final[Mapping[RedactionKind, str]] = {
    RedactionKind.CITIZEN_ID: "[đã ẩn số định danh / ID number redacted]",
    RedactionKind.PHONE: "[đã ẩn số điện thoại / phone number redacted]",
    RedactionKind.EMAIL: "[đã ẩn thư điện tử / e-mail redacted]",
    RedactionKind.NAME: "[đã ẩn họ tên / name redacted]",
}
"""What stands in a published text where personal data was."""

REDACTION_REASON: Final = Label(
    "Dữ liệu cá nhân, Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15",
    "Personal data, Personal Data Protection Law 91/2025/QH15",
)

DRAFT_TYPE: Final[Mapping[DraftType, Label]] = {
    DraftType.LAW: Label("Luật", "Law"),
    DraftType.ORDINANCE: Label("Pháp lệnh", "Ordinance"),
    DraftType.RESOLUTION: Label("Nghị quyết", "Resolution"),
    DraftType.DECREE: Label("Nghị định", "Decree"),
    DraftType.DECISION: Label("Quyết định", "Decision"),
    DraftType.CIRCULAR: Label("Thông tư", "Circular"),
    DraftType.PROVINCIAL_PLAN: Label("Kế hoạch cấp tỉnh", "Provincial plan"),
    DraftType.OTHER: Label("Văn bản khác", "Other document"),
}
TEXT_CHANGE: Final[Mapping[TextChange, Label]] = {
    TextChange.ADDED: Label("Bổ sung", "Added"),
    TextChange.REMOVED: Label("Bãi bỏ", "Removed"),
    TextChange.CHANGED: Label("Sửa đổi", "Changed"),
}
PART_KIND: Final[Mapping[PartKind, Label]] = {
    PartKind.CHAPTER: Label("Chương", "Chapter"),
    PartKind.SECTION: Label("Mục", "Section"),
    PartKind.ARTICLE: Label("Điều", "Article"),
    PartKind.CLAUSE: Label("Khoản", "Clause"),
    PartKind.POINT: Label("Điểm", "Point"),
}
