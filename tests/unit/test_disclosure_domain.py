from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.disclosure_api import RecordStatus, RedactionKind
from contracts.vocabulary import REDACTION_PLACEHOLDER
from services.disclosure.domain import (
    DisclosurePolicy,
    Redactor,
    fold,
    status,
)

NOW = datetime(2026, 4, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("CCCD số 001203004567 cấp ngày", RedactionKind.CITIZEN_ID),
        ("gọi 0912345678", RedactionKind.PHONE),
        ("gọi 0912 345 678", RedactionKind.PHONE),
        ("gọi 091.234.5678", RedactionKind.PHONE),
        ("gọi +84 912 345 678", RedactionKind.PHONE),
        ("máy bàn 024 3825 1234", RedactionKind.PHONE),
        ("thư gửi nguyen.van.a@gmail.com nhé", RedactionKind.EMAIL),
    ],
)
def test_personal_data_is_hidden_and_logged_by_kind(text: str, kind: RedactionKind) -> None:
    redact = Redactor()
    hidden = redact(text, "points[0].text")
    assert hidden is not None
    assert REDACTION_PLACEHOLDER[kind] in hidden
    assert [(r.kind, r.field, r.count) for r in redact.log] == [(kind, "points[0].text", 1)]


@pytest.mark.parametrize(
    "text",
    [
        "Năm 2026, kinh phí 1.500.000.000 đồng",
        "Điều 5, khoản 2, Nghị định 100/2019/NĐ-CP",
        "Mã hồ sơ 12345678901 (11 chữ số)",
        "Số 0000",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    redact = Redactor()
    assert redact(text, "title") == text
    assert redact.log == []


def test_names_marked_by_the_submitter_are_hidden_whatever_their_case() -> None:
    redact = Redactor(names=("Nguyễn Văn An",))
    assert redact("Ông NGUYỄN VĂN AN và bà Lê Thị Hoa", "title") == (
        f"Ông {REDACTION_PLACEHOLDER[RedactionKind.NAME]} và bà Lê Thị Hoa"
    )
    assert redact("Nguyễn Văn Anh không liên quan", "title") == "Nguyễn Văn Anh không liên quan"


def test_folding_drops_diacritics_and_dd() -> None:
    assert fold("Quy hoạch Đồng Xuân, đường Điện Biên Phủ") == (
        "quy hoach dong xuan, duong dien bien phu"
    )


def test_the_policy_publishes_answered_and_overdue_records_but_never_withdrawn_ones() -> None:
    policy = DisclosurePolicy()
    common: dict[str, Any] = {"has_content": True, "withdrawn_at": None}
    answered, overdue = NOW, NOW - timedelta(days=1)
    assert policy.publication(answered_at=answered, overdue_at=None, **common) == (
        answered,
        "answered",
    )
    assert policy.publication(answered_at=None, overdue_at=overdue, **common) == (
        overdue,
        "overdue",
    )
    assert policy.publication(answered_at=None, overdue_at=None, **common) is None
    assert (
        policy.publication(
            has_content=False, answered_at=answered, overdue_at=None, withdrawn_at=None
        )
        is None
    )
    quiet = DisclosurePolicy(publish_when_overdue=False)
    assert quiet.publication(answered_at=None, overdue_at=overdue, **common) is None
    assert quiet.publication(answered_at=answered, overdue_at=overdue, **common) == (
        answered,
        "answered",
    )


def test_a_record_is_published_from_the_first_moment_allowed_whatever_was_heard_first() -> None:
    """By the events' own moments: a rebuild hears the two topics in another order."""
    policy = DisclosurePolicy()
    late = NOW
    fell_overdue = NOW - timedelta(days=3)
    assert policy.publication(
        has_content=True, answered_at=late, overdue_at=fell_overdue, withdrawn_at=None
    ) == (fell_overdue, "overdue")
    # Withdrawn once overdue: it was public (its content is hidden since).
    assert policy.publication(
        has_content=True,
        answered_at=None,
        overdue_at=fell_overdue,
        withdrawn_at=fell_overdue + timedelta(hours=1),
    ) == (fell_overdue, "overdue")
    # Withdrawn before it could be public: never.
    assert (
        policy.publication(
            has_content=True,
            answered_at=late,
            overdue_at=None,
            withdrawn_at=late - timedelta(hours=1),
        )
        is None
    )


def test_the_public_status_puts_withdrawal_first_then_the_answer_then_lateness() -> None:
    def of(**moments: object) -> RecordStatus:
        values: dict[str, object] = {
            "answered_at": None,
            "late": None,
            "overdue_at": None,
            "withdrawn_at": None,
        }
        values.update(moments)
        return status(**values)  # type: ignore[arg-type]

    assert of() is RecordStatus.AWAITING
    assert of(overdue_at=NOW) is RecordStatus.OVERDUE
    assert of(overdue_at=NOW, answered_at=NOW, late=True) is RecordStatus.ANSWERED_LATE
    assert of(answered_at=NOW, late=False) is RecordStatus.ANSWERED
    assert of(overdue_at=NOW, withdrawn_at=NOW) is RecordStatus.WITHDRAWN
