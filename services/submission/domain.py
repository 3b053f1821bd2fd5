"""Critiques as Front organisations write and follow them: pure rules, no I/O."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from contracts.events import CritiqueKind
from contracts.submission_api import CritiqueStatus
from contracts.text import nfc

_PROGRESS = [
    CritiqueStatus.SUBMITTED,
    CritiqueStatus.AWAITING_REPLY,
    CritiqueStatus.ACKNOWLEDGED,
    CritiqueStatus.ANSWERED,
]


def advance(current: CritiqueStatus, reported: CritiqueStatus) -> CritiqueStatus:
    """The status after tracking reports a step: never backwards, and withdrawal is final."""
    if current is CritiqueStatus.WITHDRAWN or reported is CritiqueStatus.WITHDRAWN:
        return CritiqueStatus.WITHDRAWN
    return max(current, reported, key=_PROGRESS.index)


def changeable(status: CritiqueStatus) -> bool:
    """Amend or withdraw only until the agency acknowledges receipt (DOMAIN.md)."""
    return status in {CritiqueStatus.SUBMITTED, CritiqueStatus.AWAITING_REPLY}


class NumberedPoint(Protocol):
    @property
    def number(self) -> int: ...


def repeated_point_numbers(points: Sequence[NumberedPoint]) -> list[int]:
    """Point numbers used more than once; each point must be answerable on its own."""
    counts = Counter(point.number for point in points)
    return sorted(number for number, count in counts.items() if count > 1)


def needs_draft(kind: CritiqueKind) -> bool:
    """Social criticism is always of a draft (phản biện dự thảo); the other kinds need none."""
    return kind is CritiqueKind.SOCIAL_CRITICISM


# The stamps as printed on documents: "MẬT", "TỐI MẬT", "TUYỆT MẬT", upper case, as whole words
# ("BÍ MẬT", "secret" as a plain word, is not a stamp).
_STAMP = re.compile(r"(?<![\w])(?<!BÍ )(?:TUYỆT\s+MẬT|TỐI\s+MẬT|MẬT)(?![\w])")


def classification_stamps(texts: Iterable[str]) -> list[str]:
    """The classification stamps found in the texts (NFC), e.g. ['TỐI MẬT']."""
    found: list[str] = []
    for text in texts:
        found += [" ".join(m.split()) for m in _STAMP.findall(nfc(text))]
    return found
