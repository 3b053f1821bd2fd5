"""One record's page: its points next to their answers, its timeline, how its due date was
computed, and what was hidden and why (never the content)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from contracts.disclosure_api import PublicRecord, RedactionView
from contracts.vocabulary import REDACTION_KIND
from services.disclosure import queries
from services.disclosure.web.pages.markup import Bilingual
from services.disclosure.web.pages.site import not_found, render
from services.platform.http import DatabasePool

router = APIRouter()


@dataclass
class HiddenKind:
    """What was hidden of one kind of personal data, where, and why: never the content."""

    kind: str
    count: int = 0
    places: list[Bilingual] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


_POINT_FIELD = re.compile(r"points\[(\d+)\]\.(text|citation|explanation)")


def _place(field_name: str, record: PublicRecord) -> Bilingual:
    """Where a redaction was made, for people: "points[0].text" is "Point 1" (its number)."""
    if field_name == "title":
        return ("Tiêu đề", "Title")
    matched = _POINT_FIELD.fullmatch(field_name)
    if matched is None:
        return (field_name, field_name)
    index, part = int(matched[1]), matched[2]
    number = record.points[index].number if index < len(record.points) else index + 1
    return {
        "text": (f"Nội dung điểm {number}", f"Point {number}"),
        "citation": (f"Trích dẫn của điểm {number}", f"Citation of point {number}"),
        "explanation": (f"Trả lời điểm {number}", f"Answer to point {number}"),
    }[part]


def hidden(record: PublicRecord, redactions: Sequence[RedactionView]) -> list[HiddenKind]:
    """The redaction log, grouped by kind of personal data, in a fixed order of kinds."""
    kinds: dict[str, HiddenKind] = {}
    for r in redactions:
        group = kinds.setdefault(r.kind, HiddenKind(r.kind))
        group.count += r.count
        if (place := _place(r.field, record)) not in group.places:
            group.places.append(place)
        if r.reason not in group.reasons:
            group.reasons.append(r.reason)
    order: list[str] = list(REDACTION_KIND)
    return sorted(
        kinds.values(), key=lambda k: order.index(k.kind) if k.kind in order else len(order)
    )


@router.get("/records/{critique_id}", response_class=HTMLResponse)
async def record_page(critique_id: str, pool: DatabasePool) -> HTMLResponse:
    try:
        wanted = uuid.UUID(critique_id)
    except ValueError:
        wanted = None
    found = await queries.record(pool, wanted) if wanted is not None else None
    if found is None:
        return not_found(
            ("Không có hồ sơ công bố với mã này", "No disclosed record with this id"),
            (
                "Có thể hồ sơ không tồn tại, hoặc chưa được trả lời và chưa quá hạn.",
                "It may not exist, or not be answered or overdue yet.",
            ),
        )
    record = found.record
    return render(
        "record.html",
        current=None,
        record=record,
        hidden=hidden(record, record.redactions),
        REDACTION_LABELS=REDACTION_KIND,
    )
