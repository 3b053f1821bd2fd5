"""Atom feeds for readers: the records published or changed last, of all agencies, of one agency
or of one organisation; and of one draft, its versions with its records.

Feeds are Atom 1.0 (RFC 4287), built with ElementTree so that no text of a critique or an answer
can break out of its element.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Request, Response

from contracts.disclosure_api import DraftVersionView, PublicDraft, PublicRecord
from contracts.vocabulary import DISPOSITION, KIND, TEXT_CHANGE, VIETNAM, label_of
from services.disclosure import queries
from services.disclosure.web.common import Limited, Slug, unknown_agency
from services.platform.http import DatabasePool, ProblemError, problem_responses

router = APIRouter()

FEED_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
FEED_TITLE = "Giám sát và phản biện xã hội / Social supervision and criticism"
FEED_SUBTITLE = (
    "Kiến nghị, phản biện của Mặt trận Tổ quốc Việt Nam và trả lời của cơ quan nhà nước"
    " / The Vietnam Fatherland Front's critiques and state agencies' answers"
)
TAG = "tag:supervision.mttq.vn,2025:"
"""Feed ids and category schemes: tag URIs (RFC 4151), which do not change with the host."""


# Characters XML 1.0 does not allow, even escaped: a point's text may hold a stray control
# character (only NUL is refused on submission), and it must not make the feed ill-formed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    """A child element; ElementTree escapes ``text`` and the attributes when serialising."""
    element = ET.SubElement(parent, tag, {k: _text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(value: date) -> str:
    return f"{value:%d/%m/%Y}"


def updated(record: PublicRecord) -> datetime:
    """When the record last changed: its publication or the latest step of its timeline."""
    return max([record.published_at, *(step.at for step in record.timeline)])


def summary_html(record: PublicRecord) -> str:
    """The record for a feed reader: who asked whom, the due date, each point and its answer.

    Built as elements and serialised by ElementTree, so every text is escaped; the caller puts
    the result in ``<content type="html">``, which escapes it once more, as Atom wants.
    """
    root = ET.Element("div")
    agency = record.agency.name or record.agency.id
    _sub(root, "p", f"{record.organisation.name} → {agency}")
    facts = [
        f"{label_of(KIND, record.kind)}",
        f"Tình trạng / Status: {record.status_label}",
    ]
    if record.due_date is not None:
        facts.append(f"Hạn trả lời / Due: {_day(record.due_date)}")
    if record.answered_at is not None:
        facts.append(
            f"Ngày trả lời / Answered: {_day(record.answered_at.astimezone(VIETNAM).date())}"
        )
    _sub(root, "p", " · ".join(facts))
    points = _sub(root, "ol")
    for point in record.points:
        item = _sub(points, "li", value=str(point.number))
        _sub(item, "p", point.text)
        if point.citation:
            _sub(_sub(item, "p"), "em", point.citation)
        if point.disposition is not None:
            answer = _sub(item, "p")
            _sub(answer, "strong", str(label_of(DISPOSITION, point.disposition)))
            if point.explanation:
                _sub(answer, "span", f" — {point.explanation}")
    if not record.points:
        _sub(root, "p", "Nội dung không được công khai / Content not disclosed")
    return _text(ET.tostring(root, encoding="unicode", method="html"))


def entry(feed: ET.Element, record: PublicRecord, base: str) -> None:
    critique = str(record.critique_id)
    node = _sub(feed, "entry")
    _sub(node, "id", record.critique_id.urn)
    _sub(node, "title", f"{record.title} — {record.status_label}")
    _sub(node, "updated", _timestamp(updated(record)))
    _sub(node, "published", _timestamp(record.published_at))
    _sub(
        node,
        "link",
        rel="alternate",
        type="text/html",
        href=f"{base}/records/{critique}",
    )
    _sub(
        node,
        "link",
        rel="related",
        type="application/json",
        href=f"{base}/v1/records/{critique}",
    )
    author = _sub(node, "author")
    _sub(author, "name", record.organisation.name)
    _sub(author, "uri", f"{base}/feeds/organisations/{quote(record.organisation.id)}.atom")
    _sub(
        node,
        "category",
        term=record.kind,
        scheme=f"{TAG}kind",
        label=str(label_of(KIND, record.kind)),
    )
    _sub(
        node,
        "category",
        term=record.status,
        scheme=f"{TAG}status",
        label=record.status_label,
    )
    _sub(node, "content", summary_html(record), type="html")


def version_entry(
    feed: ET.Element, draft: PublicDraft, version: DraftVersionView, base: str
) -> None:
    """A version of a draft as the Front received it: when, the window it gave, what changed."""
    node = _sub(feed, "entry")
    _sub(node, "id", f"{TAG}drafts/{draft.draft_id}/versions/{version.number}")
    late = " — gửi muộn / sent late" if version.window.sent_late else ""
    _sub(
        node,
        "title",
        f"{draft.title} — phiên bản {version.number} / version {version.number}{late}",
    )
    _sub(node, "updated", _timestamp(version.received_at))
    _sub(node, "published", _timestamp(version.received_at))
    _sub(
        node,
        "link",
        rel="alternate",
        type="text/html",
        href=f"{base}/drafts/{draft.draft_id}#version-{version.number}",
    )
    author = _sub(node, "author")
    _sub(author, "name", draft.agency.name or draft.agency.id)
    root = ET.Element("div")
    _sub(root, "p", version.window.explanation)
    if version.changes:
        changes = _sub(root, "ul")
        for change in version.changes:
            _sub(changes, "li", f"{label_of(TEXT_CHANGE, change.change)}: {change.part_id}")
    if version.changed_unasked:
        _sub(
            root,
            "p",
            "Sửa đổi mà không có ý kiến đề nghị / Changed, unasked: "
            + ", ".join(version.changed_unasked),
        )
    if version.accepted_unchanged:
        _sub(
            root,
            "p",
            "Đã tiếp thu nhưng không sửa / Accepted, yet unchanged:"
            f" {len(version.accepted_unchanged)}",
        )
    _sub(node, "content", _text(ET.tostring(root, encoding="unicode", method="html")), type="html")


def feed_document(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    base: str,
    records: Iterable[PublicRecord],
    draft: PublicDraft | None = None,
    alternate: str = "/",
) -> bytes:
    """An Atom feed of ``records``, in the order given, and of ``draft``'s versions."""
    records = list(records)
    # Atom is declared as the default namespace by hand, elements then named without it: Python
    # 3.11's ``default_namespace`` refuses attributes without a namespace, like ``href``.
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": "vi"})
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "subtitle", FEED_SUBTITLE)
    moments = [updated(r) for r in records]
    if draft is not None:
        moments += [draft.registered_at, *(v.received_at for v in draft.versions)]
    latest = max(moments, default=datetime.now(UTC))
    _sub(feed, "updated", _timestamp(latest))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}{alternate}")
    _sub(feed, "generator", "supervision disclosure")
    if draft is not None:
        for version in reversed(draft.versions):
            version_entry(feed, draft, version, base)
    for record in records:
        entry(feed, record, base)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _atom_response(
    request: Request,
    if_none_match: str | None,
    *,
    feed_id: str,
    title: str,
    found: list[queries.Published],
    draft: PublicDraft | None = None,
) -> Response:
    # The newest change number identifies the records the feed holds (any change to one of them
    # gives it a new, higher one); the title's checksum, a renamed agency's empty feed (and a
    # draft's document, its versions).
    seen = title if draft is None else title + draft.model_dump_json()
    etag = f'"feed-{found[0].change if found else 0}-{zlib.crc32(seen.encode()):08x}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    document = feed_document(
        feed_id=feed_id,
        title=title,
        self_url=str(request.url.replace(query="", fragment="")),
        base=_base(request),
        records=[p.record for p in found],
        draft=draft,
        alternate="/" if draft is None else f"/drafts/{draft.draft_id}",
    )
    return Response(document, media_type=ATOM_MEDIA_TYPE, headers=headers)


_ATOM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/atom+xml": {}}, "description": "An Atom 1.0 feed"},
    304: {"description": "Not modified (If-None-Match)"},
}
IfNoneMatch = Annotated[str | None, Header()]


@router.get(
    "/feeds/records.atom",
    response_class=Response,
    responses={**_ATOM_RESPONSES, **problem_responses(429)},
    tags=["feeds"],
    summary="Atom feed of the records published or changed last",
)
async def records_feed(
    request: Request, pool: DatabasePool, _: Limited, if_none_match: IfNoneMatch = None
) -> Response:
    return _atom_response(
        request,
        if_none_match,
        feed_id=f"{TAG}feeds/records",
        title=FEED_TITLE,
        found=await queries.latest(pool, limit=FEED_SIZE),
    )


@router.get(
    "/feeds/agencies/{agency_id}.atom",
    response_class=Response,
    responses={**_ATOM_RESPONSES, **problem_responses(404, 422, 429)},
    tags=["feeds"],
    summary="Atom feed of one agency's records published or changed last",
)
async def agency_feed(
    agency_id: Slug,
    request: Request,
    pool: DatabasePool,
    _: Limited,
    if_none_match: IfNoneMatch = None,
) -> Response:
    found = await queries.latest(pool, limit=FEED_SIZE, agency_id=agency_id)
    name = await queries.agency_name(pool, agency_id)
    if name is None and not found:
        raise unknown_agency()
    return _atom_response(
        request,
        if_none_match,
        feed_id=f"{TAG}feeds/agencies/{quote(agency_id)}",
        title=f"{FEED_TITLE} — {name or agency_id}",
        found=found,
    )


@router.get(
    "/feeds/organisations/{organisation_id}.atom",
    response_class=Response,
    responses={**_ATOM_RESPONSES, **problem_responses(422, 429)},
    tags=["feeds"],
    summary="Atom feed of one organisation's records published or changed last",
    description="Disclosure keeps no directory of organisations: an organisation with no"
    " published record yet has an empty feed, which a reader may subscribe to all the same.",
)
async def organisation_feed(
    organisation_id: Slug,
    request: Request,
    pool: DatabasePool,
    _: Limited,
    if_none_match: IfNoneMatch = None,
) -> Response:
    found = await queries.latest(pool, limit=FEED_SIZE, organisation_id=organisation_id)
    name = found[0].record.organisation.name if found else organisation_id
    return _atom_response(
        request,
        if_none_match,
        feed_id=f"{TAG}feeds/organisations/{quote(organisation_id)}",
        title=f"{FEED_TITLE} — {name}",
        found=found,
    )


@router.get(
    "/feeds/drafts/{draft_id}.atom",
    response_class=Response,
    responses={**_ATOM_RESPONSES, **problem_responses(404, 422, 429)},
    tags=["feeds"],
    summary="Atom feed of one draft: its versions, and the records criticising it",
)
async def draft_feed(
    draft_id: uuid.UUID,
    request: Request,
    pool: DatabasePool,
    _: Limited,
    if_none_match: IfNoneMatch = None,
) -> Response:
    draft = await queries.draft(pool, draft_id)
    if draft is None:
        raise ProblemError(404, "not-found", "No published draft with this id")
    return _atom_response(
        request,
        if_none_match,
        feed_id=f"{TAG}feeds/drafts/{draft_id}",
        title=f"{FEED_TITLE} — {draft.title}",
        found=await queries.latest_of_draft(pool, draft_id, limit=FEED_SIZE),
        draft=draft,
    )
