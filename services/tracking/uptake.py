"""Whether the next version of a draft took in what the agency said it took in. Pure, no I/O.

When the drafting agency registers a new version, it links each point it accepted or partly
accepted (tiếp thu, tiếp thu một phần) to the parts of the new version it changed for it. Beside
the clause-level diff of the two versions (:func:`services.tracking.legal_text.diff`) that gives
two public flags:

* **accepted but unchanged**: a point accepted whose linked parts did not change (or that was
  linked to nothing at all);
* **changed, but no point asked for it**: a part that changed with no accepted point linked to it
  or to a part containing it.

A link on a point the agency did not take in, or to a part neither version has, is refused: it
would make the record claim what the texts do not show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from contracts.events import Disposition
from services.tracking.legal_text import PartChange

PointRef = tuple[str, int]
"""A critique's id and the point's number in it."""


class LinkRefused(ValueError):
    """A link the texts or the answers contradict."""


@dataclass(frozen=True)
class Uptake:
    accepted_unchanged: list[PointRef]
    """Accepted or partly accepted, and nothing linked to it changed."""
    unlinked_links: dict[PointRef, list[str]]
    """For each such point, the parts it was linked to that did not change."""
    changed_unasked: list[str]
    """Parts that changed with no accepted point linked to them."""


def _covers(link: str, part_id: str) -> bool:
    return part_id == link or part_id.startswith(f"{link}.")


def review(
    dispositions: Mapping[PointRef, Disposition],
    links: Mapping[PointRef, Sequence[str]],
    changes: Sequence[PartChange],
    known_parts: Iterable[str],
) -> Uptake:
    """Check ``links`` (point → parts changed for it) against the answers' ``dispositions``, the
    ``changes`` between the versions and the ids of both versions (``known_parts``)."""
    known = set(known_parts)
    for point, parts in links.items():
        disposition = dispositions.get(point)
        if disposition is None:
            raise LinkRefused(
                f"điểm {point[1]} của ý kiến {point[0]} chưa được trả lời / point {point[1]} of"
                f" critique {point[0]} has no answer"
            )
        if disposition is Disposition.NOT_ACCEPTED:
            raise LinkRefused(
                f"điểm {point[1]} của ý kiến {point[0]} không được tiếp thu nên không thể gắn với"
                f" thay đổi / point {point[1]} of critique {point[0]} was not accepted, so no"
                " change can be linked to it"
            )
        if unknown := [part for part in parts if part not in known]:
            listed = ", ".join(unknown)
            raise LinkRefused(
                f"không có phần {listed} trong hai phiên bản / neither version has {listed}"
            )
    changed = [change.id for change in changes]
    accepted_unchanged: list[PointRef] = []
    unlinked_links: dict[PointRef, list[str]] = {}
    for point, disposition in dispositions.items():
        if disposition is Disposition.NOT_ACCEPTED:
            continue
        parts = list(links.get(point, ()))
        idle = [part for part in parts if not any(_covers(part, c) for c in changed)]
        if not parts or len(idle) == len(parts):
            accepted_unchanged.append(point)
        if idle:
            unlinked_links[point] = idle
    linked = [part for parts in links.values() for part in parts]
    changed_unasked = [c for c in changed if not any(_covers(link, c) for link in linked)]
    return Uptake(
        accepted_unchanged=accepted_unchanged,
        unlinked_links=unlinked_links,
        changed_unasked=changed_unasked,
    )
