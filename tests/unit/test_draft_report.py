"""The consolidated report of a draft version (services.disclosure.reports) and its PDF
(services.disclosure.report_pdf), read back with pdftotext as a reader's tools would."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.disclosure_api import PublicRecord
from contracts.events import (
    AnsweredPoint,
    DraftFormat,
    DraftVersionRegistered,
    PartDifference,
    TextChange,
    UptakeLink,
    WindowFacts,
)
from services.disclosure.domain import public_draft
from services.disclosure.report_pdf import fonts_present, render
from services.disclosure.reports import NoSuchVersion, draft_report
from services.tracking.legal_text import parse_text, to_parts

DRAFT = uuid.UUID(int=7)
AT = datetime(2027, 3, 1, 2, tzinfo=UTC)
FIRST = "NGHỊ ĐỊNH\nĐiều 1. Phạm vi\nĐiều 2. Mức thu\n1. Cố định:\na) Chợ hạng 1: 300.000 đồng;\n"
WINDOW = WindowFacts(
    received_on=date(2027, 3, 1),
    planned_on=date(2027, 3, 6),
    closes_on=date(2027, 3, 5),
    latest_receipt_on=date(2027, 2, 19),
    days_given=5,
    minimum_days=15,
    sent_late=True,
    explanation="Mặt trận nhận ngày 01/03/2027: 5 ngày; ít hơn 15 ngày luật định",
)


def version(number: int, **facts: Any) -> DraftVersionRegistered:
    return DraftVersionRegistered(
        draft_id=DRAFT,
        agency_id="ubnd-tinh",
        version=number,
        received_at=AT + timedelta(days=30 * (number - 1)),
        file_format=DraftFormat.TEXT,
        file_name=f"du-thao-{number}.txt",
        file_size=100,
        sha256="0" * 64,
        parts=to_parts(parse_text(FIRST)),
        window=WINDOW,
        **facts,
    )


def record(critique: int, points: list[dict[str, Any]], status: str = "answered") -> PublicRecord:
    return PublicRecord.model_validate(
        {
            "critique_id": str(uuid.UUID(int=critique)),
            "organisation": {
                "id": f"mttq-{critique}",
                "name": f"Ủy ban MTTQ xã {critique}",
                "level": "commune",
            },
            "agency": {"id": "ubnd-tinh", "name": "Ủy ban nhân dân tỉnh"},
            "kind": "social_criticism",
            "title": "Phản biện",
            "status": status,
            "status_label": status,
            "submitted_at": (AT + timedelta(days=critique)).isoformat(),
            "due_date": None,
            "due_rule": None,
            "answered_at": AT.isoformat(),
            "overdue_at": None,
            "published_at": AT.isoformat(),
            "publication_reason": "answered",
            "points": [
                {"citation": None, "explanation": None, "disposition": None, **p} for p in points
            ],
            "draft_version": {"draft_id": str(DRAFT), "version": 1},
            "timeline": [],
            "redactions": [],
        }
    )


def the_draft() -> Any:
    second = version(
        2,
        changes=(PartDifference(part_id="dieu-2.khoan-1.diem-a", change=TextChange.CHANGED),),
        links=(
            UptakeLink(
                critique_id=uuid.UUID(int=1),
                case_id=uuid.UUID(int=11),
                point_number=1,
                part_ids=("dieu-2.khoan-1.diem-a",),
            ),
        ),
        accepted_unchanged=(
            AnsweredPoint(critique_id=uuid.UUID(int=2), case_id=uuid.UUID(int=12), point_number=1),
        ),
    )
    row = {
        "id": DRAFT,
        "draft_type": "decree",
        "title": "Dự thảo Nghị định về phí chợ",
        "agency_id": "ubnd-tinh",
        "issuing_authority": "Chính phủ",
        "registered_at": AT,
    }
    return public_draft(
        row,
        versions=[version(1), second],
        sent=None,
        agency={"name": "UBND tỉnh", "level": "provincial"},
    )


RECORDS = [
    record(
        1,
        [
            {
                "number": 1,
                "text": "Mức thu quá cao.",
                "cites": ["dieu-2.khoan-1.diem-a"],
                "disposition": "accepted",
            }
        ],
    ),
    record(
        2,
        [
            {
                "number": 1,
                "text": "Cần miễn cho hộ nghèo.",
                "cites": ["dieu-2", "dieu-2.khoan-1.diem-a"],
                "disposition": "partly_accepted",
                "explanation": "Sẽ xem xét ở nghị định khác.",
            },
            {
                "number": 2,
                "text": "Cần lấy ý kiến tiểu thương.",
                "disposition": "not_accepted",
                "explanation": "Đã lấy ý kiến.",
            },
        ],
        status="answered_late",
    ),
]


def test_every_point_is_under_each_part_it_cites_with_its_answer_and_what_followed() -> None:
    report = draft_report(the_draft(), 1, RECORDS)
    assert [
        (p.part_id, [(str(x.critique_id)[-1], x.point_number) for x in p.points])
        for p in report.parts
    ] == [
        ("dieu-2", [("2", 1)]),
        ("dieu-2.khoan-1.diem-a", [("1", 1), ("2", 1)]),
        (None, [("2", 2)]),
    ]
    diem_a = report.parts[1]
    assert diem_a.citation == "điểm a khoản 1 Điều 2"
    assert diem_a.next_change == "changed"
    assert [p.taken_in for p in diem_a.points] == [True, False]
    assert diem_a.points[1].answered_late
    assert diem_a.points[1].disposition_label == "Tiếp thu một phần / Partly accepted"
    totals = report.totals
    assert (totals.critiques, totals.points, totals.accepted, totals.partly_accepted) == (
        2,
        3,
        1,
        1,
    )
    assert (totals.not_accepted, totals.unanswered, totals.answered_late) == (1, 0, 1)
    assert report.next_version == 2
    assert [(a.organisation, a.point_number) for a in report.accepted_unchanged] == [
        ("Ủy ban MTTQ xã 2", 1)
    ]
    assert draft_report(the_draft(), 2, RECORDS).parts == [], "no critique of version 2"
    with pytest.raises(NoSuchVersion):
        draft_report(the_draft(), 3, RECORDS)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext: `make tools` installs it")
@pytest.mark.skipif(not fonts_present(), reason="fonts-dejavu-core: `make tools` installs it")
def test_the_pdf_reads_back_in_vietnamese_word_for_word(tmp_path: Path) -> None:
    report = draft_report(the_draft(), 1, RECORDS)
    pdf = render(report)
    assert pdf.startswith(b"%PDF-")
    assert render(report) == pdf, "the same report gives the same bytes"
    (tmp_path / "report.pdf").write_bytes(pdf)
    read = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(tmp_path / "report.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    flat = " ".join(read.split())
    for expected in (
        "BÁO CÁO TIẾP THU, GIẢI TRÌNH Ý KIẾN PHẢN BIỆN XÃ HỘI",
        "Dự thảo Nghị định về phí chợ",
        "điểm a khoản 1 Điều 2",
        "Chợ hạng 1: 300.000 đồng;",
        "Tiếp thu một phần / Partly accepted (trả lời quá hạn / answered late)",
        "Giải trình / Explanation: Sẽ xem xét ở nghị định khác.",
        "GỬI MẶT TRẬN MUỘN",
        "Ủy ban MTTQ xã 2, điểm 1",
        "Accepted, yet unchanged: Ủy ban MTTQ xã 2, điểm 1 / point 1",
        "Trang 1/",
    ):
        assert expected in flat, (expected, flat[:2000])
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / "report.pdf")], check=True, capture_output=True, text=True
    ).stdout
    assert "BÁO CÁO TIẾP THU" in info
