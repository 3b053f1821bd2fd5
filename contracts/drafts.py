"""A draft version's parts as every service reads them off ``tracking.drafts``: the parts a
critique's point cites, with the text a person reads beside the point. Pure, no I/O.

Tracking structures the text (services/tracking/legal_text.py) and announces it as parts in
document order (:class:`contracts.events.DraftPart`); submission checks a point's citations
against the version it heard of, and tracking checks them again against its own, with this one
function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from contracts.events import DraftPart, PartKind


class CitedPart(BaseModel):
    """A part a point cites, as people read it beside the point."""

    model_config = ConfigDict(frozen=True)

    id: str
    citation: str
    """"điểm a khoản 2 Điều 5"."""
    text: str
    """The part's whole text, its clauses and points included."""


class UnknownParts(LookupError):
    """Ids a citation names that the version does not have."""

    def __init__(self, unknown: list[str]) -> None:
        listed = ", ".join(unknown)
        super().__init__(f"dự thảo không có phần {listed} / the draft version has no part {listed}")
        self.unknown = unknown


def own_text(part: DraftPart) -> str:
    """A part's heading and its own paragraphs, as one text."""
    return "\n".join([part.title, *part.text]).strip()


def _printed(part: DraftPart) -> str:
    if part.kind is PartKind.CLAUSE:
        return f"{part.number}. {own_text(part)}"
    if part.kind is PartKind.POINT:
        return f"{part.number}) {own_text(part)}"
    return f"{part.citation}. {own_text(part)}"


def cite(parts: Sequence[DraftPart], part_ids: Iterable[str]) -> list[CitedPart]:
    """The parts ``part_ids`` name, in the order given, each once, with their whole text;
    :class:`UnknownParts` names every id the version lacks, so no citation is ever kept that
    the text cannot show."""
    wanted = list(dict.fromkeys(part_ids))
    if not wanted:
        return []
    index = {part.id: position for position, part in enumerate(parts)}
    if unknown := [part_id for part_id in wanted if part_id not in index]:
        raise UnknownParts(unknown)
    cited: list[CitedPart] = []
    for part_id in wanted:
        position = index[part_id]
        part = parts[position]
        lines = [own_text(part)]
        inside = {part.id}
        for later in parts[position + 1 :]:
            if later.parent_id not in inside:
                break
            inside.add(later.id)
            lines.append(_printed(later))
        cited.append(CitedPart(id=part.id, citation=part.citation, text="\n".join(lines)))
    return cited
