"""API4:2023 Unrestricted Resource Consumption.

No request costs the services more than its bounds say: every page has a documented maximum
and asking for more is a named 422 (INVALID_ARGUMENT on gRPC); bodies over their limit are
refused before they are read, messages over gRPC's limit with RESOURCE_EXHAUSTED; the public
site and API (the proofs and the search included: each proof reads the whole tree) are
rate-limited per client; the proofs refuse sizes and indexes beyond the log or beyond numbers
with typed errors, the search a query longer than it reads; and one agency holds a bounded
number of WatchCases streams.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeAlias

import grpc
import httpx
import pytest
from fastapi.routing import iter_route_contexts
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.disclosure import main as disclosure
from services.disclosure.web import MAX_BODY_BYTES as PUBLIC_BODY_BYTES
from services.disclosure.web.pages.search import MAX_QUERY
from services.platform import db
from services.platform.http import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from services.submission.api.common import MAX_ATTACHMENT_BYTES, MAX_JSON_BYTES
from services.tracking.feed import MAX_WATCHERS_PER_AGENCY
from services.tracking.grpc_api.service import MAX_PAGE_SIZE
from tests.e2e.owasp.conftest import AgencyChannel, RawConnection
from tests.support.directory import Directory, register
from tests.support.services import Deployment

ROOT = Path(__file__).resolve().parents[3]
GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""gRPC's default receive limit, which tracking keeps (README, "Bad input")."""


@pytest.fixture(scope="module")
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


def document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (ROOT / "contracts" / "openapi" / f"{service}.json").read_text("utf-8")
    )
    return loaded


def problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, (reply.request.url, reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), reply.headers
    body: dict[str, Any] = reply.json()
    return body


def named(reply: httpx.Response, status: int = 422) -> set[str]:
    """The fields a problem names."""
    return {error["field"] for error in problem(reply, status)["errors"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- pages ---------------------------------------------------------------------------------

PER_CRITIQUE = {
    "/v1/critiques/{critique_id}/attachments",
    "/v1/critiques/{critique_id}/extensions",
    "/v1/critiques/{critique_id}/history",
    "/v1/critiques/{critique_id}/requests",
}
"""Lists of one critique's own: as long as what its organisation did to it (each step
rate-limited), not pages of a collection."""
DIRECTORY = {"/v1/agencies"}
"""Tracking's directory of agencies, as long as its administrators make it."""


def pages(service: str) -> dict[str, int]:
    """Every documented list operation that takes a page size, with its maximum."""
    found = {}
    for path, item in document(service)["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            if parameter["name"] == "limit":
                assert "maximum" in parameter["schema"], f"{path}: a page size without maximum"
                found[path] = parameter["schema"]["maximum"]
    return found


def unpaged_lists(service: str) -> set[str]:
    """The documented operations answering a JSON array without taking a page size."""
    return {
        path
        for path, item in document(service)["paths"].items()
        if "get" in item
        and path not in pages(service)
        and item["get"]["responses"]["200"]
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("type")
        == "array"
    }


def test_every_list_is_paged_with_a_maximum_or_bounded_by_what_it_lists() -> None:
    assert set(pages("submission")) == {"/v1/critiques", "/v1/escalations"}
    assert set(pages("disclosure")) == {
        "/v1/records",
        "/v1/changes",
        "/v1/agencies",
        "/v1/drafts",
        "/v1/drafts/{draft_id}/records",
    }
    assert unpaged_lists("submission") == PER_CRITIQUE | DIRECTORY
    assert unpaged_lists("disclosure") == set()


async def test_asking_for_more_than_a_page_holds_is_a_422_naming_the_page_size(
    submission_client: httpx.AsyncClient, disclosure_client: httpx.AsyncClient, office: Directory
) -> None:
    for service, client, headers in (
        ("submission", submission_client, bearer(office.organisation_token)),
        ("disclosure", disclosure_client, {}),
    ):
        for template, maximum in pages(service).items():
            # A list under an id: any id will do (an unknown draft's records are a 404, once the
            # page size is right).
            path = template.replace("{draft_id}", str(uuid.uuid4()))
            for too_many in (maximum + 1, 10**12, -1, 0):
                refused = await client.get(path, params={"limit": too_many}, headers=headers)
                assert named(refused) == {"limit"}, (path, too_many)
            most = await client.get(path, params={"limit": maximum}, headers=headers)
            assert most.status_code == (200 if path == template else 404), (path, most.text[:300])


async def test_list_cases_refuses_a_page_size_over_its_maximum(
    agency_channel: AgencyChannel, office: Directory
) -> None:
    auth = (("authorization", f"Bearer {office.agency_token}"),)
    async with agency_channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        listed = await agency.ListCases(
            pb.ListCasesRequest(page_size=MAX_PAGE_SIZE), metadata=auth, timeout=10
        )
        assert listed is not None
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.ListCases(
                pb.ListCasesRequest(page_size=MAX_PAGE_SIZE + 1), metadata=auth, timeout=10
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["page_size"]


# --- bodies and messages -------------------------------------------------------------------


async def head_of_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def declared_only(
    raw_connection: RawConnection, service: str, head: str, *, chunks: int = 0
) -> tuple[int, dict[str, str], bytes]:
    """Send a request head (and ``chunks`` chunks of 64 KiB, chunked), never the rest of its
    body, and read the answer: one that comes proves the body was not waited for."""
    reader, writer = await raw_connection(service)

    async def send() -> None:
        writer.write(head.encode("latin-1") + b"\r\n\r\n")
        for _ in range(chunks):
            writer.write(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
            await writer.drain()

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(20):
            return await head_of_reply(reader)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


async def test_bodies_over_their_limit_are_refused_before_they_are_received(
    raw_connection: RawConnection, office: Directory
) -> None:
    auth = f"Authorization: Bearer {office.organisation_token}"
    refusals = [
        (
            "submission",
            f"POST /v1/critiques HTTP/1.1\r\nHost: s\r\n{auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_JSON_BYTES + 1}",
            MAX_JSON_BYTES,
        ),
        (
            "submission",
            f'PUT /v1/critiques/{uuid.uuid4()} HTTP/1.1\r\nHost: s\r\n{auth}\r\nIf-Match: "1"\r\n'
            f"Content-Type: application/json\r\nContent-Length: {MAX_JSON_BYTES + 1}",
            MAX_JSON_BYTES,
        ),
        (
            "submission",
            f"POST /v1/critiques/{uuid.uuid4()}/attachments?filename=a.pdf HTTP/1.1\r\n"
            f"Host: s\r\n{auth}\r\nContent-Type: application/pdf\r\n"
            f"Content-Length: {MAX_ATTACHMENT_BYTES + 1}",
            MAX_ATTACHMENT_BYTES,
        ),
        (
            "submission",  # no token at all: the size is refused before anything else
            "POST /v1/critiques HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\n"
            "Content-Length: 999999999999",
            MAX_JSON_BYTES,
        ),
        (
            "disclosure",
            f"GET /v1/records HTTP/1.1\r\nHost: d\r\nContent-Length: {PUBLIC_BODY_BYTES + 1}",
            PUBLIC_BODY_BYTES,
        ),
        (
            "disclosure",
            f"GET /v1/log/proofs/inclusion?index=0&size=1 HTTP/1.1\r\nHost: d\r\n"
            f"Content-Length: {PUBLIC_BODY_BYTES + 1}",
            PUBLIC_BODY_BYTES,
        ),
    ]
    for service, head, limit in refusals:
        status, headers, body = await declared_only(raw_connection, service, head)
        assert status == 413, (head, status, body[:300])
        assert headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), head
        refused = json.loads(body)
        assert refused["type"] == PROBLEM_TYPE_BASE + "body-too-large"
        assert refused["detail"] == f"at most {limit} bytes"
    # Without a declared length, counted as it comes: refused once past the limit.
    status, _, body = await declared_only(
        raw_connection,
        "submission",
        f"POST /v1/critiques HTTP/1.1\r\nHost: s\r\n{auth}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked",
        chunks=MAX_JSON_BYTES // 0x10000 + 2,
    )
    assert status == 413, body[:300]


async def test_grpc_messages_over_the_receive_limit_are_resource_exhausted(
    agency_channel: AgencyChannel, office: Directory
) -> None:
    auth = (("authorization", f"Bearer {office.agency_token}"),)
    huge = pb.SubmitAnswerRequest(
        case_id=str(uuid.uuid4()),
        request_id="r",
        version=1,
        answers=[pb.PointAnswer(point_number=1, explanation="x" * GRPC_MAX_MESSAGE_BYTES)],
    )
    async with agency_channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.SubmitAnswer(huge, metadata=auth, timeout=20)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The same channel is served normally next.
        listed = await agency.ListCases(pb.ListCasesRequest(), metadata=auth, timeout=10)
        assert listed is not None


# --- the public rate limit ------------------------------------------------------------------

UNLIMITED = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""What a client may ask for whatever its rate: health, and FastAPI's (static) documentation."""


def example_path(path: str) -> str:
    return re.sub(
        r"\{([a-z_]+)\}",
        lambda m: "1" if m[1] in ("size", "index") else str(uuid.uuid4()),
        path,
    )


@pytest.fixture
async def pool(deployment: Deployment) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(deployment.database_urls["disclosure"], min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_the_public_rate_limit_holds_on_every_route_proofs_and_search_first(
    deployment: Deployment, pool: db.Pool
) -> None:
    """The disclosure app as the service builds it, with a burst of 2 and next to no refill, on
    the deployment's database (the deployment itself runs with a limit tests do not reach)."""
    app = disclosure.create_app(
        disclosure.DisclosureSettings(
            disclosure_database_url=deployment.database_urls["disclosure"],
            disclosure_rate_per_second=0.0001,
            disclosure_rate_burst=2,
        )
    )
    app.state.runtime = SimpleNamespace(pool=pool)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://disclosure")

    async with client("203.0.113.7") as flooding, client("198.51.100.9") as another:
        served = [
            await flooding.get("/v1/log/proofs/consistency", params={"from": 0, "to": 0}),
            await flooding.get("/search", params={"q": "quy hoạch"}),
        ]
        assert [r.status_code for r in served] == [200, 200], [r.text[:300] for r in served]
        limited = [
            "/v1/log/proofs/inclusion?index=0&size=1",
            "/v1/log/proofs/consistency?from=0&to=0",
            "/v1/log/proofs/inclusion?index=-1&size=nonsense",  # limited before it is read
            "/v1/records?q=quy+hoach",
            "/search?q=quy+hoach",
        ]
        routes = [route.path for route in iter_route_contexts(app.routes) if route.path]
        assert "/v1/log/proofs/inclusion" in routes
        assert "/search" in routes
        limited += [example_path(path) for path in routes if path not in UNLIMITED]
        for path in limited:
            refused = await flooding.get(path)
            assert problem(refused, 429)["type"] == PROBLEM_TYPE_BASE + "rate-limited", path
            assert int(refused.headers["Retry-After"]) >= 1, path
        for path in UNLIMITED - {"/readyz"}:
            assert (await flooding.get(path)).status_code == 200, path
        # The limit is the flooding client's alone.
        other = await another.get("/v1/log/proofs/consistency", params={"from": 0, "to": 0})
        assert other.status_code == 200, other.text[:300]


# --- the transparency log's proofs and the search -------------------------------------------

HUGE = 2**62
"""The largest size or index the log's API reads (a PostgreSQL bigint holds a little more)."""

ABSURD_PROOFS = [
    ("/v1/log/proofs/inclusion", {"index": -1, "size": 1}, "index"),
    ("/v1/log/proofs/inclusion", {"index": 0, "size": 0}, "size"),
    ("/v1/log/proofs/inclusion", {"index": 0, "size": -5}, "size"),
    ("/v1/log/proofs/inclusion", {"index": 0, "size": HUGE}, "size"),  # beyond the log
    ("/v1/log/proofs/inclusion", {"index": 0, "size": HUGE + 1}, "size"),
    ("/v1/log/proofs/inclusion", {"index": 10**30, "size": 1}, "index"),
    ("/v1/log/proofs/inclusion", {"index": "zero", "size": 1}, "index"),
    ("/v1/log/proofs/inclusion", {"index": 0, "size": "1e3"}, "size"),
    ("/v1/log/proofs/inclusion", {"index": 0}, "size"),
    ("/v1/log/proofs/consistency", {"from": -1, "to": 0}, "from"),
    ("/v1/log/proofs/consistency", {"from": 0, "to": HUGE}, "to"),  # beyond the log
    ("/v1/log/proofs/consistency", {"from": HUGE, "to": 0}, "from"),  # older than newer
    ("/v1/log/proofs/consistency", {"from": 0, "to": "9" * 40}, "to"),
    ("/v1/log/proofs/consistency", {"from": "0x10", "to": 1}, "from"),
    ("/v1/log/proofs/consistency", {"from": 0}, "to"),
    ("/v1/log/leaves/-1", {}, "index"),
    (f"/v1/log/leaves/{HUGE + 1}", {}, "index"),
    ("/v1/log/checkpoints/-1", {}, "size"),
    (f"/v1/log/checkpoints/{10**30}", {}, "size"),
]


@pytest.mark.parametrize(("path", "query", "field"), ABSURD_PROOFS)
async def test_proofs_refuse_sizes_and_indexes_beyond_the_log_with_a_named_422(
    disclosure_client: httpx.AsyncClient, path: str, query: dict[str, Any], field: str
) -> None:
    refused = await disclosure_client.get(path, params=query)
    assert named(refused) == {field}, refused.text[:300]


async def test_a_leaf_far_beyond_the_log_is_simply_not_found(
    disclosure_client: httpx.AsyncClient,
) -> None:
    for path in (f"/v1/log/leaves/{HUGE}", f"/v1/log/checkpoints/{HUGE}"):
        assert problem(await disclosure_client.get(path), 404)["type"].endswith("/not-found")


async def test_the_search_reads_a_bounded_query(disclosure_client: httpx.AsyncClient) -> None:
    longest, too_long = "quy hoạch " * (MAX_QUERY // 10), "quy hoạch " * (MAX_QUERY // 10) + "x"
    assert len(longest.strip()) <= MAX_QUERY < len(too_long)
    for path in ("/v1/records", "/exports/records.jsonl", "/exports/records.csv"):
        assert (await disclosure_client.get(path, params={"q": longest.strip()})).status_code == 200
        assert named(await disclosure_client.get(path, params={"q": too_long})) == {"q"}, path
    page = await disclosure_client.get("/search", params={"q": too_long})
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert f"At most {MAX_QUERY} characters" in page.text


# --- WatchCases -----------------------------------------------------------------------------

Watch: TypeAlias = "grpc.aio.UnaryStreamCall[pb.WatchCasesRequest, pb.CaseChange]"


async def watch(agency: pb_grpc.AgencyServiceStub, token: str) -> tuple[Watch, bool]:
    """A WatchCases stream, and whether it is on: tracking sends its initial metadata once the
    watch is on, and a refusal comes as a status alone, with which the call is over."""
    call = agency.WatchCases(
        pb.WatchCasesRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=60
    )
    await call.initial_metadata()
    return call, not call.done()


async def test_one_agency_holds_a_bounded_number_of_watch_cases_streams(
    deployment: Deployment, agency_channel: AgencyChannel, office: Directory
) -> None:
    other = await register(deployment)
    async with agency_channel() as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        held: list[Watch] = []
        try:
            for _ in range(MAX_WATCHERS_PER_AGENCY):
                call, on = await watch(agency, office.agency_token)
                held.append(call)
                assert on, await call.details()
            one_too_many, on = await watch(agency, office.agency_token)
            assert not on
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await one_too_many.read()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            status = rpc_status.from_call(refused.value)
            assert status is not None
            quota = error_details_pb2.QuotaFailure()
            assert status.details[0].Unpack(quota)
            assert [v.subject for v in quota.violations] == [f"agency:{office.agency_id}"]
            assert not any(call.done() for call in held)
            # Another agency is not held back by this one's streams.
            theirs, on = await watch(agency, other.agency_token)
            theirs.cancel()
            assert on
            # A stream that ends gives its place back (once tracking has seen it end).
            held.pop().cancel()
            async with asyncio.timeout(10):
                while True:
                    again, on = await watch(agency, office.agency_token)
                    if on:
                        held.append(again)
                        break
                    await asyncio.sleep(0.05)
        finally:
            for call in held:
                call.cancel()
