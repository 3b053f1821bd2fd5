from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.disclosure.domain import (
    DisclosurePolicy,
    RecordStatus,
    RedactionKind,
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
    assert kind.placeholder in hidden
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
        f"Ông {RedactionKind.NAME.placeholder} và bà Lê Thị Hoa"
    )
    assert redact("Nguyễn Văn Anh không liên quan", "title") == "Nguyễn Văn Anh không liên quan"


def test_folding_drops_diacritics_and_dd() -> None:
    assert fold("Quy hoạch Đồng Xuân, đường Điện Biên Phủ") == (
        "quy hoach dong xuan, duong dien bien phu"
    )


def test_the_policy_publishes_answered_and_overdue_records_but_never_withdrawn_ones() -> None:
    policy = DisclosurePolicy()
    common = {"has_content": True, "withdrawn": False}
    assert policy.reason_to_publish(answered=True, overdue=False, **common) == "answered"
    assert policy.reason_to_publish(answered=False, overdue=True, **common) == "overdue"
    assert policy.reason_to_publish(answered=False, overdue=False, **common) is None
    assert (
        policy.reason_to_publish(has_content=True, answered=True, overdue=True, withdrawn=True)
        is None
    )
    quiet = DisclosurePolicy(publish_when_overdue=False)
    assert quiet.reason_to_publish(answered=False, overdue=True, **common) is None


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
