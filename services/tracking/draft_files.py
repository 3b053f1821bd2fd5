"""A draft's file read into the lines :mod:`services.tracking.legal_text` structures. No I/O
beyond the bytes it is given.

Agencies send DOCX (read with the maintained ``python-docx``) or plain text / Markdown in UTF-8.
In DOCX, Word's automatic numbering is part of the text as a reader sees it, so the numbers are
rendered from the document's numbering definitions ("1.", "a)"): a lettered list counts in the
Vietnamese alphabet of điểm (a, b, c, d, đ, e…), as the drafter means it, not in Word's Latin one.
The original file is kept by its SHA-256, so anyone can check the text came from it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError

from contracts.events import DraftFormat
from services.tracking.legal_text import POINT_LETTERS, Structure, TextRefused, parse, to_roman

MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class DraftFile:
    structure: Structure
    sha256: str
    format: DraftFormat
    size: int


class FileRefused(ValueError):
    """The file cannot be read as a draft: says why, and where when it can."""


def read(data: bytes, format: DraftFormat) -> DraftFile:
    """The file's structure and digest; :class:`FileRefused` or :class:`TextRefused` if not."""
    if not data:
        raise FileRefused("tệp rỗng / the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(
            f"tệp lớn hơn {MAX_FILE_BYTES} byte / the file is larger than {MAX_FILE_BYTES} bytes"
        )
    lines = docx_lines(data) if format is DraftFormat.DOCX else text_lines(data)
    return DraftFile(
        structure=parse(lines),
        sha256=hashlib.sha256(data).hexdigest(),
        format=format,
        size=len(data),
    )


def text_lines(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TextRefused(line, "không phải UTF-8", f"not UTF-8 (byte {error.start})") from None
    return text.splitlines()


def docx_lines(data: bytes) -> list[str]:
    """One line per paragraph (tables' cells too, in order), automatic numbers rendered."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise FileRefused(
            f"không phải tệp DOCX đọc được / not a readable DOCX file ({error})"
        ) from None
    numbering = _Numbering(document)
    body = document.element.body
    return [numbering.render(paragraph) + _text(paragraph) for paragraph in body.iter(_w("p"))]


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _w(name: str) -> str:
    return f"{{{_W}}}{name}"


def _text(paragraph: Any) -> str:
    parts: list[str] = []
    for node in paragraph.iter(_w("t"), _w("tab"), _w("br")):
        if node.tag == _w("t"):
            parts.append(node.text or "")
        else:
            parts.append(" ")
    return "".join(parts)


class _Numbering:
    """Word's automatic numbering, counted as the paragraphs come."""

    def __init__(self, document: Any) -> None:
        self._levels: dict[str, dict[int, tuple[int, str, str]]] = {}
        self._counters: dict[str, list[int | None]] = {}
        self._style_numbering: dict[str, tuple[str, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return
        abstract: dict[str, dict[int, tuple[int, str, str]]] = {}
        for definition in root.iter(_w("abstractNum")):
            levels = {}
            for level in definition.iter(_w("lvl")):
                levels[int(level.get(_w("ilvl")))] = (
                    int(_value(level, "start") or 1),
                    _value(level, "numFmt") or "decimal",
                    _value(level, "lvlText") or "",
                )
            abstract[definition.get(_w("abstractNumId"))] = levels
        for num in root.iter(_w("num")):
            levels = dict(abstract.get(_value(num, "abstractNumId") or "", {}))
            for override in num.iter(_w("lvlOverride")):
                ilvl = int(override.get(_w("ilvl")))
                if (start := _value(override, "startOverride")) is not None and ilvl in levels:
                    _, fmt, text = levels[ilvl]
                    levels[ilvl] = (int(start), fmt, text)
            self._levels[num.get(_w("numId"))] = levels
        for style in document.styles.element.iter(_w("style")):
            num_pr = style.find(f"{_w('pPr')}/{_w('numPr')}")
            if num_pr is not None and (num_id := _value(num_pr, "numId")) is not None:
                self._style_numbering[style.get(_w("styleId"))] = (
                    num_id,
                    int(_value(num_pr, "ilvl") or 0),
                )

    def render(self, paragraph: Any) -> str:
        number = self._numbering_of(paragraph)
        if number is None:
            return ""
        num_id, ilvl = number
        levels = self._levels.get(num_id)
        if not levels or ilvl not in levels:
            return ""
        counters = self._counters.setdefault(num_id, [None] * 9)
        start = levels[ilvl][0]
        current = counters[ilvl]
        counters[ilvl] = start if current is None else current + 1
        for deeper in range(ilvl + 1, len(counters)):
            counters[deeper] = None
        _, fmt, text = levels[ilvl]
        if fmt == "bullet":
            return "- "
        for level in range(ilvl + 1):
            level_start, level_format, _ = levels.get(level, (1, "decimal", ""))
            value = counters[level]
            text = text.replace(
                f"%{level + 1}", _format(level_start if value is None else value, level_format)
            )
        return f"{text} " if text else ""

    def _numbering_of(self, paragraph: Any) -> tuple[str, int] | None:
        num_pr = paragraph.find(f"{_w('pPr')}/{_w('numPr')}")
        if num_pr is not None and (num_id := _value(num_pr, "numId")) is not None:
            if num_id == "0":
                return None
            return num_id, int(_value(num_pr, "ilvl") or 0)
        style = paragraph.find(f"{_w('pPr')}/{_w('pStyle')}")
        if style is not None:
            return self._style_numbering.get(style.get(_w("val")))
        return None


def _value(element: Any, child: str) -> str | None:
    node = element.find(_w(child))
    return None if node is None else node.get(_w("val"))


def _format(value: int, fmt: str) -> str:
    if fmt in {"lowerLetter", "upperLetter"}:
        letter = POINT_LETTERS[(value - 1) % len(POINT_LETTERS)]
        return letter if fmt == "lowerLetter" else letter.upper()
    if fmt in {"upperRoman", "lowerRoman"}:
        roman = to_roman(value)
        return roman if fmt == "upperRoman" else roman.lower()
    return str(value)
