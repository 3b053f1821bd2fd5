from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.disclosure_api import PublicRecord, RecordStatus, RedactionKind
from contracts.vocabulary import REDACTION_PLACEHOLDER
from services.disclosure.domain import (
    WITHDRAWN_TITLE,
    DisclosurePolicy,
    Redactor,
    canonical,
    fold,
    public_document,
    shown_answer,
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


def raw_record(**columns: Any) -> dict[str, Any]:
    """A row of the raw read model as the store reads it: answered on time by default."""
    row: dict[str, Any] = {
        "critique_id": uuid.UUID("0b6f3c1e-8a51-4f57-9d7e-3f1c2a6b9e01"),
        "organisation_id": "mttq-phuong-kinh-bac-bac-ninh",
        "organisation_name": "Ủy ban MTTQ Việt Nam phường Kinh Bắc",
        "organisation_level": "commune",
        "agency_id": "ubnd-phuong-kinh-bac-bac-ninh",
        "kind": "supervision_recommendation",
        "title": "Kiến nghị về quy hoạch chợ",
        "submitted_at": NOW - timedelta(days=10),
        "due_date": date(2026, 5, 1),
        "due_rule": None,
        "answered_at": NOW,
        "answered_late": False,
        "overdue_at": None,
        "withdrawn_at": None,
        "redact_names": [],
        "version": 1,
        "answered_version": 1,
        "draft": None,
        "draft_version": None,
    }
    row.update(columns)
    return row


POINTS = [
    {
        "number": 1,
        "text": "Liên hệ ông Ba qua số 0912345678.",
        "citation": "Điều 5",
        "cites": [],
        "disposition": "accepted",
        "explanation": None,
    }
]
TIMELINE = [
    {"at": NOW - timedelta(days=10), "step": "submitted"},
    {"at": NOW, "step": "answered"},
]
AGENCY = {"name": "UBND phường Kinh Bắc", "level": "commune"}


def document_of(row: dict[str, Any], **given: Any) -> tuple[PublicRecord, str]:
    parts: dict[str, Any] = {"points": POINTS, "timeline": TIMELINE, "agency": AGENCY}
    parts.update(given)
    return public_document(row, published_at=NOW, reason="answered", **parts)


def test_the_public_document_shows_each_point_with_its_answer_and_personal_data_hidden() -> None:
    record, _ = document_of(raw_record())
    assert (record.status, record.publication_reason, record.published_at) == (
        "answered",
        "answered",
        NOW,
    )
    assert (record.agency.name, record.agency.level) == ("UBND phường Kinh Bắc", "commune")
    (point,) = record.points
    assert point.text == f"Liên hệ ông Ba qua số {REDACTION_PLACEHOLDER[RedactionKind.PHONE]}."
    assert (point.citation, point.disposition) == ("Điều 5", "accepted")
    assert [(r.field, r.kind, r.count) for r in record.redactions] == [
        ("points[0].text", "phone", 1)
    ]
    assert [step.step for step in record.timeline] == ["submitted", "answered"]


def test_the_search_text_is_the_published_text_folded() -> None:
    _, search_text = document_of(raw_record())
    assert "quy hoach cho" in search_text
    assert "0912345678" not in search_text  # only what the public may read


def test_a_withdrawn_critique_stays_public_without_its_title_or_points() -> None:
    record, search_text = document_of(raw_record(answered_at=None, withdrawn_at=NOW))
    assert (record.status, record.title, record.points) == ("withdrawn", WITHDRAWN_TITLE, [])
    assert record.redactions == []
    assert "quy hoach" not in search_text


def test_an_agency_not_yet_in_the_directory_is_named_by_its_id_only() -> None:
    record, _ = document_of(raw_record(), agency=None)
    assert (record.agency.id, record.agency.name, record.agency.level) == (
        "ubnd-phuong-kinh-bac-bac-ninh",
        None,
        None,
    )


def test_the_canonical_bytes_are_compact_utf8_json_with_sorted_keys() -> None:
    record, _ = document_of(raw_record())
    published = canonical(record)
    # No space after a colon, and UTF-8 rather than \u escapes.
    assert '"title":"Kiến nghị về quy hoạch chợ"'.encode() in published
    decoded = json.loads(published)
    assert list(decoded) == sorted(decoded)
    assert list(decoded["organisation"]) == sorted(decoded["organisation"])
    assert PublicRecord.model_validate_json(published) == record


def test_an_answer_is_shown_only_beside_the_version_it_answers() -> None:
    def shown(held: int, answered: int | None) -> datetime | None:
        return shown_answer(answered_at=NOW, answered_version=answered, version=held)

    assert shown(2, 2) == NOW
    assert shown(1, 2) is None  # the amended text it answers has not arrived yet
    assert shown(3, None) == NOW  # recorded before answers named their version
    assert shown_answer(answered_at=None, answered_version=None, version=1) is None


def test_a_record_holding_an_older_version_than_the_answer_shows_neither_answers_nor_answered() -> (
    None
):
    points = [
        {
            "number": 1,
            "text": "Công khai quy hoạch.",
            "citation": None,
            "cites": [],
            "disposition": "accepted",
            "explanation": "",
        }
    ]
    record, _ = public_document(
        raw_record(version=1, answered_version=2, overdue_at=NOW - timedelta(days=1)),
        points=points,
        timeline=[],
        agency=None,
        published_at=NOW,
        reason="overdue",
    )
    assert record.status == "overdue"
    assert record.answered_at is None
    assert record.answered_version is None
    assert [p.disposition for p in record.points] == [None]


def test_a_record_names_its_draft_version_and_shows_the_text_each_point_cites() -> None:
    from services.tracking.legal_text import parse_text, to_parts

    parts = to_parts(parse_text("NGHỊ ĐỊNH\nĐiều 1. Phạm vi\n1. Chợ hạng 1.\n2. Chợ hạng 2.\n"))
    version = '{"draft_id": "00000000-0000-0000-0000-000000000007", "version": 2}'
    cited_points = [{**POINTS[0], "cites": ["dieu-1.khoan-2"]}]
    row = raw_record(draft_version=version)
    record, _ = document_of(row, points=cited_points, parts=parts)
    assert record.draft_version is not None
    assert record.draft_version.version == 2
    [point] = record.points
    assert point.cites == ["dieu-1.khoan-2"]
    assert [(c.citation, c.text) for c in point.cited] == [("khoản 2 Điều 1", "Chợ hạng 2.")]
    unheard, _ = document_of(row, points=cited_points)
    assert unheard.points[0].cites == ["dieu-1.khoan-2"]
    assert unheard.points[0].cited == [], "the text comes once the version is heard of"
    withdrawn, _ = document_of(raw_record(draft_version=version, withdrawn_at=NOW), parts=parts)
    assert withdrawn.draft_version is None
