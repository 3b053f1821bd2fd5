"""A draft's DOCX or text file read into its structure (services.tracking.draft_files)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import docx
import pytest
from docx.oxml import parse_xml

from contracts.events import DraftFormat
from services.tracking.draft_files import FileRefused, read
from services.tracking.legal_text import TextRefused

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

# khoản as "%1." and điểm as "%2)": how drafting agencies number them with Word's lists
NUMBERING = f"""
<w:abstractNum {W} w:abstractNumId="90">
  <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
  <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/>
    <w:lvlText w:val="%2)"/></w:lvl>
</w:abstractNum>
"""


def _numbered_lists(document: Any, count: int) -> list[str]:
    """``count`` lists of one definition (each article restarts its clauses at 1)."""
    root = document.part.numbering_part.element
    first = root.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}num")
    abstract = parse_xml(NUMBERING)
    if first is not None:
        first.addprevious(abstract)
    else:
        root.append(abstract)
    ids = []
    for n in range(count):
        num_id = str(900 + n)
        root.append(
            parse_xml(f'<w:num {W} w:numId="{num_id}"><w:abstractNumId w:val="90"/></w:num>')
        )
        ids.append(num_id)
    return ids


def _numbered(document: Any, text: str, num_id: str, level: int) -> None:
    paragraph = document.add_paragraph(text)
    paragraph._p.get_or_add_pPr().append(
        parse_xml(f'<w:numPr {W}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>')
    )


def _saved(document: Any) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_docx_with_words_automatic_numbering_is_structured_as_printed() -> None:
    document = docx.Document()
    document.add_paragraph("NGHỊ ĐỊNH")
    document.add_paragraph("Chương I")
    document.add_paragraph("QUY ĐỊNH CHUNG")
    first, second = _numbered_lists(document, 2)
    document.add_paragraph("Điều 1. Đối tượng áp dụng")
    _numbered(document, "Ủy ban Mặt trận Tổ quốc các cấp.", first, 0)
    _numbered(document, "Cơ quan nhà nước, gồm:", first, 0)
    for name in ("bộ", "cơ quan ngang bộ", "cơ quan thuộc Chính phủ", "Ủy ban nhân dân", "sở"):
        _numbered(document, f"Các {name};", first, 1)
    document.add_paragraph("Điều 2. Hiệu lực")
    _numbered(document, "Nghị định có hiệu lực từ ngày ký.", second, 0)
    data = _saved(document)

    draft = read(data, DraftFormat.DOCX)
    index = draft.structure.index()
    assert list(index) == [
        "chuong-1",
        "dieu-1",
        "dieu-1.khoan-1",
        "dieu-1.khoan-2",
        "dieu-1.khoan-2.diem-a",
        "dieu-1.khoan-2.diem-b",
        "dieu-1.khoan-2.diem-c",
        "dieu-1.khoan-2.diem-d",
        "dieu-1.khoan-2.diem-dd",  # Word's fifth letter is "e"; the law's is "đ"
        "dieu-2",
        "dieu-2.khoan-1",
    ]
    assert index["dieu-1.khoan-2.diem-dd"].title == "Các sở;"
    assert index["chuong-1"].title == "QUY ĐỊNH CHUNG"
    assert draft.sha256 == hashlib.sha256(data).hexdigest()
    assert draft.size == len(data)


def test_a_docx_whose_numbering_breaks_is_refused_naming_the_paragraph() -> None:
    document = docx.Document()
    document.add_paragraph("Điều 1. Phạm vi")
    document.add_paragraph("1. Một.")
    document.add_paragraph("3. Ba.")
    with pytest.raises(TextRefused) as refused:
        read(_saved(document), DraftFormat.DOCX)
    assert refused.value.line == 3
    assert refused.value.english == "khoản 3 follows khoản 1 in Điều 1, expected khoản 2"


def test_what_is_not_a_docx_or_not_utf8_is_refused_saying_so() -> None:
    with pytest.raises(FileRefused, match="not a readable DOCX file"):
        read(b"Dieu 1. not a zip", DraftFormat.DOCX)
    with pytest.raises(FileRefused, match="the file is empty"):
        read(b"", DraftFormat.TEXT)
    with pytest.raises(TextRefused) as refused:
        read("Điều 1. Phạm vi\nNội dung\n".encode() + b"\xff\xfe bad\n", DraftFormat.TEXT)
    assert refused.value.line == 3
    assert "not UTF-8" in refused.value.english


def test_a_text_file_with_a_byte_order_mark_is_read() -> None:
    data = "\ufeffĐiều 1. Phạm vi\n1. Khoản một.\n".encode()
    draft = read(data, DraftFormat.TEXT)
    assert list(draft.structure.index()) == ["dieu-1", "dieu-1.khoan-1"]
    assert draft.format is DraftFormat.TEXT
