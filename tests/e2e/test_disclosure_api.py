"""The public record through the running services: what is published and when, what is hidden,
how it is found, and that it can be rebuilt from the topics alone."""

from __future__ import annotations

import asyncio
import sys
import uuid
from contextlib import ExitStack
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support.directory import Directory, register
from tests.support.engines import Engines, free_port, start
from tests.support.journeys import (
    answer,
    case_of,
    eventually,
    make_overdue,
    public_record,
    submit,
)
from tests.support.services import Deployment, wait_ready


@pytest.fixture
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


async def published(deployment: Deployment, critique_id: str, **expected: Any) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        record = await public_record(deployment, critique_id)
        if record is not None and all(record.get(k) == v for k, v in expected.items()):
            return record
        return None

    return await eventually(matches)


async def test_a_record_is_public_once_answered_and_not_before(
    deployment: Deployment, office: Directory
) -> None:
    critique_id = await submit(deployment, office)
    case = await case_of(deployment, office, critique_id)
    assert await public_record(deployment, critique_id) is None

    answered = await answer(deployment, office, case)
    record = await published(deployment, critique_id, status="answered")
    assert record["publication_reason"] == "answered"
    assert record["status_label"] == "Đã trả lời / Answered"
    assert [p["disposition"] for p in record["points"]] == ["accepted", "partly_accepted"]
    assert record["agency"]["name"] == "Ủy ban nhân dân xã Hòa Bình"
    assert record["due_date"] == answered.due_date
    assert "30 ngày" in record["due_rule"]["explanation"]


async def test_no_answer_by_the_due_date_is_published_then_the_late_answer_replaces_it(
    deployment: Deployment, office: Directory
) -> None:
    critique_id = await submit(deployment, office)
    case = await case_of(deployment, office, critique_id)
    await make_overdue(deployment, case)
    overdue = await published(deployment, critique_id, status="overdue")
    assert overdue["publication_reason"] == "overdue"
    assert [p["disposition"] for p in overdue["points"]] == [None, None]
    assert "overdue" in [step["step"] for step in overdue["timeline"]]

    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        first = await http.get(f"/v1/records/{critique_id}")
        etag = first.headers["etag"]
        unchanged = await http.get(f"/v1/records/{critique_id}", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304

        await answer(deployment, office, case)
        late = await published(deployment, critique_id, status="answered_late")
        assert late["published_at"] == overdue["published_at"]
        changed = await http.get(f"/v1/records/{critique_id}", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag


async def test_a_withdrawn_critique_is_never_published_and_hides_its_content_if_it_was(
    deployment: Deployment, office: Directory
) -> None:
    headers = {"Authorization": f"Bearer {office.organisation_token}"}
    quiet = await submit(deployment, office, title="Kiến nghị sẽ được rút lại")
    loud = await submit(deployment, office, title="Kiến nghị quá hạn rồi bị rút")
    loud_case = await case_of(deployment, office, loud)
    await make_overdue(deployment, loud_case)
    await published(deployment, loud, status="overdue")
    async with httpx.AsyncClient(base_url=deployment.submission_url, headers=headers) as http:
        for critique_id in (quiet, loud):
            withdrawn = await http.post(f"/v1/critiques/{critique_id}/withdrawal", json={})
            assert withdrawn.status_code == 202, withdrawn.text  # tracking decides

    hidden = await published(deployment, loud, status="withdrawn")
    assert hidden["title"] == "Đã rút / Withdrawn"
    assert hidden["points"] == []
    await asyncio.sleep(2)
    assert await public_record(deployment, quiet) is None


async def test_personal_data_is_redacted_with_a_public_log_of_what_and_why(
    deployment: Deployment, office: Directory
) -> None:
    critique_id = await submit(
        deployment,
        office,
        title="Kiến nghị của bà Trần Thị Bình về lối đi chung",
        redact_names=["Trần Thị Bình"],
        points=[
            {
                "number": 1,
                "text": "Liên hệ 0912 345 678 hoặc binh.tran@example.vn; CCCD 001203004567.",
            },
            {"number": 2, "text": "Mở rộng lối đi cho xe cứu thương."},
        ],
    )
    case = await case_of(deployment, office, critique_id)
    await answer(deployment, office, case, explanation="Đã gọi số 024 3825 1234 để trao đổi.")
    record = await published(deployment, critique_id, status="answered")

    text = str(record)
    for secret in ("0912 345 678", "binh.tran@example.vn", "001203004567", "Trần Thị Bình"):
        assert secret not in text
    assert "3825 1234" not in text
    assert record["points"][0]["text"].count("[đã ẩn") == 3
    kinds = {(r["field"], r["kind"]) for r in record["redactions"]}
    assert kinds == {
        ("title", "name"),
        ("points[0].text", "phone"),
        ("points[0].text", "email"),
        ("points[0].text", "citizen_id"),
        ("points[1].explanation", "phone"),
    }
    assert all("91/2025/QH15" in r["reason"] for r in record["redactions"])


async def test_search_ignores_diacritics_and_filters_narrow_the_list(
    deployment: Deployment, office: Directory
) -> None:
    planning = await submit(deployment, office, title="Kiến nghị về quy hoạch chợ Đồng Xuân")
    roads = await submit(
        deployment,
        office,
        kind="government_building_opinion",
        title="Góp ý về đường giao thông nông thôn",
        points=[{"number": 1, "text": "Lắp đèn chiếu sáng đường liên xã."}],
    )
    for critique_id in (planning, roads):
        await answer(deployment, office, await case_of(deployment, office, critique_id))
        await published(deployment, critique_id, status="answered")

    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:

        async def found(**params: Any) -> list[str]:
            reply = await http.get("/v1/records", params={"agency": office.agency_id, **params})
            assert reply.status_code == 200, reply.text
            return [r["critique_id"] for r in reply.json()["items"]]

        assert await found(q="quy hoach") == [planning]
        assert await found(q="QUY HOẠCH đồng xuân") == [planning]
        assert await found(q="dong xuan") == [planning]
        assert await found(q="đường") == [roads]
        assert await found(kind="government_building_opinion") == [roads]
        assert await found(organisation=office.organisation_id) == [roads, planning]
        assert await found(level="commune", status="answered") == [roads, planning]
        assert await found(overdue=True) == []
        today = date.today()
        assert await found(submitted_from=(today - timedelta(days=1)).isoformat()) == [
            roads,
            planning,
        ]
        assert await found(answered_to=(today - timedelta(days=2)).isoformat()) == []
        first = await http.get("/v1/records", params={"agency": office.agency_id, "limit": 1})
        page = first.json()
        second = await http.get(
            "/v1/records",
            params={"agency": office.agency_id, "limit": 1, "cursor": page["next_cursor"]},
        )
        assert [r["critique_id"] for r in page["items"] + second.json()["items"]] == [
            roads,
            planning,
        ]
        assert (await http.get("/v1/records", params={"level": "district"})).status_code == 422


async def test_the_change_feed_gives_mirrors_every_change_once_in_order(
    deployment: Deployment, office: Directory
) -> None:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:
        start_at = (await http.get("/v1/changes", params={"since": 10**9})).json()["next_since"]
        since = 0
        while True:  # catch up with everything before this test
            feed = (await http.get("/v1/changes", params={"since": since, "limit": 1000})).json()
            if feed["next_since"] == since:
                break
            since = feed["next_since"]
        assert start_at == 10**9
        critique_id = await submit(deployment, office)
        await answer(deployment, office, await case_of(deployment, office, critique_id))
        await published(deployment, critique_id, status="answered")

        feed = (await http.get("/v1/changes", params={"since": since})).json()
        assert [r["critique_id"] for r in feed["items"]] == [critique_id]
        assert feed["next_since"] > since
        again = (await http.get("/v1/changes", params={"since": feed["next_since"]})).json()
        assert again == {"items": [], "drafts": [], "next_since": feed["next_since"]}


async def test_rebuilding_the_read_model_from_the_topics_gives_the_same_records(
    deployment: Deployment, office: Directory, engines: Engines
) -> None:
    critique_id = await submit(deployment, office, title="Kiến nghị để kiểm tra việc dựng lại")
    await answer(deployment, office, await case_of(deployment, office, critique_id))
    await published(deployment, critique_id, status="answered")

    url = await engines.create_database("rebuild")
    port = free_port()
    with ExitStack() as stack:
        rebuilt = start(
            "disclosure-rebuilt",
            [sys.executable, "-m", "services.cli", "serve", "disclosure"],
            {
                "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS": engines.kafka_bootstrap,
                "SUPERVISION_DISCLOSURE_DATABASE_URL": url,
                "SUPERVISION_DISCLOSURE_HTTP_PORT": str(port),
                "SUPERVISION_DISCLOSURE_CONSUMER_GROUP": f"rebuild-{uuid.uuid4().hex[:6]}",
                "OTEL_TRACES_EXPORTER": "none",
            },
            engines.workdir,
        )
        stack.callback(rebuilt.stop)
        mirror = Deployment(
            submission_url=deployment.submission_url,
            disclosure_url=f"http://127.0.0.1:{port}",
            tracking_address=deployment.tracking_address,
            database_urls={},
            traces_dir=engines.workdir,
            processes={"disclosure-rebuilt": rebuilt},
        )
        await wait_ready(mirror)
        async with (
            httpx.AsyncClient(base_url=deployment.disclosure_url) as original,
            httpx.AsyncClient(base_url=mirror.disclosure_url) as copy,
        ):

            async def everything(http: httpx.AsyncClient) -> list[dict[str, Any]]:
                """Every record the service has published, page after page."""
                items: list[dict[str, Any]] = []
                cursor = None
                while True:
                    params: dict[str, Any] = {"limit": 200}
                    if cursor:
                        params["cursor"] = cursor
                    page = (await http.get("/v1/records", params=params)).json()
                    items += page["items"]
                    if not (cursor := page["next_cursor"]):
                        return items

            expected = await everything(original)
            assert critique_id in [r["critique_id"] for r in expected]

            # The topics also hold other test modules' critiques, which this deployment's read
            # model never saw: compare what it has, record by record. Their events come on two
            # topics, which the rebuild hears in another order than the live service did.
            wanted = {r["critique_id"] for r in expected}

            async def caught_up() -> list[dict[str, Any]] | None:
                copies = [r for r in await everything(copy) if r["critique_id"] in wanted]
                return copies if copies == expected else None

            try:
                assert await eventually(caught_up, timeout=120) == expected
            except TimeoutError:
                copies = {r["critique_id"]: r for r in await everything(copy)}
                differences = {
                    r["critique_id"]: sorted(
                        k for k in r if r[k] != copies.get(r["critique_id"], {}).get(k)
                    )
                    for r in expected
                    if copies.get(r["critique_id"]) != r
                }
                pytest.fail(
                    f"the rebuilt read model differs (fields by record: {differences}):\n"
                    f"{rebuilt.log_tail(80)}"
                )
