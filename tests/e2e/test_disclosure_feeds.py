"""Disclosure's feeds, exports and agency scorecards, on records that went through the three
services as processes: answered on time, answered late, overdue, and one still open.

One agency (A) gets five answers (three on time, two late), one overdue case and one open case,
from two organisations; another agency (B) gets one answer. So A's rates are shown (a sample of
five, the minimum) and B's are not.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import feedparser  # type: ignore[import-untyped]
import grpc
import httpx
import pytest

from contracts.disclosure_api import PublicRecord
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.vocabulary import VIETNAM
from services.platform import db
from services.tracking import commands, schedule
from tests.support.directory import Directory, register
from tests.support.services import Deployment

T = TypeVar("T")

TITLE = "Kiến nghị về việc công khai quy hoạch sử dụng đất"
POINTS: list[dict[str, Any]] = [
    {"number": 1, "text": "Niêm yết công khai quy hoạch tại trụ sở xã.", "citation": "Điều 48"},
    {"number": 2, "text": "Tổ chức đối thoại với người dân bị ảnh hưởng."},
]
# Text that must come out exact in the exports and harmless in the feeds.
TRICKY_TITLE = "Góp ý <b>dự thảo</b> & “quy chế” chi tiêu nội bộ"
TRICKY_POINTS: list[dict[str, Any]] = [
    {"number": 1, "text": "Bỏ khoản 3 <script>alert('x')</script> & chi phí tiếp khách."},
    {"number": 2, "text": '=HYPERLINK("http://example.invalid") là công thức, không phải số.'},
    {"number": 5, "text": "Ghi rõ hạn mức\u000bcông tác phí.", "citation": "Điều 7, khoản 2"},
]


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 60) -> T:
    async with asyncio.timeout(timeout):
        while (result := await check()) is None or result is False:
            await asyncio.sleep(0.2)
    return result


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class World:
    a: Directory  # organisation A and agency A
    b: Directory  # organisation B and agency B
    on_time: list[str]  # agency A: two from organisation A, the last from organisation B
    late: list[str]  # agency A, organisation A
    overdue: str  # agency A, organisation A
    open: str  # agency A, organisation A: not published
    b_answered: str  # agency B, organisation B
    tricky: str  # the first of on_time
    records: dict[str, dict[str, Any]]  # every published record, as /v1/records/{id} gives it

    @property
    def published(self) -> set[str]:
        return {*self.on_time, *self.late, self.overdue, self.b_answered}

    @property
    def agency_a(self) -> set[str]:
        return {*self.on_time, *self.late, self.overdue}


async def _submit(
    deployment: Deployment,
    agency: pb_grpc.AgencyServiceStub,
    organisation: Directory,
    to: Directory,
    *,
    title: str = TITLE,
    points: list[dict[str, Any]] = POINTS,
) -> tuple[str, pb.Case]:
    async with httpx.AsyncClient(base_url=deployment.submission_url) as http:
        created = await http.post(
            "/v1/critiques",
            json={
                "agency_id": to.agency_id,
                "kind": "supervision_recommendation",
                "title": title,
                "points": points,
            },
            headers={"Authorization": f"Bearer {organisation.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id: str = created.json()["id"]

    async def opened() -> pb.Case | None:
        listed = await agency.ListCases(pb.ListCasesRequest(), metadata=bearer(to.agency_token))
        return next((c for c in listed.cases if c.critique_id == critique_id), None)

    return critique_id, await eventually(opened)


async def _answer(agency: pb_grpc.AgencyServiceStub, to: Directory, case: pb.Case) -> pb.Case:
    answers = [
        pb.PointAnswer(
            point_number=p.number,
            disposition=pb.DISPOSITION_NOT_ACCEPTED if i % 2 else pb.DISPOSITION_ACCEPTED,
            explanation="Đã bố trí kinh phí & sẽ thực hiện trong quý <IV>." if i % 2 else "",
        )
        for i, p in enumerate(case.points)
    ]
    reply = await agency.SubmitAnswer(
        pb.SubmitAnswerRequest(
            case_id=case.case_id,
            version=case.version,
            request_id=str(uuid.uuid4()),
            answers=answers,
        ),
        metadata=bearer(to.agency_token),
    )
    answered: pb.Case = reply.case
    return answered


async def _published(
    http: httpx.AsyncClient, critique_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        reply = await http.get(f"/v1/records/{critique_id}")
        if reply.status_code != 200:
            return None
        body: dict[str, Any] = reply.json()
        return body if body["status"] == status else None

    return await eventually(found, timeout)


@pytest.fixture(scope="module")
async def world(deployment: Deployment) -> World:
    a, b = await register(deployment), await register(deployment)
    tracking = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=2)
    public = httpx.AsyncClient(base_url=deployment.disclosure_url)
    records: dict[str, dict[str, Any]] = {}
    try:
        async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
            agency = pb_grpc.AgencyServiceStub(channel)
            submitted = await asyncio.gather(
                _submit(deployment, agency, a, a, title=TRICKY_TITLE, points=TRICKY_POINTS),
                _submit(deployment, agency, a, a),
                _submit(deployment, agency, b, a),
                _submit(deployment, agency, a, a),
                _submit(deployment, agency, a, a),
                _submit(deployment, agency, a, a),
                _submit(deployment, agency, b, b),
            )
            (tricky, on_a, on_b, late_1, late_2, overdue, b_answered) = submitted
            yesterday = (schedule.system_clock().astimezone(VIETNAM) - timedelta(days=1)).date()
            for _, case in (late_1, late_2):
                await tracking.execute(
                    "UPDATE cases SET due_date = $2 WHERE id = $1",
                    uuid.UUID(case.case_id),
                    yesterday,
                )
            answered = await asyncio.gather(
                *(_answer(agency, a, case) for _, case in (tricky, on_a, on_b, late_1, late_2)),
                _answer(agency, b, b_answered[1]),
            )
            assert [c.answered_late for c in answered] == [False, False, False, True, True, False]
            expected = {
                **{c: "answered" for c, _ in (tricky, on_a, on_b, b_answered)},
                **{c: "answered_late" for c, _ in (late_1, late_2)},
            }
            for critique_id, status in expected.items():
                records[critique_id] = await _published(public, critique_id, status)
            # Only the unanswered case is left with deadline steps: it falls overdue, and is
            # published last.
            after_due = date.fromisoformat(overdue[1].due_date) + timedelta(days=1)
            while await commands.fire_due(
                tracking, now=datetime.combine(after_due, time(0, 1), VIETNAM)
            ):
                pass
            records[overdue[0]] = await _published(public, overdue[0], "overdue")
            # Submitted after the scheduler ran: open, and not published.
            still_open, _ = await _submit(deployment, agency, a, a)
    finally:
        await tracking.close()
        await public.aclose()
    return World(
        a=a,
        b=b,
        on_time=[tricky[0], on_a[0], on_b[0]],
        late=[late_1[0], late_2[0]],
        overdue=overdue[0],
        open=still_open,
        b_answered=b_answered[0],
        tricky=tricky[0],
        records=records,
    )


@pytest.fixture
async def public(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=30) as http:
        yield http


# --- Atom feeds ------------------------------------------------------------------------------


async def _feed(public: httpx.AsyncClient, path: str) -> Any:
    reply = await public.get(path)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(reply.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


async def test_the_feed_of_all_records_is_valid_atom_with_one_entry_per_record(
    deployment: Deployment, world: World, public: httpx.AsyncClient
) -> None:
    parsed = await _feed(public, "/feeds/records.atom")
    base = deployment.disclosure_url
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Giám sát và phản biện xã hội / Social supervision and criticism"
    assert parsed.feed.id.startswith("tag:")
    assert parsed.feed.updated_parsed is not None
    assert {link.rel: link.href for link in parsed.feed.links}["self"] == (
        f"{base}/feeds/records.atom"
    )
    entries = {e.id: e for e in parsed.entries}
    # The topics are shared by the session's test modules: a few records of the module before may
    # have reached this deployment too, so "all" holds ours and maybe some others.
    assert {f"urn:uuid:{c}" for c in world.published} <= set(entries)
    assert f"urn:uuid:{world.open}" not in entries

    for critique_id in world.published:
        record = PublicRecord.model_validate(world.records[critique_id])
        entry = entries[f"urn:uuid:{critique_id}"]
        assert entry.title == f"{record.title} — {record.status_label}"
        links = {link.rel: link.href for link in entry.links}
        assert links == {
            "alternate": f"{base}/records/{critique_id}",
            "related": f"{base}/v1/records/{critique_id}",
        }
        latest = max([record.published_at, *(s.at for s in record.timeline)])
        assert datetime.fromisoformat(entry.updated) == latest
        assert datetime.fromisoformat(entry.published) == record.published_at
        assert entry.author == record.organisation.name
        assert {t.term for t in entry.tags} == {"supervision_recommendation", record.status}
        assert entry.content[0].type == "text/html"
        for point in record.points:
            assert point.text.replace("\u000b", "") in _html_text(entry.content[0].value)

    tricky = entries[f"urn:uuid:{world.tricky}"]
    assert tricky.title.startswith(TRICKY_TITLE)  # the markup in the title is text, not markup
    assert "<script>" not in tricky.content[0].value  # escaped, and kept as text
    assert "&lt;script&gt;" in tricky.content[0].value


def _html_text(html: str) -> str:
    from html.parser import HTMLParser

    texts: list[str] = []

    class Collect(HTMLParser):
        def handle_data(self, data: str) -> None:
            texts.append(data)

    Collect(convert_charrefs=True).feed(html)
    return "".join(texts)


async def test_an_agency_feed_and_an_organisation_feed_hold_only_their_records(
    world: World, public: httpx.AsyncClient
) -> None:
    def ids(parsed: Any) -> set[str]:
        return {e.id.removeprefix("urn:uuid:") for e in parsed.entries}

    agency_a = await _feed(public, f"/feeds/agencies/{world.a.agency_id}.atom")
    assert ids(agency_a) == world.agency_a
    assert agency_a.feed.title.endswith("— Ủy ban nhân dân xã Hòa Bình")
    assert ids(await _feed(public, f"/feeds/agencies/{world.b.agency_id}.atom")) == {
        world.b_answered
    }
    organisation_a = await _feed(public, f"/feeds/organisations/{world.a.organisation_id}.atom")
    assert ids(organisation_a) == world.agency_a - {world.on_time[2]}
    organisation_b = await _feed(public, f"/feeds/organisations/{world.b.organisation_id}.atom")
    assert ids(organisation_b) == {world.on_time[2], world.b_answered}
    assert {e.author for e in organisation_b.entries} == {"Ủy ban MTTQ Việt Nam xã Hòa Bình"}

    unknown = await public.get("/feeds/agencies/khong-ton-tai.atom")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    nobody = await _feed(public, "/feeds/organisations/chua-gui-gi.atom")
    assert nobody.entries == []


async def test_a_feed_reader_polling_with_its_etag_is_told_nothing_changed(
    public: httpx.AsyncClient, world: World
) -> None:
    first = await public.get(f"/feeds/agencies/{world.a.agency_id}.atom")
    again = await public.get(
        f"/feeds/agencies/{world.a.agency_id}.atom",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.content == b""


# --- Exports ---------------------------------------------------------------------------------


async def _jsonl(public: httpx.AsyncClient, **params: Any) -> tuple[list[str], httpx.Headers]:
    lines = []
    async with public.stream("GET", "/exports/records.jsonl", params=params) as reply:
        assert reply.status_code == 200, await reply.aread()
        async for line in reply.aiter_lines():
            if line:
                lines.append(line)
        return lines, reply.headers


async def test_the_json_lines_export_streams_each_record_as_the_api_serves_it(
    world: World, public: httpx.AsyncClient
) -> None:
    lines, headers = await _jsonl(public)
    assert headers["content-type"] == "application/x-ndjson"
    assert headers["content-disposition"] == 'attachment; filename="records.jsonl"'
    assert "content-length" not in headers  # streamed
    exported = {}
    for line in lines:
        record = PublicRecord.model_validate_json(line)
        exported[str(record.critique_id)] = record
    assert world.published <= set(exported)  # and maybe other modules' records
    assert world.open not in exported
    for critique_id in world.published:
        assert exported[critique_id].model_dump(mode="json") == world.records[critique_id]
    published_at = [PublicRecord.model_validate_json(line).published_at for line in lines]
    assert published_at == sorted(published_at)  # oldest publication first
    tricky = exported[world.tricky]
    assert [p.text for p in tricky.points] == [p["text"] for p in TRICKY_POINTS]


async def test_the_exports_take_the_filters_of_the_records_api(
    world: World, public: httpx.AsyncClient
) -> None:
    async def exported(**params: Any) -> set[str]:
        lines, _ = await _jsonl(public, **params)
        return {str(PublicRecord.model_validate_json(line).critique_id) for line in lines}

    assert await exported(agency=world.a.agency_id) == world.agency_a
    assert await exported(organisation=world.b.organisation_id) == {
        world.on_time[2],
        world.b_answered,
    }
    assert await exported(agency=world.a.agency_id, status="answered_late") == set(world.late)
    assert await exported(overdue=True, agency=world.a.agency_id) == {world.overdue}
    assert await exported(agency=world.a.agency_id, q="chi tieu noi bo") == {world.tricky}

    # For mirrors: what changed after a change number (a record's ETag is its change number).
    etag = (await public.get(f"/v1/records/{world.overdue}")).headers["etag"]
    since = int(etag.strip('"')) - 1
    assert await exported(changed_since=since, agency=world.a.agency_id) == {world.overdue}
    assert await exported(changed_since=0, agency=world.a.agency_id) == world.agency_a
    _, headers = await _jsonl(public, agency=world.a.agency_id)
    last = int(headers["x-last-change"])
    assert last > since
    assert await exported(changed_since=last, agency=world.a.agency_id) == set()

    refused = await public.get("/exports/records.csv", params={"changed_since": -1})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


async def test_the_csv_export_has_one_row_per_point_and_opens_in_excel(
    world: World, public: httpx.AsyncClient
) -> None:
    async with public.stream(
        "GET", "/exports/records.csv", params={"agency": world.a.agency_id}
    ) as reply:
        assert reply.status_code == 200
        body = await reply.aread()
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["content-disposition"] == 'attachment; filename="records.csv"'
    assert body.startswith("\ufeff".encode())  # the BOM Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == [
        "critique_id",
        "published_at",
        "organisation_id",
        "organisation_name",
        "organisation_level",
        "agency_id",
        "agency_name",
        "kind",
        "title",
        "status",
        "submitted_at",
        "due_date",
        "answered_at",
        "point_number",
        "point_text",
        "citation",
        "disposition",
        "explanation",
        "draft_id",
        "draft_version",
        "cites",
    ]
    by_record: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_record.setdefault(row["critique_id"], []).append(row)
    assert set(by_record) == world.agency_a
    for critique_id, record_rows in by_record.items():
        record = world.records[critique_id]
        assert len(record_rows) == len(record["points"])
        for row, point in zip(record_rows, record["points"], strict=True):
            assert row["point_number"] == str(point["number"])
            assert row["status"] == record["status"]
            assert row["agency_name"] == "Ủy ban nhân dân xã Hòa Bình"
            assert row["organisation_name"] == "Ủy ban MTTQ Việt Nam xã Hòa Bình"
            assert row["disposition"] == (point["disposition"] or "")
            assert row["explanation"] == (point["explanation"] or "")
            assert row["citation"] == (point["citation"] or "")
            assert datetime.fromisoformat(row["published_at"]) == datetime.fromisoformat(
                record["published_at"]
            )
            if not point["text"].startswith("="):
                assert row["point_text"] == point["text"]  # exact, Vietnamese and all

    tricky = by_record[world.tricky]
    assert tricky[0]["title"] == TRICKY_TITLE
    assert [r["point_text"] for r in tricky] == [
        TRICKY_POINTS[0]["text"],
        f"'{TRICKY_POINTS[1]['text']}",  # a spreadsheet must not run it as a formula
        TRICKY_POINTS[2]["text"],
    ]
    assert tricky[2]["citation"] == "Điều 7, khoản 2"
    assert [r["disposition"] for r in tricky] == ["accepted", "not_accepted", "accepted"]
    assert tricky[1]["explanation"] == "Đã bố trí kinh phí & sẽ thực hiện trong quý <IV>."
    overdue = by_record[world.overdue]
    assert {(r["status"], r["answered_at"], r["disposition"]) for r in overdue} == {
        ("overdue", "", "")
    }


# --- Agency scorecards -----------------------------------------------------------------------


async def test_an_agency_scorecard_counts_answers_lateness_overdue_and_open_cases(
    world: World, public: httpx.AsyncClient
) -> None:
    async def card() -> dict[str, Any] | None:
        reply = await public.get(f"/v1/agencies/{world.a.agency_id}")
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body if body["scorecard"]["open"] == 1 else None  # the open critique has arrived

    found = await eventually(card)
    assert found["agency"] == {
        "id": world.a.agency_id,
        "name": "Ủy ban nhân dân xã Hòa Bình",
        "level": "commune",
    }
    scorecard = found["scorecard"]
    answered_in_days = sorted(
        (
            datetime.fromisoformat(world.records[c]["answered_at"])
            - datetime.fromisoformat(world.records[c]["submitted_at"])
        ).total_seconds()
        / 86_400
        for c in [*world.on_time, *world.late]
    )
    assert answered_in_days[2] < 0.05  # answered within minutes: the median rounds to 0.0
    assert scorecard == {
        "answered_on_time": 3,
        "answered_late": 2,
        "overdue": 1,
        "open": 1,  # counted although not published
        "median_days_to_answer": 0.0,
        "on_time_rate": {"value": 0.6, "sample": 5, "insufficient_sample": False},
        "late_rate": {"value": 0.4, "sample": 5, "insufficient_sample": False},
        "overdue_rate": {"value": 0.167, "sample": 6, "insufficient_sample": False},
        "min_sample": 5,
    }
    hidden = await public.get(f"/v1/records/{world.open}")
    assert hidden.status_code == 404  # its existence is counted, its content is not public


async def test_an_agency_with_few_records_has_counts_but_no_rates(
    world: World, public: httpx.AsyncClient
) -> None:
    reply = await public.get(f"/v1/agencies/{world.b.agency_id}")
    assert reply.status_code == 200
    scorecard = reply.json()["scorecard"]
    assert (scorecard["answered_on_time"], scorecard["answered_late"]) == (1, 0)
    assert (scorecard["overdue"], scorecard["open"]) == (0, 0)
    assert scorecard["median_days_to_answer"] == 0.0
    for name in ("on_time_rate", "late_rate", "overdue_rate"):
        assert scorecard[name] == {"value": None, "sample": 1, "insufficient_sample": True}


async def test_the_agency_list_pages_through_every_known_agency(
    world: World, public: httpx.AsyncClient
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"after": after} if after else {})}
        reply = await public.get("/v1/agencies", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        seen.update({item["agency"]["id"]: item for item in page["items"]})
        if (after := page["next_after"]) is None:
            break
    assert {world.a.agency_id, world.b.agency_id} <= set(seen)
    assert list(seen) == sorted(seen)
    single = (await public.get(f"/v1/agencies/{world.b.agency_id}")).json()
    assert seen[world.b.agency_id] == single

    unknown = await public.get("/v1/agencies/khong-ton-tai")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["status"] == 404
