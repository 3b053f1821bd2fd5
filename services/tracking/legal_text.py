"""A draft's text structured by Vietnamese legal numbering: pure rules, no I/O.

A legal document is numbered in levels (Law on Promulgation of Legal Documents): chương
(chapter, Roman numerals, "Chương I"), inside it optionally mục (section, "Mục 1"), then điều
(article, numbered through the whole document, "Điều 5." and its title), inside an article
khoản (clause, "1.", "2.") and inside a clause điểm (point, "a)", "b)", … in the Vietnamese
alphabet, so "đ)" follows "d)" and there is no f, j, w or z). Amending documents insert
articles as "Điều 5a.".

:func:`parse` reads the lines of plain text or Markdown (headings' ``#`` and bold ``**`` are
markup, not text) into :class:`Structure`: every part with a stable id made of its numbering
(``dieu-5.khoan-2.diem-a``; chapters ``chuong-2``, sections ``chuong-2.muc-1``; "đ" is written
``dd``), its heading and its text. Numbering that skips, repeats or goes back is refused with
:class:`TextRefused`, which names the line: a draft whose clauses cannot be told apart cannot be
cited, so it is never stored half-understood.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from contracts import drafts
from contracts.drafts import CitedPart
from contracts.events import DraftPart, PartKind, TextChange

POINT_LETTERS = "abcdđeghiklmnopqrstuvxy"
"""The letters of điểm, in order: the Vietnamese alphabet without its accented vowels."""

_MAX_CLAUSES = 200
"""A line "N." with N past this is text (a year, an amount), never a clause's number."""


LABELS: dict[PartKind, str] = {
    PartKind.CHAPTER: "Chương",
    PartKind.SECTION: "Mục",
    PartKind.ARTICLE: "Điều",
    PartKind.CLAUSE: "khoản",
    PartKind.POINT: "điểm",
}
"""How the law names each level; a citation names the smallest first ("điểm a khoản 2 Điều 5")."""

_ID_WORDS: dict[PartKind, str] = {
    PartKind.CHAPTER: "chuong",
    PartKind.SECTION: "muc",
    PartKind.ARTICLE: "dieu",
    PartKind.CLAUSE: "khoan",
    PartKind.POINT: "diem",
}


class TextRefused(ValueError):
    """The text cannot be structured; ``line`` (1-based) says where."""

    def __init__(self, line: int, vietnamese: str, english: str) -> None:
        super().__init__(f"dòng {line}: {vietnamese} / line {line}: {english}")
        self.line = line
        self.vietnamese = vietnamese
        self.english = english


@dataclass
class Part:
    """One numbered part of the text: its id is stable while its numbering is."""

    id: str
    kind: PartKind
    number: str
    """As printed: "II" for a chapter, "5a" for an article, "2", "đ"."""
    title: str
    """A chapter's, section's or article's heading; a clause's or point's first line."""
    line: int
    text: list[str] = field(default_factory=list)
    """Its own paragraphs after the first line (not its children's)."""
    children: list[Part] = field(default_factory=list)

    @property
    def label(self) -> str:
        """ "Điều 5", "khoản 2", "điểm a"."""
        return f"{LABELS[self.kind]} {self.number}"

    def walk(self) -> Iterator[Part]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Structure:
    preamble: list[str]
    """The lines before the first chapter or article: name, grounds (căn cứ), recitals."""
    parts: list[Part]

    def walk(self) -> Iterator[Part]:
        for part in self.parts:
            yield from part.walk()

    def index(self) -> dict[str, Part]:
        return {part.id: part for part in self.walk()}

    def articles(self) -> list[Part]:
        return [part for part in self.walk() if part.kind is PartKind.ARTICLE]


def citation(structure: Structure, part_id: str) -> str:
    """How people cite a part, smallest first: "điểm a khoản 2 Điều 5"; KeyError if absent."""
    return _citation(structure.index(), part_id)


def _citation(index: dict[str, Part], part_id: str) -> str:
    part = index[part_id]
    if part.kind in {PartKind.CHAPTER, PartKind.SECTION}:
        return part.label
    article = part_id.partition(".")[0]
    labels = [part.label]
    while part.id != article:
        part_id = part_id.rpartition(".")[0]
        part = index[part_id]
        labels.append(part.label)
    return " ".join(labels)


_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+(?=[a-zđ]\)))?")
_BOLD = re.compile(r"(\*\*|__)")
_CHAPTER = re.compile(r"^(?:Chương|CHƯƠNG)\s+([IVXLC]+|\d+)\b[.:\-\u2013]?\s*(.*)$")
_SECTION = re.compile(r"^(?:Mục|MỤC)\s+(\d+)\b[.:\-\u2013]?\s*(.*)$")
_ARTICLE = re.compile(r"^(?:Điều|ĐIỀU)\s+(\d+)([a-zđ]?)\s*[.:]\s*(.*)$")
_CLAUSE = re.compile(r"^(\d+)\.\s+(\S.*)$")
_POINT = re.compile(r"^([a-zđ])\)\s+(\S.*)$")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_ROMAN_DIGITS = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)


def _roman(numeral: str) -> int | None:
    numeral = numeral.upper()
    if numeral.isdigit():
        return int(numeral)
    total = 0
    for i, digit in enumerate(numeral):
        value = _ROMAN[digit]
        following = _ROMAN[numeral[i + 1]] if i + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total if to_roman(total) == numeral else None


def to_roman(number: int) -> str:
    """``number`` in Roman numerals, as chapters are numbered."""
    out = []
    for value, digits in _ROMAN_DIGITS:
        while number >= value:
            out.append(digits)
            number -= value
    return "".join(out)


def _id_number(number: str) -> str:
    return number.replace("đ", "dd").lower()


def _clean(raw: str) -> str:
    line = _MARKUP.sub("", unicodedata.normalize("NFC", raw), count=1)
    return " ".join(_BOLD.sub("", line).split())


def parse(lines: Iterable[str]) -> Structure:
    """Structure the text; :class:`TextRefused` names the first line that breaks the numbering."""
    return _Parser().run(lines)


class _Parser:
    def __init__(self) -> None:
        self.structure = Structure(preamble=[], parts=[])
        self.chapter: Part | None = None
        self.section: Part | None = None
        self.article: Part | None = None
        self.clause: Part | None = None
        self.point: Part | None = None
        self.awaiting_title: Part | None = None
        self.last_article: tuple[int, str] | None = None

    def run(self, lines: Iterable[str]) -> Structure:
        for number, raw in enumerate(lines, start=1):
            line = _clean(raw)
            if line:
                self.read(number, line)
        if self.awaiting_title is not None:
            raise TextRefused(
                self.awaiting_title.line,
                f"{self.awaiting_title.label} không có tên",
                f"{self.awaiting_title.label} has no title",
            )
        if self.last_article is None:
            raise TextRefused(1, "không có điều nào (“Điều 1.”)", "no article (“Điều 1.”) found")
        return self.structure

    def read(self, number: int, line: str) -> None:
        if match := _CHAPTER.match(line):
            self.open_chapter(number, match[1], match[2])
        elif match := _SECTION.match(line):
            self.open_section(number, match[1], match[2])
        elif match := _ARTICLE.match(line):
            self.open_article(number, int(match[1]), match[2], match[3])
        elif self.awaiting_title is not None:
            self.awaiting_title.title = line
            self.awaiting_title = None
        elif self.article is not None and (match := _POINT.match(line)):
            self.open_point(number, match[1], match[2])
        elif (
            self.article is not None
            and (match := _CLAUSE.match(line))
            and int(match[1]) <= _MAX_CLAUSES
        ):
            self.open_clause(number, int(match[1]), match[2])
        else:
            self.add_text(line)

    def open_chapter(self, line: int, numeral: str, title: str) -> None:
        value = _roman(numeral)
        expected = len(self.structure.parts) + 1
        previous = self.structure.parts[-1].label if self.structure.parts else None
        if self.structure.parts and self.chapter is None:
            raise TextRefused(
                line,
                f"Chương {numeral} đứng sau các điều không thuộc chương nào",
                f"Chương {numeral} follows articles that are in no chapter",
            )
        if value != expected:
            self.out_of_order(line, f"Chương {numeral}", previous, f"Chương {to_roman(expected)}")
        part = Part(
            id=f"chuong-{value}",
            kind=PartKind.CHAPTER,
            number=numeral.upper(),
            title=title,
            line=line,
        )
        self.structure.parts.append(part)
        self.chapter, self.section = part, None
        self.close_article()
        self.awaiting_title = None if title else part

    def open_section(self, line: int, digits: str, title: str) -> None:
        if self.chapter is None:
            raise TextRefused(
                line, f"Mục {digits} nằm ngoài mọi chương", f"Mục {digits} is outside any chapter"
            )
        sections = [p for p in self.chapter.children if p.kind is PartKind.SECTION]
        if self.chapter.children and not sections:
            raise TextRefused(
                line,
                f"Mục {digits} đứng sau các điều của {self.chapter.label} không thuộc mục nào",
                f"Mục {digits} follows articles of {self.chapter.label} that are in no section",
            )
        expected = len(sections) + 1
        if int(digits) != expected:
            previous = sections[-1].label if sections else None
            self.out_of_order(line, f"Mục {digits}", previous, f"Mục {expected}")
        part = Part(
            id=f"{self.chapter.id}.muc-{expected}",
            kind=PartKind.SECTION,
            number=str(expected),
            title=title,
            line=line,
        )
        self.chapter.children.append(part)
        self.section = part
        self.close_article()
        self.awaiting_title = None if title else part

    def open_article(self, line: int, value: int, letter: str, title: str) -> None:
        printed = f"{value}{letter}"
        last = self.last_article
        if last is None:
            in_order = value == 1 and not letter
            expected = "Điều 1"
        else:
            last_value, last_letter = last
            next_letter = (
                POINT_LETTERS[0]
                if not last_letter
                else POINT_LETTERS[POINT_LETTERS.index(last_letter) + 1 :][:1]
            )
            in_order = (value == last_value + 1 and not letter) or (
                value == last_value and letter != "" and letter == next_letter
            )
            expected = f"Điều {last_value + 1}"
        if not in_order:
            previous = f"Điều {last[0]}{last[1]}" if last else None
            self.out_of_order(line, f"Điều {printed}", previous, expected)
        part = Part(
            id=f"dieu-{_id_number(printed)}",
            kind=PartKind.ARTICLE,
            number=printed,
            title=title,
            line=line,
        )
        parent = self.section or self.chapter
        (parent.children if parent is not None else self.structure.parts).append(part)
        self.close_article()
        self.article = part
        self.last_article = (value, letter)
        self.awaiting_title = None if title else part

    def open_clause(self, line: int, value: int, first: str) -> None:
        assert self.article is not None
        clauses = self.article.children
        if value != len(clauses) + 1 or any(c.kind is not PartKind.CLAUSE for c in clauses):
            previous = clauses[-1].label if clauses else None
            self.out_of_order(
                line, f"khoản {value}", previous, f"khoản {len(clauses) + 1}", self.article.label
            )
        part = Part(
            id=f"{self.article.id}.khoan-{value}",
            kind=PartKind.CLAUSE,
            number=str(value),
            title=first,
            line=line,
        )
        clauses.append(part)
        self.clause, self.point = part, None

    def open_point(self, line: int, letter: str, first: str) -> None:
        assert self.article is not None
        parent = self.clause or self.article
        points = parent.children
        expected = POINT_LETTERS[len(points)] if len(points) < len(POINT_LETTERS) else None
        if letter != expected:
            previous = points[-1].label if points else None
            where = (
                self.article.label
                if self.clause is None
                else f"{parent.label} {self.article.label}"
            )
            self.out_of_order(line, f"điểm {letter}", previous, f"điểm {expected or '?'}", where)
        part = Part(
            id=f"{parent.id}.diem-{_id_number(letter)}",
            kind=PartKind.POINT,
            number=letter,
            title=first,
            line=line,
        )
        points.append(part)
        self.point = part

    def add_text(self, line: str) -> None:
        holder = self.point or self.clause or self.article
        if holder is None:
            holder = self.section or self.chapter
        if holder is None:
            self.structure.preamble.append(line)
        else:
            holder.text.append(line)

    def close_article(self) -> None:
        self.article = self.clause = self.point = None

    @staticmethod
    def out_of_order(
        line: int, found: str, previous: str | None, expected: str, within: str = ""
    ) -> None:
        where_vi = f" trong {within}" if within else ""
        where_en = f" in {within}" if within else ""
        if previous is None:
            raise TextRefused(
                line,
                f"{found}{where_vi} mở đầu, cần {expected}",
                f"{found}{where_en} comes first, expected {expected}",
            )
        raise TextRefused(
            line,
            f"{found} đứng sau {previous}{where_vi}, cần {expected}",
            f"{found} follows {previous}{where_en}, expected {expected}",
        )


def parse_text(text: str) -> Structure:
    """:func:`parse` of a whole text (plain or Markdown)."""
    return parse(text.splitlines())


@dataclass(frozen=True)
class PartChange:
    """How one part differs between two versions: its own heading and text, not its children's
    (a changed point is one change, not one of its clause and article too)."""

    id: str
    change: TextChange
    before: str | None
    after: str | None


def own_text(part: Part) -> str:
    """A part's heading and its own paragraphs, as one comparable text."""
    return "\n".join([part.title, *part.text]).strip()


def diff(before: Structure, after: Structure) -> list[PartChange]:
    """The parts added, removed or changed from ``before`` to ``after``, in the order of
    ``after`` with the removed ones where they stood in ``before``."""
    old, new = before.index(), after.index()
    changes: list[PartChange] = []
    old_ids = list(old)
    position = 0
    for part_id, part in new.items():
        if part_id in old:
            while position < len(old_ids) and old_ids[position] != part_id:
                gone = old_ids[position]
                if gone not in new:
                    changes.append(PartChange(gone, TextChange.REMOVED, own_text(old[gone]), None))
                position += 1
            position += 1
            if own_text(old[part_id]) != own_text(part):
                changes.append(
                    PartChange(part_id, TextChange.CHANGED, own_text(old[part_id]), own_text(part))
                )
        else:
            changes.append(PartChange(part_id, TextChange.ADDED, None, own_text(part)))
    changes.extend(
        PartChange(gone, TextChange.REMOVED, own_text(old[gone]), None)
        for gone in old_ids[position:]
        if gone not in new
    )
    return changes


def cite(structure: Structure, part_ids: Iterable[str]) -> list[CitedPart]:
    """:func:`contracts.drafts.cite` on a structure just read (:class:`UnknownParts` names
    every id it lacks)."""
    return drafts.cite(to_parts(structure), part_ids)


def to_parts(structure: Structure) -> tuple[DraftPart, ...]:
    """The structure as the wire carries it: every part in document order, each placed by its
    parent's id and named as people cite it."""
    index = structure.index()
    return tuple(
        DraftPart(
            id=part.id,
            kind=part.kind,
            number=part.number,
            title=part.title,
            text=tuple(part.text),
            parent_id=parent,
            citation=_citation(index, part.id),
        )
        for part, parent in _placed(structure.parts, None)
    )


def _placed(parts: list[Part], parent: str | None) -> Iterator[tuple[Part, str | None]]:
    for part in parts:
        yield part, parent
        yield from _placed(part.children, part.id)


def from_parts(preamble: Iterable[str], parts: Iterable[DraftPart]) -> Structure:
    """The structure :func:`to_parts` carried (source lines are not carried: ``line`` is 0)."""
    structure = Structure(preamble=list(preamble), parts=[])
    placed: dict[str, Part] = {}
    for wire in parts:
        part = Part(
            id=wire.id,
            kind=wire.kind,
            number=wire.number,
            title=wire.title,
            line=0,
            text=list(wire.text),
        )
        placed[part.id] = part
        siblings = structure.parts if wire.parent_id is None else placed[wire.parent_id].children
        siblings.append(part)
    return structure
