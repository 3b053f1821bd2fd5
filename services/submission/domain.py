"""Critiques as Front organisations write and follow them: pure rules, no I/O.

Submission decides a submission (and its attachments). Every later step is tracking's to decide
(contracts/transitions.py): submission holds the organisation's requests as pending meanwhile,
and refuses one itself only when what it already heard from tracking settles it for good (an
acknowledged, answered or withdrawn critique stays so; a version, once passed, never returns).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from contracts import drafts
from contracts.drafts import CitedPart
from contracts.events import CritiqueContent, CritiqueKind, DraftPart, DraftReference
from contracts.lifecycle import RequestStatus
from contracts.problems import field_path
from contracts.submission_api import Classification, ContentIn, CritiqueStatus
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


def settled(status: CritiqueStatus) -> bool:
    """Tracking has decided that the critique can no longer be amended or withdrawn: the agency
    acknowledged or answered it, or it was withdrawn. None of these is ever undone."""
    return status in {
        CritiqueStatus.ACKNOWLEDGED,
        CritiqueStatus.ANSWERED,
        CritiqueStatus.WITHDRAWN,
    }


def changeable(status: CritiqueStatus, *, withdrawal_pending: bool = False) -> bool:
    """Whether an amendment or a withdrawal may still be asked for (tracking decides it)."""
    return not settled(status) and not withdrawal_pending


def decided(status: RequestStatus) -> bool:
    return status is not RequestStatus.PENDING


@dataclass(frozen=True)
class Violation:
    field: str
    message: str


class ClassifiedMaterial(ValueError):
    """State-secret material (Mật, Tối mật, Tuyệt mật) may not be drafted or stored on a
    networked computer (State Secrets Law art. 5): refused, and nothing stored."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


class InvalidContent(ValueError):
    """The content breaks a rule; each violation names the offending field."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in violations))
        self.violations = list(violations)


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


def content(body: ContentIn, kind: CritiqueKind) -> CritiqueContent:
    """The critique's content as stored and sent, points in order; or the refusal naming every
    field that breaks a rule (:class:`ClassifiedMaterial`, :class:`InvalidContent`)."""
    stamps = classification_stamps(
        [body.title, body.legal_basis or "", *(p.text for p in body.points)]
    )
    if body.classification is not Classification.UNCLASSIFIED:
        raise ClassifiedMaterial(Violation("classification", f"marked {body.classification.value}"))
    if stamps:
        raise ClassifiedMaterial(
            Violation("classification", f"the text carries the stamp {stamps[0]}")
        )
    repeated = repeated_point_numbers(body.points)
    violations = [
        Violation(f"points[{index}].number", "this number is used twice")
        for index, point in enumerate(body.points)
        if point.number in repeated
    ]
    if needs_draft(kind) and body.draft is None and body.draft_version is None:
        violations.append(
            Violation("draft", "social criticism must name the draft (draft or draft_version)")
        )
    if body.draft_version is None:
        violations += [
            Violation(f"points[{index}].cites", "cites parts of a draft_version: name it")
            for index, point in enumerate(body.points)
            if point.cites
        ]
    if body.draft is not None and not (body.draft.version or body.draft.url):
        violations.append(Violation("draft.version", "give the draft's version or a link"))
    if violations:
        raise InvalidContent(violations)
    try:
        written = CritiqueContent.model_validate(
            {
                "title": body.title,
                "points": [point.model_dump() for point in body.points],
                "draft": body.draft.model_dump() if body.draft else None,
                "draft_version": body.draft_version.model_dump() if body.draft_version else None,
                "legal_basis": body.legal_basis,
                "redact_names": body.redact_names,
            }
        )
    except ValidationError as invalid:
        # The texts were normalised (NFC, trimmed) after their lengths were checked: some become
        # blank, a few grow longer than the critique's events allow. (A bad point also makes
        # `points` too short; only the point is named.)
        errors = invalid.errors()
        raise InvalidContent(
            [
                Violation(
                    field_path(("body", *error["loc"])),
                    f"{error['msg']} once normalised (Unicode NFC, trimmed)",
                )
                for error in errors
                if not any(
                    len(other["loc"]) > len(error["loc"])
                    and other["loc"][: len(error["loc"])] == error["loc"]
                    for other in errors
                )
            ]
        ) from None
    return written.model_copy(
        update={"points": tuple(sorted(written.points, key=lambda p: p.number))}
    )


@dataclass(frozen=True)
class HeardVersion:
    """A draft version as tracking announced it."""

    draft_id: uuid.UUID
    version: int
    agency_id: str
    """The drafting agency."""
    agency_name: str
    title: str
    parts: tuple[DraftPart, ...]


def citations(
    content: CritiqueContent, *, agency_id: str, heard: HeardVersion | None
) -> tuple[CritiqueContent, dict[int, list[CitedPart]]]:
    """The content naming a registered draft version, checked against that version: the
    version exists, the agency addressed leads its drafting, and every part each point cites
    is in it. Returns the content with the draft named in words (when it was not) and the
    parts each point cites, by number; :class:`InvalidContent` names every field at fault."""
    ref = content.draft_version
    if ref is None:
        return content, {}
    if heard is None:
        raise InvalidContent(
            [
                Violation(
                    "draft_version",
                    f"no version {ref.version} of draft {ref.draft_id} has been registered"
                    " (or submission has not heard of it yet)",
                )
            ]
        )
    violations: list[Violation] = []
    if heard.agency_id != agency_id:
        violations.append(
            Violation(
                "agency_id",
                f"the draft's drafting agency is {heard.agency_id}: a critique of it is"
                " addressed to that agency",
            )
        )
    cited: dict[int, list[CitedPart]] = {}
    for index, point in enumerate(content.points):
        try:
            cited[point.number] = drafts.cite(heard.parts, point.cites)
        except drafts.UnknownParts as unknown:
            violations.append(Violation(f"points[{index}].cites", str(unknown)))
    if violations:
        raise InvalidContent(violations)
    if content.draft is None:
        content = content.model_copy(
            update={
                "draft": DraftReference(
                    title=heard.title,
                    drafting_agency=heard.agency_name,
                    version=f"Phiên bản {heard.version} / version {heard.version}",
                )
            }
        )
    return content, {number: parts for number, parts in cited.items() if parts}


def normalised(value: str, *, max_length: int, required: bool = False) -> str | None:
    """``value`` as it is stored (NFC, trimmed), or None when that leaves it blank (and it is
    ``required``) or longer than allowed: NFC lengthens a few characters (U+FB2C becomes
    three)."""
    text = nfc(value)
    if (required and not text) or len(text) > max_length:
        return None
    return text
