"""Submission's pure rules: what a critique's content must be, and which of the organisation's
requests submission may refuse at once (only what tracking already settled for good)."""

from __future__ import annotations

import unicodedata
import uuid

import pytest

from contracts.events import CritiqueKind
from contracts.submission_api import (
    Classification,
    ContentIn,
    CritiqueStatus,
    DraftIn,
    DraftVersionIn,
    PointIn,
)
from services.submission.domain import (
    ClassifiedMaterial,
    HeardVersion,
    InvalidContent,
    advance,
    changeable,
    citations,
    content,
    settled,
)


def body(**changes: object) -> ContentIn:
    fields: dict[str, object] = {
        "title": "Kiến nghị về chợ",
        "points": [PointIn(number=2, text="Niêm yết giá."), PointIn(number=1, text="Công khai.")],
    }
    fields.update(changes)
    return ContentIn.model_validate(fields)


def test_content_is_stored_in_nfc_with_its_points_in_order() -> None:
    decomposed = unicodedata.normalize("NFD", "Kiến nghị về chợ")
    written = content(body(title=decomposed), CritiqueKind.SUPERVISION_RECOMMENDATION)
    assert written.title == "Kiến nghị về chợ"
    assert [p.number for p in written.points] == [1, 2]


def test_a_point_number_used_twice_and_a_social_criticism_without_its_draft_are_named() -> None:
    twice = body(points=[PointIn(number=1, text="a"), PointIn(number=1, text="b")])
    with pytest.raises(InvalidContent) as invalid:
        content(twice, CritiqueKind.SOCIAL_CRITICISM)
    assert [v.field for v in invalid.value.violations] == [
        "points[0].number",
        "points[1].number",
        "draft",
    ]
    draft = DraftIn(title="Dự thảo", drafting_agency="Sở Tư pháp")
    with pytest.raises(InvalidContent) as unversioned:
        content(body(draft=draft), CritiqueKind.SOCIAL_CRITICISM)
    assert [v.field for v in unversioned.value.violations] == ["draft.version"]


def test_classified_material_is_refused_whether_marked_or_stamped() -> None:
    with pytest.raises(ClassifiedMaterial) as marked:
        content(
            body(classification=Classification.SECRET), CritiqueKind.GOVERNMENT_BUILDING_OPINION
        )
    assert marked.value.violation.message == "marked toi_mat"
    with pytest.raises(ClassifiedMaterial) as stamped:
        content(body(title="TỐI MẬT: kế hoạch"), CritiqueKind.GOVERNMENT_BUILDING_OPINION)
    assert "TỐI MẬT" in stamped.value.violation.message


def test_only_what_tracking_settled_for_good_is_refused_at_once() -> None:
    assert not settled(CritiqueStatus.SUBMITTED)
    assert not settled(CritiqueStatus.AWAITING_REPLY)
    for final in (CritiqueStatus.ACKNOWLEDGED, CritiqueStatus.ANSWERED, CritiqueStatus.WITHDRAWN):
        assert settled(final)
        assert not changeable(final)
    assert changeable(CritiqueStatus.AWAITING_REPLY)
    assert not changeable(CritiqueStatus.AWAITING_REPLY, withdrawal_pending=True)


def test_tracking_s_reports_never_move_a_critique_backwards_and_withdrawal_is_final() -> None:
    assert (
        advance(CritiqueStatus.ANSWERED, CritiqueStatus.AWAITING_REPLY) is CritiqueStatus.ANSWERED
    )
    assert advance(CritiqueStatus.WITHDRAWN, CritiqueStatus.ANSWERED) is CritiqueStatus.WITHDRAWN
    assert (
        advance(CritiqueStatus.SUBMITTED, CritiqueStatus.ACKNOWLEDGED)
        is CritiqueStatus.ACKNOWLEDGED
    )


def heard_decree() -> HeardVersion:
    from services.tracking.legal_text import parse_text, to_parts

    text = (
        "NGHỊ ĐỊNH\nĐiều 1. Phạm vi\nĐiều 2. Mức thu\n1. Chợ hạng 1.\na) Cố định: 300.000 đồng.\n"
    )
    return HeardVersion(
        draft_id=uuid.UUID(int=7),
        version=2,
        agency_id="ubnd-xa",
        agency_name="Ủy ban nhân dân xã",
        title="Dự thảo Nghị định về phí chợ",
        parts=to_parts(parse_text(text)),
    )


def cited_body(*cites: list[str]) -> ContentIn:
    return body(
        draft_version=DraftVersionIn(draft_id=uuid.UUID(int=7), version=2),
        points=[PointIn(number=n, text="Ý kiến.", cites=c) for n, c in enumerate(cites, 1)],
    )


def test_citations_are_checked_against_the_version_and_come_with_their_text() -> None:
    written = content(cited_body(["dieu-2.khoan-1.diem-a"], []), CritiqueKind.SOCIAL_CRITICISM)
    named, cited = citations(written, agency_id="ubnd-xa", heard=heard_decree())
    assert named.draft is not None
    assert named.draft.title == "Dự thảo Nghị định về phí chợ"
    assert named.draft.drafting_agency == "Ủy ban nhân dân xã"
    assert [(c.id, c.citation, c.text) for c in cited[1]] == [
        ("dieu-2.khoan-1.diem-a", "điểm a khoản 1 Điều 2", "Cố định: 300.000 đồng.")
    ]
    assert 2 not in cited, "a point citing nothing has no cited parts"


def test_citations_that_no_text_can_show_are_refused_field_by_field() -> None:
    written = content(
        cited_body(["dieu-1"], ["dieu-9", "dieu-2.khoan-3"]), CritiqueKind.SOCIAL_CRITICISM
    )
    with pytest.raises(InvalidContent) as refused:
        citations(written, agency_id="ubnd-phuong", heard=heard_decree())
    assert [v.field for v in refused.value.violations] == ["agency_id", "points[1].cites"]
    assert "dieu-9, dieu-2.khoan-3" in refused.value.violations[1].message
    with pytest.raises(InvalidContent) as unheard:
        citations(written, agency_id="ubnd-xa", heard=None)
    assert [v.field for v in unheard.value.violations] == ["draft_version"]
    with pytest.raises(InvalidContent) as loose:
        content(
            body(points=[PointIn(number=1, text="Ý kiến.", cites=["dieu-1"])]),
            CritiqueKind.SOCIAL_CRITICISM,
        )
    assert [v.field for v in loose.value.violations] == ["draft", "points[0].cites"]
