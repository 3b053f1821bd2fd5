"""A draft's text structured by Vietnamese legal numbering (services.tracking.legal_text)."""

from __future__ import annotations

import unicodedata

import pytest

from contracts.drafts import UnknownParts
from contracts.events import PartKind, TextChange
from services.tracking.legal_text import (
    TextRefused,
    citation,
    cite,
    diff,
    from_parts,
    parse_text,
    to_parts,
)

DECREE = """\
CHÍNH PHỦ
Số: /2026/NĐ-CP

NGHỊ ĐỊNH
Quy định chi tiết một số điều của Luật Mặt trận Tổ quốc Việt Nam

Căn cứ Luật Tổ chức Chính phủ ngày 18 tháng 02 năm 2025;

Chương I
QUY ĐỊNH CHUNG

Điều 1. Phạm vi điều chỉnh
Nghị định này quy định chi tiết về giám sát và phản biện xã hội.

Điều 2. Đối tượng áp dụng
1. Ủy ban Mặt trận Tổ quốc Việt Nam các cấp.
2. Cơ quan, tổ chức có liên quan, gồm:
a) Cơ quan nhà nước ở trung ương;
b) Ủy ban nhân dân cấp tỉnh;
c) Ủy ban nhân dân cấp xã;
d) Đơn vị sự nghiệp công lập;
đ) Doanh nghiệp nhà nước.
Các cơ quan trên có trách nhiệm phối hợp.

Chương II. PHẢN BIỆN XÃ HỘI

Mục 1. TIẾP NHẬN DỰ THẢO

Điều 3. Gửi dự thảo
Cơ quan chủ trì soạn thảo gửi hồ sơ chậm nhất 15 ngày.

Điều 3a. Hồ sơ gửi phản biện
a) Dự thảo văn bản;
b) Tờ trình.

Mục 2
TRẢ LỜI

Điều 4. Văn bản trả lời
1. Cơ quan chủ trì trả lời bằng văn bản.
2. Nêu rõ nội dung tiếp thu.
"""


def test_a_decree_is_structured_into_chapters_sections_articles_clauses_and_points() -> None:
    structure = parse_text(DECREE)
    assert structure.preamble[0] == "CHÍNH PHỦ"
    assert structure.preamble[-1].startswith("Căn cứ Luật Tổ chức Chính phủ")
    assert [(p.id, p.title) for p in structure.parts] == [
        ("chuong-1", "QUY ĐỊNH CHUNG"),
        ("chuong-2", "PHẢN BIỆN XÃ HỘI"),
    ]
    index = structure.index()
    assert list(index) == [
        "chuong-1",
        "dieu-1",
        "dieu-2",
        "dieu-2.khoan-1",
        "dieu-2.khoan-2",
        "dieu-2.khoan-2.diem-a",
        "dieu-2.khoan-2.diem-b",
        "dieu-2.khoan-2.diem-c",
        "dieu-2.khoan-2.diem-d",
        "dieu-2.khoan-2.diem-dd",
        "chuong-2",
        "chuong-2.muc-1",
        "dieu-3",
        "dieu-3a",
        "dieu-3a.diem-a",
        "dieu-3a.diem-b",
        "chuong-2.muc-2",
        "dieu-4",
        "dieu-4.khoan-1",
        "dieu-4.khoan-2",
    ]
    assert index["dieu-1"].title == "Phạm vi điều chỉnh"
    assert index["dieu-1"].text == [
        "Nghị định này quy định chi tiết về giám sát và phản biện xã hội."
    ]
    assert index["dieu-2.khoan-2"].title == "Cơ quan, tổ chức có liên quan, gồm:"
    # a paragraph after the last point belongs to it (the text a citation of it shows)
    assert index["dieu-2.khoan-2.diem-dd"].text == ["Các cơ quan trên có trách nhiệm phối hợp."]
    assert index["dieu-2.khoan-2.diem-dd"].number == "đ"
    assert index["chuong-2.muc-2"].title == "TRẢ LỜI"
    assert index["dieu-3a"].kind is PartKind.ARTICLE
    assert index["dieu-3a"].number == "3a"
    assert [a.number for a in structure.articles()] == ["1", "2", "3", "3a", "4"]
    assert index["dieu-4"].line == DECREE.splitlines().index("Điều 4. Văn bản trả lời") + 1


def test_citations_name_the_smallest_part_first() -> None:
    structure = parse_text(DECREE)
    assert citation(structure, "dieu-2.khoan-2.diem-dd") == "điểm đ khoản 2 Điều 2"
    assert citation(structure, "dieu-4.khoan-1") == "khoản 1 Điều 4"
    assert citation(structure, "dieu-3a.diem-b") == "điểm b Điều 3a"
    assert citation(structure, "dieu-1") == "Điều 1"
    assert citation(structure, "chuong-2.muc-1") == "Mục 1"
    with pytest.raises(KeyError):
        citation(structure, "dieu-9")


def test_markdown_and_decomposed_unicode_give_the_same_structure() -> None:
    markdown = (
        DECREE.replace("Chương I\n", "# Chương I\n")
        .replace("Điều 1. Phạm vi", "## **Điều 1.** Phạm vi")
        .replace("a) Cơ quan nhà nước", "- a) Cơ quan nhà nước")
        .replace("Mục 2\n", "### Mục 2\n")
    )
    plain = parse_text(DECREE)
    for text in (markdown, unicodedata.normalize("NFD", DECREE)):
        other = parse_text(text)
        assert [(p.id, p.title, p.text) for p in other.walk()] == [
            (p.id, p.title, p.text) for p in plain.walk()
        ]


@pytest.mark.parametrize(
    ("change", "line_of", "english"),
    [
        (("Điều 3. Gửi", "Điều 5. Gửi"), "Điều 5. Gửi", "Điều 5 follows Điều 2, expected Điều 3"),
        (
            ("2. Cơ quan, tổ chức", "3. Cơ quan, tổ chức"),
            "3. Cơ quan, tổ chức",
            "khoản 3 follows khoản 1 in Điều 2, expected khoản 2",
        ),
        (
            ("c) Ủy ban", "d) Ủy ban"),
            "d) Ủy ban",
            "điểm d follows điểm b in khoản 2 Điều 2, expected điểm c",
        ),
        (
            ("đ) Doanh", "e) Doanh"),
            "e) Doanh",
            "điểm e follows điểm d in khoản 2 Điều 2, expected điểm đ",
        ),
        (
            ("Điều 3a. Hồ sơ", "Điều 3b. Hồ sơ"),
            "Điều 3b. Hồ sơ",
            "Điều 3b follows Điều 3, expected Điều 4",
        ),
        (("Mục 2\n", "Mục 3\n"), "Mục 3", "Mục 3 follows Mục 1, expected Mục 2"),
        (
            ("Chương II.", "Chương III."),
            "Chương III.",
            "Chương III follows Chương I, expected Chương II",
        ),
        (
            ("Điều 1. Phạm vi", "Điều 2. Phạm vi"),
            "Điều 2. Phạm vi",
            "Điều 2 comes first, expected Điều 1",
        ),
    ],
)
def test_numbering_that_skips_or_repeats_is_refused_naming_the_line(
    change: tuple[str, str], line_of: str, english: str
) -> None:
    text = DECREE.replace(*change)
    assert text != DECREE
    with pytest.raises(TextRefused) as refused:
        parse_text(text)
    line = next(n for n, raw in enumerate(text.splitlines(), start=1) if raw.startswith(line_of))
    assert refused.value.line == line
    assert refused.value.english == english
    assert str(refused.value).startswith(f"dòng {line}: ")


def test_a_text_without_articles_or_with_parts_out_of_place_is_refused() -> None:
    with pytest.raises(TextRefused, match="no article"):
        parse_text("NGHỊ ĐỊNH\nVề việc gì đó\n1. Không phải điều.\n")
    with pytest.raises(TextRefused, match=r"line 1: Mục 1 is outside any chapter"):
        parse_text("Mục 1. A\nĐiều 1. B\n")
    with pytest.raises(TextRefused, match=r"line 2: Chương I follows articles that are in no"):
        parse_text("Điều 1. A\nChương I. B\nĐiều 2. C\n")
    with pytest.raises(TextRefused, match=r"line 3: Điều 2 has no title"):
        parse_text("Điều 1. A\n\nĐiều 2.\n")


def test_lines_that_only_look_like_numbering_are_text() -> None:
    structure = parse_text(
        "Điều 1. Hiệu lực\nNghị định có hiệu lực từ năm\n2027. Bãi bỏ các quy định trái.\n"
        "Chương trình công tác năm sau do Chính phủ ban hành.\n"
    )
    article = structure.index()["dieu-1"]
    assert article.children == []
    assert article.text[1] == "2027. Bãi bỏ các quy định trái."
    assert article.text[2].startswith("Chương trình")


def test_the_diff_between_versions_names_each_part_added_removed_or_changed() -> None:
    after = (
        DECREE.replace("chậm nhất 15 ngày.", "chậm nhất 20 ngày.")
        .replace(
            "d) Đơn vị sự nghiệp công lập;\nđ) Doanh nghiệp nhà nước.\n",
            "d) Doanh nghiệp nhà nước.\n",
        )
        .replace(
            "2. Nêu rõ nội dung tiếp thu.\n",
            "2. Nêu rõ nội dung tiếp thu.\n3. Giải trình nội dung không tiếp thu.\n",
        )
    )
    changes = diff(parse_text(DECREE), parse_text(after))
    assert [(c.id, c.change) for c in changes] == [
        ("dieu-2.khoan-2.diem-d", TextChange.CHANGED),
        ("dieu-2.khoan-2.diem-dd", TextChange.REMOVED),
        ("dieu-3", TextChange.CHANGED),
        ("dieu-4.khoan-3", TextChange.ADDED),
    ]
    assert changes[0].before == "Đơn vị sự nghiệp công lập;"
    assert changes[0].after == "Doanh nghiệp nhà nước.\nCác cơ quan trên có trách nhiệm phối hợp."
    assert changes[2].after == "Gửi dự thảo\nCơ quan chủ trì soạn thảo gửi hồ sơ chậm nhất 20 ngày."
    assert changes[3].before is None
    assert diff(parse_text(DECREE), parse_text(DECREE)) == []


def test_a_citation_shows_the_cited_text_and_names_every_unknown_part() -> None:
    structure = parse_text(DECREE)
    cited = cite(structure, ["dieu-2.khoan-2", "dieu-4.khoan-1", "dieu-2.khoan-2"])
    assert [(c.id, c.citation) for c in cited] == [
        ("dieu-2.khoan-2", "khoản 2 Điều 2"),
        ("dieu-4.khoan-1", "khoản 1 Điều 4"),
    ]
    assert cited[0].text.splitlines() == [
        "Cơ quan, tổ chức có liên quan, gồm:",
        "a) Cơ quan nhà nước ở trung ương;",
        "b) Ủy ban nhân dân cấp tỉnh;",
        "c) Ủy ban nhân dân cấp xã;",
        "d) Đơn vị sự nghiệp công lập;",
        "đ) Doanh nghiệp nhà nước.",
        "Các cơ quan trên có trách nhiệm phối hợp.",
    ]
    assert cite(structure, ["chuong-2.muc-2"])[0].text.splitlines()[:2] == [
        "TRẢ LỜI",
        "Điều 4. Văn bản trả lời",
    ]
    with pytest.raises(UnknownParts) as refused:
        cite(structure, ["dieu-1", "dieu-9", "dieu-2.khoan-3"])
    assert refused.value.unknown == ["dieu-9", "dieu-2.khoan-3"]
    assert "the draft version has no part dieu-9, dieu-2.khoan-3" in str(refused.value)


def test_the_structure_travels_as_parts_in_document_order_and_comes_back_whole() -> None:
    structure = parse_text(DECREE)
    parts = to_parts(structure)
    assert [p.id for p in parts] == [p.id for p in structure.walk()]
    by_id = {p.id: p for p in parts}
    assert by_id["dieu-2.khoan-2.diem-dd"].parent_id == "dieu-2.khoan-2"
    assert by_id["dieu-2.khoan-2.diem-dd"].citation == "điểm đ khoản 2 Điều 2"
    back = from_parts(structure.preamble, parts)
    assert back.preamble == structure.preamble
    assert diff(structure, back) == []
    assert [p.id for p in back.walk()] == [p.id for p in structure.walk()]
    assert cite(back, ["dieu-2"]) == cite(structure, ["dieu-2"])
