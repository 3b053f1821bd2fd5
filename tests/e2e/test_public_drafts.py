"""A person follows one draft on the public side, through the running services: its first
version as the drafting agency sent it, the Front's critique citing its clauses, the agency's
answers beside those clauses, and the next version with what it took in and what it did not.
Every draft document is a leaf of the transparency log."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import tempfile
from typing import Any
from xml.etree import ElementTree

import httpx

from tests.support.drafts import followed
from tests.support.journeys import eventually
from tests.support.services import Deployment

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_one_draft_from_its_first_version_through_the_critique_to_the_next_version(
    deployment: Deployment,
) -> None:
    journey = await followed(deployment)
    office, draft, critique_id = journey.office, journey.draft, journey.critique_id
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as public:

        async def both_versions() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/drafts/{draft.draft_id}")
            body: dict[str, Any] = reply.json()
            return body if reply.status_code == 200 and len(body["versions"]) == 2 else None

        published = await eventually(both_versions)
        first, second = published["versions"]
        assert published["sent_late"]
        assert first["window"]["sent_late"]
        assert not second["window"]["sent_late"]
        assert published["draft_type_label"] == "Nghị định / Decree"
        assert [c["part_id"] for c in second["changes"]] == ["dieu-2.khoan-1.diem-a", "dieu-3"]
        assert second["changed_unasked"] == ["dieu-3"]
        assert [(a["critique_id"], a["point_number"]) for a in second["accepted_unchanged"]] == [
            (critique_id, 2)
        ]

        async def record_with_text() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/records/{critique_id}")
            if reply.status_code != 200:
                return None
            body: dict[str, Any] = reply.json()
            return body if body["points"][0]["cited"] else None

        record = await eventually(record_with_text)
        assert record["draft_version"] == {"draft_id": draft.draft_id, "version": 1}
        assert record["draft"]["title"] == "Dự thảo Nghị định quy định mức thu phí sử dụng chợ"
        assert record["points"][0]["cited"] == [
            {
                "id": "dieu-2.khoan-1.diem-a",
                "citation": "điểm a khoản 1 Điều 2",
                "text": "Chợ hạng 1: 300.000 đồng/tháng;",
            }
        ]

        listed = (await public.get(f"/v1/drafts/{draft.draft_id}/records")).json()["items"]
        assert [r["critique_id"] for r in listed] == [critique_id]
        assert draft.draft_id in [
            d["draft_id"] for d in (await public.get("/v1/drafts")).json()["items"]
        ]

        # The page: the clause, the point citing it and the answer beside it, what changed.
        page = await public.get(f"/drafts/{draft.draft_id}")
        assert page.status_code == 200
        html = page.text
        row = html[html.index('id="v1-dieu-2.khoan-1.diem-a"') :]
        row = row[: row.index("</tr>")]
        assert "Chợ hạng 1: 300.000 đồng/tháng;" in row
        assert "Mức thu chợ hạng 1 quá cao." in row
        assert "Tiếp thu" in row
        assert "Mặt trận nhận dự thảo muộn" in html
        assert "Đã tiếp thu nhưng không sửa" in html
        assert "Sửa đổi mà không có ý kiến nào đề nghị" in html
        record_page = (await public.get(f"/records/{critique_id}")).text
        assert f'href="/drafts/{draft.draft_id}#version-1"' in record_page
        assert "điểm a khoản 1 Điều 2" in record_page

        # Search by draft, on the API and the page; an id that is none is told, by the field.
        by_draft = (await public.get("/v1/records", params={"draft": draft.draft_id})).json()
        assert [r["critique_id"] for r in by_draft["items"]] == [critique_id]
        found = await public.get("/search", params={"draft": draft.draft_id})
        assert f'href="/records/{critique_id}"' in found.text
        wrong = await public.get("/search", params={"draft": "khong-phai-ma"})
        assert wrong.status_code == 422
        assert 'id="draft-error"' in wrong.text

        # Drafts in the change feed (one sequence with the records) and the exports.
        since, seen = 0, []
        while True:
            page = (await public.get("/v1/changes", params={"since": since, "limit": 1000})).json()
            seen += [d["draft_id"] for d in page["drafts"]]
            if page["next_since"] == since:
                break
            since = page["next_since"]
        assert draft.draft_id in seen
        exported = [
            json.loads(line)
            for line in (await public.get("/exports/drafts.jsonl")).text.splitlines()
        ]
        assert published in exported
        rows = list(
            csv.DictReader(
                io.StringIO(
                    (
                        await public.get("/exports/records.csv", params={"draft": draft.draft_id})
                    ).content.decode("utf-8-sig")
                )
            )
        )
        assert [(r["critique_id"], r["draft_version"], r["cites"]) for r in rows] == [
            (critique_id, "1", "dieu-2.khoan-1.diem-a"),
            (critique_id, "1", "dieu-2.khoan-2"),
        ]

        # The draft's feed: its versions, newest first, then its records.
        feed = await public.get(f"/feeds/drafts/{draft.draft_id}.atom")
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("application/atom+xml")
        atom = ElementTree.fromstring(feed.content)
        ids = [e.findtext(f"{ATOM}id") for e in atom.iter(f"{ATOM}entry")]
        assert ids[:2] == [
            f"tag:supervision.mttq.vn,2025:drafts/{draft.draft_id}/versions/2",
            f"tag:supervision.mttq.vn,2025:drafts/{draft.draft_id}/versions/1",
        ]
        assert f"urn:uuid:{critique_id}" in ids
        assert "gửi muộn / sent late" in feed.text

        # Every page with a feed says so in its head, and the feed it names is served.
        for path in ("/", f"/agencies/{office.agency_id}", f"/drafts/{draft.draft_id}"):
            html = (await public.get(path)).text
            head = html[: html.index("</head>")]
            advertised = re.findall(
                r'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="([^"]+)">',
                head,
            )
            assert len(advertised) == 1, (path, head)
            served = await public.get(advertised[0])
            assert served.status_code == 200, (path, advertised)
            assert ElementTree.fromstring(served.content).tag == f"{ATOM}feed"

        # The consolidated report of version 1: each point under the part it cites, with its
        # answer, and what version 2 did with it; as JSON, a page, and a PDF that reads back.
        async def reported() -> dict[str, Any] | None:
            reply = await public.get(f"/v1/drafts/{draft.draft_id}/versions/1/report")
            if reply.status_code != 200:
                return None
            body: dict[str, Any] = reply.json()
            return body if body["totals"]["points"] == 2 and body["next_version"] == 2 else None

        report = await eventually(reported)
        assert [
            (p["part_id"], [x["point_number"] for x in p["points"]]) for p in report["parts"]
        ] == [
            ("dieu-2.khoan-1.diem-a", [1]),
            ("dieu-2.khoan-2", [2]),
        ]
        assert report["parts"][0]["points"][0]["taken_in"]
        assert report["parts"][0]["next_change"] == "changed"
        assert [p["point_number"] for p in report["accepted_unchanged"]] == [2]
        assert report["window"]["sent_late"]
        report_page = (await public.get(f"/drafts/{draft.draft_id}/versions/1/report")).text
        assert "Sẽ xem xét khi sửa đổi Nghị định." in report_page
        pdf = await public.get(f"/drafts/{draft.draft_id}/versions/1/report.pdf")
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
            file.write(pdf.content)
            file.flush()
            read = subprocess.run(
                ["pdftotext", "-enc", "UTF-8", file.name, "-"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        flat = " ".join(read.split())
        for expected in (
            "BÁO CÁO TIẾP THU, GIẢI TRÌNH",
            "điểm a khoản 1 Điều 2",
            "Mức thu chợ hạng 1 quá cao.",
            "Tiếp thu một phần / Partly accepted",
            "Giải trình / Explanation: Sẽ xem xét khi sửa đổi Nghị định.",
            "GỬI MẶT TRẬN MUỘN",
        ):
            assert expected in flat, (expected, flat[:1500])
        again = await public.get(
            f"/drafts/{draft.draft_id}/versions/1/report.pdf",
            headers={"If-None-Match": pdf.headers["etag"]},
        )
        assert again.status_code == 304

        # Each draft document published is a leaf of the log, exactly as served.
        leaves = (await public.get(f"/v1/log/drafts/{draft.draft_id}")).json()["leaves"]
        logged = [
            json.loads(
                base64.b64decode(
                    (await public.get(f"/v1/log/leaves/{leaf['index']}")).json()["document"]
                )
            )
            for leaf in leaves
        ]
        assert published in logged, "the draft's document as served"
        assert report in logged, "the report as served"
