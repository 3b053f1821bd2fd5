"""Critiques as Front organisations write them: pure rules, no I/O."""

from __future__ import annotations

import enum
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Protocol


class CritiqueStatus(enum.StrEnum):
    SUBMITTED = "submitted"


def normalise(text: str) -> str:
    """Unicode NFC, so that the same Vietnamese word is stored and searched as one form."""
    return unicodedata.normalize("NFC", text).strip()


class NumberedPoint(Protocol):
    @property
    def number(self) -> int: ...


def repeated_point_numbers(points: Sequence[NumberedPoint]) -> list[int]:
    """Point numbers used more than once; each point must be answerable on its own."""
    counts = Counter(point.number for point in points)
    return sorted(number for number, count in counts.items() if count > 1)
