"""The public web pages as a person sees them, in a real headless Chromium.

The browser is driven through its own command line (``--dump-dom`` prints the DOM once the page
has loaded, ``--screenshot`` writes a PNG), each load with a fresh profile: no browser is
downloaded, no page runs JavaScript, and links and forms are followed as a person would, by
reading the ``href`` or the form's ``action`` and fields from the rendered DOM and loading the
URL they lead to. The records are made through the running services: submitted over HTTP,
answered over gRPC, made overdue by tracking's scheduler.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from contracts.vocabulary import VIETNAM
from services.platform import db
from services.tracking import commands
from tests.support.directory import Directory, register
from tests.support.services import Deployment

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
T = TypeVar("T")

# Personal data in the submitted text, which the pages must never show.
PHONE = "0912 345 678"
CITIZEN_ID = "001099012345"
PRIVATE_NAME = "Trần Thị Bích"
TITLE = "Kiến nghị về quy hoạch khu dân cư mới ở thôn Đông"
OVERDUE_TITLE = "Kiến nghị về sửa chữa đường liên xã"
PAGINATED = 21  # one more than a page of results


# --- the browser ---------------------------------------------------------------------------------


NOT_INSTALLABLE = (
    "chromium is not installed and we are not root, so `make tools` could not install it:"
    " sudo apt-get install --no-install-recommends chromium"
)
# Skipped before any service starts, and only where `make tools` could not install the browser.
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and os.geteuid() != 0, reason=NOT_INSTALLABLE
)


def chromium_binary() -> str:
    """Debian's chromium, as `make tools` installs it."""
    found = shutil.which("chromium")
    if found:
        return found
    pytest.fail(
        "chromium is not installed: run `make tools` (as root it installs Debian's chromium)",
        pytrace=False,
    )


FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@dataclass(frozen=True)
class Browser:
    binary: str

    async def _run(self, *arguments: str, timeout: float = 60) -> bytes:
        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                *arguments,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with asyncio.timeout(timeout):
                    out, err = await process.communicate()
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
        assert process.returncode == 0, err.decode(errors="replace")[-2000:]
        return out

    async def load(self, url: str) -> Page:
        """The page's DOM once loaded, as Chromium serialises it."""
        dom = (await self._run("--dump-dom", url)).decode()
        return Page(url=url, source=dom, root=parse(dom))

    async def screenshot(self, url: str, path: Path, width: int = 1280, height: int = 2000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        await self._run(f"--screenshot={path}", f"--window-size={width},{height}", url)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- a small DOM, from what Chromium dumped ------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def all(self, selector: str) -> list[Element]:
        """Descendants matching ``tag``, ``tag.class``, ``#id`` or ``tag[attr=value]``."""
        matched = re.fullmatch(
            r"([a-z0-9]*)(?:\.([\w-]+))?(?:#([\w-]+))?(?:\[([\w-]+)=(.*)\])?", selector
        )
        assert matched, selector
        tag, cls, ident, attr, value = matched.groups()
        return [
            e
            for e in self.iter()
            if e is not self
            and (not tag or e.tag == tag)
            and (not cls or cls in e.attrs.get("class", "").split())
            and (not ident or e.attrs.get("id") == ident)
            and (not attr or e.attrs.get(attr) == value)
        ]

    def one(self, selector: str) -> Element:
        found = self.all(selector)
        assert len(found) == 1, f"{len(found)} elements match {selector!r}"
        return found[0]

    @property
    def text(self) -> str:
        """The text, whitespace collapsed, as a person reads it."""
        parts: list[str] = []

        def walk(element: Element) -> None:
            for child in element.children:
                if isinstance(child, str):
                    parts.append(child)
                elif child.tag == "br":
                    parts.append(" ")
                else:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


@dataclass(frozen=True)
class Page:
    url: str
    source: str
    root: Element

    def link(self, href: str) -> str:
        """Where a link leads, as the browser resolves it."""
        return urljoin(self.url, href)

    @property
    def main(self) -> Element:
        return self.root.one("main")


# --- records made through the running services ---------------------------------------------------


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 60) -> T:
    async with asyncio.timeout(timeout):
        while (result := await check()) is None or result is False:
            await asyncio.sleep(0.2)
    return result


@dataclass(frozen=True)
class Published:
    answered: dict[str, Any]
    """Answered, with a phone number, a citizen id and a marked name in its text."""
    overdue: dict[str, Any]
    """Not answered by its due date, at the same agency."""
    directory: Directory
    busy: Directory
    """An agency with more overdue records than a page holds."""


async def _submit(deployment: Deployment, directory: Directory, body: dict[str, Any]) -> str:
    async with httpx.AsyncClient(base_url=deployment.submission_url) as http:
        created = await http.post(
            "/v1/critiques",
            json={"agency_id": directory.agency_id, "kind": "supervision_recommendation", **body},
            headers={"Authorization": f"Bearer {directory.organisation_token}"},
        )
    assert created.status_code == 201, created.text
    critique_id: str = created.json()["id"]
    return critique_id


async def _cases(
    agency: pb_grpc.AgencyServiceStub, directory: Directory, critique_ids: set[str]
) -> dict[str, pb.Case]:
    """The agency's cases of these critiques, once tracking has opened them all."""
    metadata = (("authorization", f"Bearer {directory.agency_token}"),)

    async def opened() -> dict[str, pb.Case] | None:
        listed = await agency.ListCases(pb.ListCasesRequest(page_size=100), metadata=metadata)
        cases = {c.critique_id: c for c in listed.cases if c.critique_id in critique_ids}
        return cases if len(cases) == len(critique_ids) else None

    return await eventually(opened)


async def _disclosed(deployment: Deployment, critique_id: str, status: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as public:

        async def ready() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/records/{critique_id}")
            if reply.status_code != 200:
                return None
            record: dict[str, Any] = reply.json()
            return record if record["status"] == status and record["agency"]["name"] else None

        return await eventually(ready)


@pytest.fixture(scope="module")
async def published(deployment: Deployment) -> Published:
    directory, busy = await register(deployment), await register(deployment)
    answered_id = await _submit(
        deployment,
        directory,
        {
            "title": TITLE,
            "points": [
                {
                    "number": 1,
                    "text": "Công khai bản đồ quy hoạch tại nhà văn hóa thôn.",
                    "citation": "Điều 5, khoản 2",
                },
                {
                    "number": 2,
                    "text": (
                        f"Bồi thường cho hộ bà {PRIVATE_NAME} (CCCD {CITIZEN_ID},"
                        f" điện thoại {PHONE}) bị ảnh hưởng."
                    ),
                },
            ],
            "redact_names": [PRIVATE_NAME],
        },
    )
    overdue_id = await _submit(
        deployment,
        directory,
        {"title": OVERDUE_TITLE, "points": [{"number": 1, "text": "Vá ổ gà trước mùa mưa."}]},
    )
    many = [
        await _submit(
            deployment,
            busy,
            {
                "title": f"Kiến nghị về chiếu sáng đường thôn số {n}",
                "points": [{"number": 1, "text": f"Lắp đèn đường ở thôn số {n}."}],
            },
        )
        for n in range(1, PAGINATED + 1)
    ]
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        cases = await _cases(agency, directory, {answered_id, overdue_id})
        await _cases(agency, busy, set(many))
        await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=cases[answered_id].case_id,
                request_id="tra-loi",
                version=cases[answered_id].version,
                answers=[
                    pb.PointAnswer(point_number=1, disposition=pb.DISPOSITION_ACCEPTED),
                    pb.PointAnswer(
                        point_number=2,
                        disposition=pb.DISPOSITION_NOT_ACCEPTED,
                        explanation="Hộ gia đình không thuộc phạm vi thu hồi đất của dự án.",
                    ),
                ],
            ),
            metadata=(("authorization", f"Bearer {directory.agency_token}"),),
        )
    answered = await _disclosed(deployment, answered_id, "answered")

    # Every other case falls due; tracking's scheduler marks them overdue.
    due = date.fromisoformat(cases[overdue_id].due_date) + timedelta(days=5)
    pool = await db.create_pool(deployment.database_urls["tracking"], min_size=1, max_size=2)
    try:
        while await commands.fire_due(pool, now=datetime.combine(due, time(0, 1), VIETNAM)):
            pass
    finally:
        await pool.close()
    overdue = await _disclosed(deployment, overdue_id, "overdue")
    for critique_id in many:
        await _disclosed(deployment, critique_id, "overdue")
    return Published(answered=answered, overdue=overdue, directory=directory, busy=busy)


@pytest.fixture(scope="module")
def browser() -> Browser:
    return Browser(chromium_binary())


# --- what every page must be ---------------------------------------------------------------------


def check_accessible(page: Page) -> None:
    """What every page owes a person using a keyboard, a screen reader or a slow phone."""
    html = page.root.one("html")
    assert html.attrs["lang"] == "vi"
    assert page.root.all("span[lang=en]"), "English parts are marked lang=en"
    assert not page.root.all("script"), "no JavaScript at all"
    assert not [e for e in page.root.iter() if any(a.startswith("on") for a in e.attrs)]
    for landmark in ("header", "nav", "main", "footer"):
        assert page.root.all(landmark), landmark
    # A skip link first, to the main content, which can take the focus.
    first_link = page.root.all("a")[0]
    assert first_link.attrs["href"] == "#main"
    assert "Bỏ qua, đến nội dung chính / Skip to main content" in first_link.text
    assert page.main.attrs["id"] == "main"
    # One h1, and no heading level skipped.
    levels = [int(e.tag[1]) for e in page.root.iter() if re.fullmatch(r"h[1-6]", e.tag)]
    assert levels[0] == 1, levels
    assert levels.count(1) == 1, levels
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    # Every form control has a label; nothing is taken out of the keyboard's order.
    labels = {e.attrs.get("for") for e in page.root.all("label")}
    for control in page.root.all("input") + page.root.all("select"):
        assert control.attrs.get("id") in labels, control.attrs
    for element in page.root.iter():
        assert int(element.attrs.get("tabindex", "0")) <= 0, element.attrs
    for table in page.root.all("table"):
        assert table.all("caption"), "tables have a caption"
        assert table.all("th"), "tables have headers"
    for moment in page.root.all("time"):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}\+07:00)?", moment.attrs["datetime"])
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}( \d{2}:\d{2})?", moment.text), moment.text


def record_links(section: Element) -> list[str]:
    return [a.attrs["href"] for a in section.all("a") if a.attrs["href"].startswith("/records/")]


def vn_date(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment.astimezone(VIETNAM):%d/%m/%Y}"


# --- the tests -----------------------------------------------------------------------------------


async def test_home_lists_the_latest_and_the_overdue_records_and_offers_a_search(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    page = await browser.load(f"{deployment.disclosure_url}/")
    check_accessible(page)
    latest = page.main.one("section[aria-labelledby=latest-heading]")
    overdue = page.main.one("section[aria-labelledby=overdue-heading]")
    assert latest.one("h2").text == "Mới công bố / Recently disclosed"
    assert overdue.one("h2").text == "Quá hạn, chưa trả lời / Overdue, no answer"
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        newest = (await http.get("/v1/records", params={"limit": 10})).json()["items"]
        late = (await http.get("/v1/records", params={"limit": 10, "status": "overdue"})).json()
    assert record_links(latest) == [f"/records/{r['critique_id']}" for r in newest]
    assert record_links(overdue) == [f"/records/{r['critique_id']}" for r in late["items"]]
    for item in overdue.all("li"):
        assert "Quá hạn, chưa trả lời / Overdue, no answer" in item.one("span.status").text

    form = page.main.one("form")
    assert form.attrs["method"] == "get"
    assert form.attrs["role"] == "search"
    query = form.one("input[name=q]")
    assert form.one(f"label[for={query.attrs['id']}]").text == "Từ khóa / Words to find"


async def test_a_search_typed_without_diacritics_leads_to_the_record_a_person_can_read(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    home = await browser.load(f"{deployment.disclosure_url}/")
    form = home.main.one("form")
    # What the form's GET submits when "quy hoach" is typed into its only field.
    results = await browser.load(
        home.link(form.attrs["action"])
        + "?"
        + urlencode({form.one("input").attrs["name"]: "quy hoach"})
    )
    assert urlsplit(results.url).query == "q=quy+hoach"
    check_accessible(results)
    assert results.main.one("input[name=q]").attrs["value"] == "quy hoach"
    found = results.main.one("section[aria-labelledby=results-heading]")
    record = await browser.load(results.link(record_links(found)[0]))

    answered = published.answered
    check_accessible(record)
    main = record.main
    assert main.one("h1").text == TITLE
    assert record.root.one("title").text.startswith(TITLE)
    assert main.one("p.record-status").text == "Đã trả lời / Answered"
    facts = main.all("dl")[0].text
    assert "Kiến nghị sau giám sát / Supervision recommendation" in facts
    assert "Ủy ban MTTQ Việt Nam xã Hòa Bình" in facts
    assert "Ủy ban nhân dân xã Hòa Bình" in facts
    assert vn_date(answered["answered_at"]) in facts
    assert "trả lời phiên bản 1 / answering version 1" in facts  # which text was answered

    # Each point next to its answer, in a table with a caption and headers.
    table = main.one("table")
    assert table.one("caption").text == (
        "Từng điểm kiến nghị, bên cạnh trả lời của cơ quan / Each point raised, next to the"
        " agency's answer"
    )
    assert [th.text for th in table.one("thead").all("th")] == [
        "Điểm / Point",
        "Nội dung kiến nghị / What was raised",
        "Trả lời của cơ quan / The agency's answer",
    ]
    rows = table.one("tbody").all("tr")
    assert [row.one("th").attrs["scope"] for row in rows] == ["row", "row"]
    first, second = ([cell.text for cell in row.all("td")] for row in rows)
    assert rows[0].one("th").text == "1"
    assert (
        first[0]
        == "Công khai bản đồ quy hoạch tại nhà văn hóa thôn. Trích dẫn / Cites: Điều 5, khoản 2"
    )
    assert first[1] == "Tiếp thu / Accepted"
    assert "[đã ẩn số định danh / ID number redacted]" in second[0]
    assert "[đã ẩn số điện thoại / phone number redacted]" in second[0]
    assert "[đã ẩn họ tên / name redacted]" in second[0]
    assert second[1] == (
        "Không tiếp thu / Not accepted Hộ gia đình không thuộc phạm vi thu hồi đất của dự án."
    )

    # How the due date was computed.
    due = main.one("section[aria-labelledby=due-heading]")
    assert due.one("h2").text == "Cách tính hạn trả lời / How the due date was computed"
    explanation = due.one("p.explanation")
    vietnamese, english = explanation.one("span.vi").text, explanation.one("span[lang=en]").text
    assert f"{vietnamese} / {english}" == answered["due_rule"]["explanation"]
    assert vietnamese.startswith("30 ngày theo lịch")
    assert english.startswith("30 calendar days")
    assert f"{date.fromisoformat(answered['due_date']):%d/%m/%Y}" in due.text
    skipped = answered["due_rule"]["skipped"]
    assert ("Không có ngày nghỉ nào làm thay đổi hạn" in due.text) == (not skipped)

    # The timeline, in order, with machine-readable times.
    steps = main.one("ol.timeline").all("li")
    assert [s.text.split(": ", 1)[1] for s in steps] == [s["label"] for s in answered["timeline"]]
    assert [s.one("time").attrs["datetime"] for s in steps] == [
        datetime.fromisoformat(s["at"]).astimezone(VIETNAM).isoformat(timespec="minutes")
        for s in answered["timeline"]
    ]
    assert "Đã gửi / Submitted" in steps[0].text
    assert "Đã trả lời / Answered" in steps[-1].text

    # What was hidden and why; never the hidden data itself.
    notice = main.one("section[aria-labelledby=hidden-heading]").text
    assert "Thông tin đã được ẩn / Information hidden" in notice
    assert (
        "Số định danh cá nhân (CCCD) / Citizen ID numbers: 1, ở / in Nội dung điểm 2 / Point 2"
        in notice
    )
    assert "Số điện thoại / Phone numbers: 1" in notice
    assert "Họ tên / Names: 1" in notice
    assert "Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15" in notice
    digits = re.sub(r"\D", "", record.source)
    for secret in (CITIZEN_ID, PHONE.replace(" ", "")):
        assert secret not in digits
    assert PHONE not in record.source
    assert PRIVATE_NAME not in record.source

    # The data behind the page, and the log that proves it was published.
    hrefs = [a.attrs["href"] for a in main.all("a")]
    assert f"/v1/records/{answered['critique_id']}" in hrefs
    assert "/v1/log/checkpoint" in hrefs
    assert f"/v1/log/critiques/{answered['critique_id']}" in hrefs
    async with httpx.AsyncClient() as http:
        behind = await http.get(record.link(f"/v1/records/{answered['critique_id']}"))
        html = await http.get(record.url)
        css = await http.get(record.link(record.root.one("link").attrs["href"]))
    assert behind.json() == answered
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in html.headers["content-security-policy"]  # no script at all
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert len(css.content) < 12_000

    ARTIFACTS.mkdir(exist_ok=True)
    await browser.screenshot(record.url, ARTIFACTS / "record-page.png")


async def test_an_overdue_record_says_no_answer_came(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    overdue = published.overdue
    page = await browser.load(f"{deployment.disclosure_url}/records/{overdue['critique_id']}")
    check_accessible(page)
    assert page.main.one("h1").text == OVERDUE_TITLE
    assert page.main.one("p.record-status").text == "Quá hạn, chưa trả lời / Overdue, no answer"
    assert page.main.one("tbody").one("tr").all("td")[1].text == "Chưa trả lời / No answer yet"
    assert "Công bố vì quá hạn mà chưa có trả lời" in page.main.all("dl")[0].text
    assert "Quá hạn trả lời / No answer by the due date" in page.main.one("ol.timeline").text
    assert "Không có thông tin nào bị ẩn. / Nothing was hidden." in page.main.text


async def test_the_agency_page_lists_its_records(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    record = await browser.load(
        f"{deployment.disclosure_url}/records/{published.answered['critique_id']}"
    )
    agency_link = next(
        a.attrs["href"] for a in record.main.all("a") if a.attrs["href"].startswith("/agencies/")
    )
    page = await browser.load(record.link(agency_link))
    check_accessible(page)
    assert page.main.one("h1").text == "Ủy ban nhân dân xã Hòa Bình"
    assert published.directory.agency_id in page.main.text
    listed = page.main.one("section[aria-labelledby=records-heading]")
    assert set(record_links(listed)) == {
        f"/records/{published.answered['critique_id']}",
        f"/records/{published.overdue['critique_id']}",
    }
    await browser.screenshot(page.url, ARTIFACTS / "agency-page.png")
    card = scorecard(page)
    assert card["Trả lời đúng hạn / Answered on time"] == "1"
    assert card["Trả lời quá hạn / Answered late"] == "0"
    assert card["Quá hạn, chưa trả lời / Overdue, no answer"] == "1"
    assert card["Đang chờ trả lời, chưa đến hạn / Awaiting an answer, not yet due"] == "0"
    assert card["Thời gian trả lời (trung vị) / Median time to answer"] == "0 ngày / 0 days"
    for share in ("đúng hạn / Share answered on time", "quá hạn / Share answered late"):
        assert card[f"Tỷ lệ trả lời {share}"].startswith("không đủ mẫu / too few cases 1 hồ sơ")
    assert card["Tỷ lệ quá hạn chưa trả lời / Share overdue with no answer"] == (
        "không đủ mẫu / too few cases 2 hồ sơ, cần ít nhất 5 / 2 of at least 5 needed"
    )

    busy = scorecard(
        await browser.load(f"{deployment.disclosure_url}/agencies/{published.busy.agency_id}")
    )
    assert busy["Quá hạn, chưa trả lời / Overdue, no answer"] == str(PAGINATED)
    assert busy["Tỷ lệ quá hạn chưa trả lời / Share overdue with no answer"] == (
        f"100% ({PAGINATED} trên {PAGINATED}) / 100% ({PAGINATED} of {PAGINATED})"
    )
    assert busy["Thời gian trả lời (trung vị) / Median time to answer"] == (
        "chưa có trả lời / no answer yet"
    )


def scorecard(page: Page) -> dict[str, str]:
    """The agency's scorecard table: each measure (without its note) and its value."""
    section = page.main.one("section[aria-labelledby=scorecard-heading]")
    assert section.one("h2").text == "Kết quả trả lời / Answering record"
    table = section.one("table")
    assert table.one("caption").text == (
        "Cơ quan này trả lời Mặt trận thế nào / How this agency answers the Front"
    )
    rows = table.one("tbody").all("tr")
    measures = [row.one("th") for row in rows]
    for measure in measures:
        for note in measure.all("span.sample"):
            measure.children.remove(note)
    return {m.text: row.one("td").text for m, row in zip(measures, rows, strict=True)}


async def test_results_continue_on_the_next_page(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    base = deployment.disclosure_url
    for start in (
        f"{base}/agencies/{published.busy.agency_id}",
        f"{base}/search?{urlencode({'agency': published.busy.agency_id, 'status': 'overdue'})}",
    ):
        first = await browser.load(start)
        check_accessible(first)
        pages = first.main.one("nav.pagination")
        assert pages.attrs["aria-label"] == "Phân trang / Pages"
        following = pages.one("a[rel=next]")
        assert following.text == "Trang sau / Next page"
        second = await browser.load(first.link(following.attrs["href"]))
        assert "Trang sau / Next page" not in second.main.text
        assert second.main.one("nav.pagination").one("a").text == "Về trang đầu / First page"
        seen = record_links(first.main) + record_links(second.main)
        assert len(seen) == len(set(seen)) == PAGINATED


async def test_an_unknown_record_gets_a_page_that_says_so(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    for path in (f"/records/{uuid.uuid4()}", "/records/not-an-id", "/agencies/khong-co"):
        url = f"{deployment.disclosure_url}{path}"
        page = await browser.load(url)
        check_accessible(page)
        assert page.root.one("title").text.startswith("Không tìm thấy / Not found")
        assert page.main.one("h1").text.startswith("Không có ")
        assert "/search" in [a.attrs["href"] for a in page.main.all("a")]
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).status_code == 404


async def test_a_wrong_search_value_is_explained_next_to_its_field(
    browser: Browser, deployment: Deployment, published: Published
) -> None:
    page = await browser.load(f"{deployment.disclosure_url}/search?status=lost&kind=")
    check_accessible(page)
    summary = page.main.one("div.error-summary")
    assert summary.attrs["role"] == "alert"
    assert summary.one("a").attrs["href"] == "#status"
    status = page.main.one("select#status")
    assert status.attrs["aria-invalid"] == "true"
    assert page.main.one(f"p#{status.attrs['aria-describedby']}").text == (
        "Hãy chọn một giá trị trong danh sách / Choose from the list"
    )
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        odd = await http.get("/search", params={"q": "quy\x00hoach", "status": ""})
        long = await http.get("/search", params={"q": "quy hoach " * 30})
    assert odd.status_code == 200
    assert odd.headers["content-type"] == "text/html; charset=utf-8"
    assert long.status_code == 422
    assert "Tối đa 200 ký tự" in long.text
