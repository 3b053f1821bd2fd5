"""Poison and hostile input at every door of the running services: HTTP bodies, URLs and headers
that are malformed, oversized or absurd; gRPC messages that are not messages; Kafka records that
are not our events. Each is refused with a clear error (problem+json, a precise gRPC status, a
dead letter with its reason), and the services keep serving the next, normal request."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from contracts.events import EVENT_TYPES, Topic
from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform.cloudevents import Envelope, header_map
from services.tracking.draft_files import MAX_FILE_BYTES
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.services import Deployment

SERVICE = "/supervision.agency.v1.AgencyService"


@pytest.fixture(scope="module")
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, Any]:
        """The problem+json body, checked to be one."""
        assert self.headers.get("content-type", "").startswith("application/problem+json"), (
            self.status,
            self.headers,
            self.body[:300],
        )
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == self.status
        assert problem["title"]
        return problem


async def _read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        body = await reader.read()
    return Reply(int(status_line.split()[1]), headers, body)


async def raw_http(
    base_url: str,
    head: str,
    body: bytes | Iterable[bytes] = b"",
    timeout: float = 20.0,
) -> Reply:
    """Send ``head`` (request line and headers, without the blank line) and ``body`` (bytes, or
    chunks written one by one, as a client streaming an upload would) on a raw connection, and
    read the reply, which may come before the body has been sent in full."""
    url = httpx.URL(base_url)
    assert url.host
    assert url.port
    reader, writer = await asyncio.open_connection(url.host, url.port)
    chunks = [body] if isinstance(body, bytes) else body

    async def send() -> None:
        writer.write(head.encode("latin-1") + b"\r\n\r\n")
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout):
            return await _read_reply(reader)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


def chunked(total: int, size: int = 64 * 1024) -> Iterable[bytes]:
    """``total`` bytes of a JSON-ish body in chunked transfer encoding, without its final chunk
    (a client that would go on sending)."""
    sent = 0
    while sent < total:
        yield f"{size:x}\r\n".encode() + b" " * size + b"\r\n"
        sent += size


async def serves_normally(deployment: Deployment, office: Directory) -> None:
    """A normal request to each HTTP service succeeds."""
    async with httpx.AsyncClient(timeout=10) as http:
        mine = await http.get(
            f"{deployment.submission_url}/v1/critiques",
            headers={"Authorization": f"Bearer {office.organisation_token}"},
        )
        assert mine.status_code == 200, mine.text
        public = await http.get(f"{deployment.disclosure_url}/v1/records")
        assert public.status_code == 200, public.text


def deeply_nested(depth: int = 100_000) -> list[bytes]:
    return [
        b"[" * depth + b"]" * depth,
        b'{"a":' * depth + b"1" + b"}" * depth,
        b'{"agency_id": "x", "points": ' + b"[" * depth + b"]" * depth + b"}",
    ]


async def test_malformed_json_bodies_get_problems_and_the_api_keeps_serving(
    deployment: Deployment, office: Directory
) -> None:
    auth = {"Authorization": f"Bearer {office.organisation_token}"}
    bodies: list[tuple[bytes, dict[str, str], set[int]]] = [
        (b"{not json", {"Content-Type": "application/json"}, {400, 422}),
        (b'"a string, not a critique"', {"Content-Type": "application/json"}, {422}),
        (
            b'{"agency_id": 7, "kind": [], "points": "many"}',
            {"Content-Type": "application/json"},
            {422},
        ),
        (b'{"title": "\xff\xfe\xc3"}', {"Content-Type": "application/json"}, {400, 422}),
        (b'{"title": "ok"}', {"Content-Type": "application/json; charset=latin-9000"}, {400, 422}),
        (b'{"title": "ok"}', {"Content-Type": "text/plain"}, {415}),
        (b'{"title": "ok"}', {"Content-Type": "application/x-www-form-urlencoded"}, {415}),
        (b'{"title": "ok"}', {}, {415}),
        *((body, {"Content-Type": "application/json"}, {400, 422}) for body in deeply_nested()),
    ]
    async with httpx.AsyncClient(base_url=deployment.submission_url, timeout=20) as http:
        for content, headers, statuses in bodies:
            started = time.monotonic()
            refused = await http.post("/v1/critiques", content=content, headers=auth | headers)
            reply = Reply(refused.status_code, dict(refused.headers), refused.content)
            assert refused.status_code in statuses, (content[:60], headers, refused.text[:500])
            reply.problem()
            assert time.monotonic() - started < 10, content[:60]
        # The same on an amendment, which also takes a JSON body.
        amended = await http.put(
            f"/v1/critiques/{uuid.uuid4()}",
            content=deeply_nested()[0],
            headers=auth | {"Content-Type": "application/json", "If-Match": '"1"'},
        )
        assert amended.status_code in {400, 422}, amended.text[:300]
    await serves_normally(deployment, office)


async def test_oversized_bodies_are_refused_before_they_are_read(
    deployment: Deployment, office: Directory
) -> None:
    auth = f"Authorization: Bearer {office.organisation_token}"
    critiques = "POST /v1/critiques HTTP/1.1\r\nHost: localhost\r\n" + auth
    # A declared length far over the limit: refused at once, nothing is sent.
    for length in ("1048577", "999999999999", "9" * 19):
        declared = await raw_http(
            deployment.submission_url,
            f"{critiques}\r\nContent-Type: application/json\r\nContent-Length: {length}",
        )
        assert declared.status == 413, declared
        assert declared.problem()["type"].endswith("/body-too-large")
    # No declared length: counted as it streams in, refused once over the limit.
    for path, limit in (
        ("/v1/critiques", 1024 * 1024),
        (f"/v1/critiques/{uuid.uuid4()}/attachments?filename=a.pdf", 20 * 1024 * 1024),
    ):
        streamed = await raw_http(
            deployment.submission_url,
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n"
            "Content-Type: application/pdf\r\nTransfer-Encoding: chunked",
            chunked(limit + 256 * 1024),
        )
        assert streamed.status == 413, streamed
        assert streamed.problem()["detail"] == f"at most {limit} bytes"
    # A length that is not a number (or has more digits than any can) is not HTTP: the server
    # refuses it before any route runs, as a problem too.
    for length in ("-1", "ten", "1, 2", "9" * 40):
        bad = await raw_http(
            deployment.submission_url,
            f"{critiques}\r\nContent-Type: application/json\r\nContent-Length: {length}",
        )
        assert bad.status == 400, bad
        bad.problem()
        # Refused before any middleware runs, and with the headers of every other answer.
        assert bad.headers["x-content-type-options"] == "nosniff"
        assert bad.headers["cache-control"] == "no-store"
    await serves_normally(deployment, office)


async def test_the_read_only_public_api_refuses_bodies(
    deployment: Deployment, office: Directory
) -> None:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=20) as http:
        for content in (b"{not json", b'{"title": "\xff"}', deeply_nested()[0]):
            refused = await http.post(
                "/v1/records", content=content, headers={"Content-Type": "application/json"}
            )
            assert refused.status_code in {405, 413}, refused.text
            Reply(refused.status_code, dict(refused.headers), refused.content).problem()
    for head, body in (
        ("GET /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Length: 999999999999", b""),
        (
            "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked",
            chunked(32 * 1024 * 1024),
        ),
    ):
        reply = await raw_http(deployment.disclosure_url, head, body)
        assert reply.status in {405, 413}, reply
        reply.problem()
    await serves_normally(deployment, office)


@pytest.mark.parametrize(
    "query",
    [
        "limit=1000000000",
        "limit=-5",
        "limit=1e3",
        "limit=" + "9" * 400,
        "cursor=not-a-cursor",
        "cursor=" + "A" * 5000,
        "cursor=%00%ff",
        "submitted_from=2026-02-30",
        "submitted_from=99999-01-01",
        "answered_to=yesterday",
        "level=district",
        "overdue=perhaps",
        "q=" + "quy hoạch " * 100,
        "agency=" + "x" * 1000,
    ],
)
async def test_absurd_query_parameters_on_the_public_api_are_named(
    deployment: Deployment, query: str
) -> None:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=20) as http:
        reply = await http.get(f"/v1/records?{query}")
    assert reply.status_code == 422, reply.text[:500]
    problem = Reply(reply.status_code, dict(reply.headers), reply.content).problem()
    assert problem["errors"], problem


@pytest.mark.parametrize(
    "path",
    [
        "/v1/changes?since=" + "9" * 30,
        "/v1/changes?since=9223372036854775808",
        "/v1/changes?limit=0",
        "/exports/records.jsonl?changed_since=" + "9" * 30,
        "/exports/records.csv?changed_since=-1",
        "/v1/log/leaves/" + "9" * 30,
        "/v1/log/proofs/consistency?from=5&to=" + "9" * 30,
        "/v1/records/not-a-uuid",
        "/v1/log/critiques/not-a-uuid",
    ],
)
async def test_absurd_numbers_and_ids_on_the_public_api_are_refused(
    deployment: Deployment, path: str
) -> None:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=20) as http:
        reply = await http.get(path)
    assert 400 <= reply.status_code < 500, (path, reply.status_code, reply.text[:500])
    Reply(reply.status_code, dict(reply.headers), reply.content).problem()


async def test_wide_but_valid_date_ranges_are_answered(deployment: Deployment) -> None:
    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=20) as http:
        for query in (
            "submitted_from=0001-01-01&submitted_to=9999-12-31",
            "answered_from=9999-12-31&answered_to=0001-01-01",
            "changed_since=0&submitted_to=9999-12-31",
        ):
            reply = await http.get(f"/v1/records?{query}")
            assert reply.status_code == 200, (query, reply.text[:500])
        pages = await http.get("/search?cursor=not-a-cursor")
        assert pages.status_code == 422
        assert "text/html" in pages.headers["content-type"]


async def test_very_long_urls_and_header_values_are_refused_as_problems(
    deployment: Deployment, office: Directory
) -> None:
    for base in (deployment.submission_url, deployment.disclosure_url):
        # Longer than any route takes: refused before any route runs.
        long_url = await raw_http(
            base, f"GET /v1/records?q={'a' * 20_000} HTTP/1.1\r\nHost: localhost"
        )
        long_header = await raw_http(
            base, f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: {'b' * 20_000}"
        )
        many_headers = await raw_http(
            base,
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
            + "\r\n".join(f"X-H{i}: {i}" for i in range(2000)),
        )
        assert long_url.status == 414, long_url
        for reply in (long_header, many_headers):
            assert reply.status == 431, reply
        for reply in (long_url, long_header, many_headers):
            reply.problem()
    async with httpx.AsyncClient(base_url=deployment.submission_url, timeout=20) as http:
        # Long, but within what the server reads: the route's own checks name the problem.
        token = await http.get("/v1/critiques", headers={"Authorization": "Bearer " + "t" * 8000})
        assert token.status_code == 401, token.text
        cursor = await http.get(
            "/v1/critiques?cursor=" + "c" * 8000,
            headers={"Authorization": f"Bearer {office.organisation_token}"},
        )
        assert cursor.status_code == 422, cursor.text
        key = await http.post(
            "/v1/critiques",
            json={},
            headers={
                "Authorization": f"Bearer {office.organisation_token}",
                "Idempotency-Key": "k" * 8000,
            },
        )
        assert key.status_code == 422, key.text
        for response in (token, cursor, key):
            Reply(response.status_code, dict(response.headers), response.content).problem()
    await serves_normally(deployment, office)


# --- gRPC -----------------------------------------------------------------------------------


@pytest.fixture
async def channel(deployment: Deployment) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(deployment.tracking_address) as opened:
        yield opened


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def still_serving(channel: grpc.aio.Channel, office: Directory) -> None:
    agency = pb_grpc.AgencyServiceStub(channel)
    listed = await agency.ListCases(pb.ListCasesRequest(), metadata=bearer(office.agency_token))
    assert listed is not None


async def raw_call(
    channel: grpc.aio.Channel, method: str, request: bytes, metadata: Any = ()
) -> grpc.StatusCode:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(request, metadata=metadata, timeout=10)
    code: grpc.StatusCode = refused.value.code()
    assert refused.value.details(), code
    return code


async def test_bytes_that_are_not_the_methods_message_are_invalid_arguments(
    channel: grpc.aio.Channel, office: Directory
) -> None:
    garbage = [
        b"\xff\xff\xff\xff\xff",
        b"\x0a\xff\xff\xff\xff\x0f",  # a length beyond the message
        b"\x08" + b"\xff" * 11,  # a varint too long
        b"\x0f",  # a deprecated group wire type
    ]
    for method in ("ListCases", "GetCase", "SubmitAnswer", "AcknowledgeCase"):
        for request in garbage:
            code = await raw_call(
                channel, f"{SERVICE}/{method}", request, bearer(office.agency_token)
            )
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, request)
    watch = channel.unary_stream(
        f"{SERVICE}/WatchCases", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in watch(garbage[0], metadata=bearer(office.agency_token), timeout=10):
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await still_serving(channel, office)


async def test_unknown_methods_oversized_messages_and_bad_credentials_get_precise_codes(
    channel: grpc.aio.Channel, office: Directory
) -> None:
    auth = bearer(office.agency_token)
    unknown = [f"{SERVICE}/DeleteEverything", "/supervision.agency.v9.AgencyService/ListCases"]
    for method in unknown:
        assert await raw_call(channel, method, b"", auth) == grpc.StatusCode.UNIMPLEMENTED
    huge = pb.SubmitAnswerRequest(
        case_id=str(uuid.uuid4()),
        request_id="r",
        answers=[pb.PointAnswer(point_number=1, explanation="x" * (5 * 1024 * 1024))],
    ).SerializeToString()
    too_large = await raw_call(channel, f"{SERVICE}/SubmitAnswer", huge, auth)
    assert too_large == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A draft's file may be larger than 4 MiB, up to its own limit and no more.
    for size, expected in (
        (6 * 1024 * 1024, grpc.StatusCode.NOT_FOUND),
        (MAX_FILE_BYTES + 128 * 1024, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ):
        version = pb.AddDraftVersionRequest(
            draft_id=str(uuid.uuid4()),
            request_id="r",
            format=pb.DRAFT_FORMAT_TEXT,
            file_name="du-thao.txt",
            file=b"x" * size,
            planned_submission_date="2099-01-01",
        ).SerializeToString()
        assert await raw_call(channel, f"{SERVICE}/AddDraftVersion", version, auth) == expected
    for metadata in (
        (),
        (("authorization", "Bearer"),),
        (("authorization", "Bearer  "),),
        (("authorization", "bearer " + "x" * 4000),),
        (("authorization", "Basic " + office.agency_token),),
        (("authorization-bin", b"\xff\x00\xfe"),),
    ):
        code = await raw_call(channel, f"{SERVICE}/ListCases", b"", metadata)
        assert code == grpc.StatusCode.UNAUTHENTICATED, metadata
    await still_serving(channel, office)


async def test_invalid_field_values_are_invalid_arguments(
    channel: grpc.aio.Channel, office: Directory
) -> None:
    agency = pb_grpc.AgencyServiceStub(channel)
    auth = bearer(office.agency_token)
    calls: list[tuple[str, Any]] = [
        ("ListCases", pb.ListCasesRequest(page_size=4_000_000_000)),
        ("ListCases", pb.ListCasesRequest(page_token="garbage")),
        ("ListCases", pb.ListCasesRequest(due_before="2026-02-30")),
        ("ListCases", pb.ListCasesRequest(due_after="99999-01-01")),
        ("ListCases", pb.ListCasesRequest(status=99)),  # type: ignore[arg-type]
        ("ListCases", pb.ListCasesRequest(kind=42)),  # type: ignore[arg-type]
        ("GetCase", pb.GetCaseRequest(case_id="../../etc/passwd")),
        ("GetCase", pb.GetCaseRequest(case_id="")),
        ("AcknowledgeCase", pb.AcknowledgeCaseRequest(case_id="\x00")),
        ("SubmitAnswer", pb.SubmitAnswerRequest(case_id="nope", request_id="r")),
    ]
    for method, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(agency, method)(request, metadata=auth, timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, request)
    for cursor in ("abc", "-1", "9" * 30, "١٢٣"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in agency.WatchCases(
                pb.WatchCasesRequest(cursor=cursor), metadata=auth, timeout=10
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, cursor
    await still_serving(channel, office)


# --- Kafka ----------------------------------------------------------------------------------

CONSUMERS = {
    Topic.CRITIQUES: {"tracking", "disclosure"},
    Topic.CASES: {"submission", "disclosure"},
    Topic.AGENCIES: {"submission", "disclosure"},
}
"""Every topic a running service consumes, and the consumer groups reading it."""


def _envelope_headers(ce_type: str, subject: str) -> list[tuple[str, bytes]]:
    return Envelope(
        id=uuid.uuid4(),
        type=ce_type,
        source="urn:test:hostile",
        time=datetime.now(UTC),
        subject=subject,
    ).headers({})


def poison_for(topic: Topic, key: str) -> dict[str, tuple[bytes | None, list[tuple[str, bytes]]]]:
    """One record of each kind of poison for ``topic``, by the error kind it must get."""
    real_type = next(t for t, model in EVENT_TYPES.items() if model.topic is topic)
    name = real_type.rsplit(".", 1)[0]
    return {
        "payload": (b"\xff\xfe\x00 not json at all", _envelope_headers(real_type, key)),
        "payload/schema": (
            json.dumps({"critique_id": "not-a-uuid", "agency_id": 7}).encode(),
            _envelope_headers(real_type, key),
        ),
        "payload/empty": (None, _envelope_headers(real_type, key)),
        "unknown_type": (b"{}", _envelope_headers(f"{name.rsplit('.', 1)[0]}.teleported.v1", key)),
        "unknown_version": (b"{}", _envelope_headers(f"{name}.v2", key)),
        "envelope": (b'{"critique_id": "5b7c0a6e-8a8e-4f55-9a54-0b8f8f7d1a10"}', []),
        "envelope/bad-header": (
            b"{}",
            [(n, b"\xff\xfe" if n == "ce_id" else v) for n, v in _envelope_headers(real_type, key)],
        ),
    }


async def test_poison_in_every_consumed_topic_is_dead_lettered_and_events_still_flow(
    deployment: Deployment, engines: Engines
) -> None:
    key = f"hostile-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=engines.kafka_bootstrap, acks="all")
    await producer.start()
    partitions: dict[Topic, int] = {}
    try:
        for topic in CONSUMERS:
            # Into every partition, so that whatever is produced next comes after poison.
            numbers = sorted(await producer.partitions_for(topic))
            partitions[topic] = len(numbers)
            for partition in numbers:
                for value, headers in poison_for(topic, key).values():
                    await producer.send_and_wait(
                        topic, value=value, key=key.encode(), headers=headers, partition=partition
                    )
    finally:
        await producer.stop()

    # Valid events produced after the poison are still applied, by every consumer of every topic:
    # tracking.agencies (submission hears of a new agency, disclosure lists it),
    # submission.critiques (tracking opens a case), tracking.cases (submission and disclosure).
    directory = await register(deployment)
    async with httpx.AsyncClient(timeout=10) as http:
        await eventually(
            lambda: _status_is(
                http, f"{deployment.disclosure_url}/v1/agencies/{directory.agency_id}", 200
            )
        )
    critique_id = await submit(deployment, directory)
    case = await case_of(deployment, directory, critique_id)
    await answer(deployment, directory, case)
    await eventually(lambda: public_record(deployment, critique_id))
    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {directory.organisation_token}"},
    ) as http:

        async def answered_at_submission() -> bool:
            reply = await http.get(f"/v1/critiques/{critique_id}")
            return bool(reply.json()["status"] == "answered")

        await eventually(answered_at_submission)

    expected: Counter[tuple[str, str, str]] = Counter()
    for topic, groups in CONSUMERS.items():
        for group in groups:
            for kind in poison_for(topic, key):
                expected[(topic.value, group, kind.split("/")[0])] += partitions[topic]
    letters = await dead_letters(
        engines.kafka_bootstrap, [f"{t}.dlq" for t in CONSUMERS], key.encode(), expected.total()
    )
    found: Counter[tuple[str, str, str]] = Counter()
    for record in letters:
        dlq = header_map(record.headers)
        assert dlq["dlq_topic"] == record.topic.removesuffix(".dlq")
        assert dlq["dlq_error"], dlq
        assert int(dlq["dlq_offset"]) >= 0
        found[(dlq["dlq_topic"], dlq["dlq_consumer"], dlq["dlq_error_kind"])] += 1
        if dlq["dlq_error_kind"] == "unknown_version":
            assert "unknown version v2" in dlq["dlq_error"], dlq
            assert "knows v1" in dlq["dlq_error"], dlq
    assert found == expected, "\n".join(p.log_tail(100) for p in deployment.processes.values())


async def dead_letters(
    bootstrap: str, topics: list[str], key: bytes, count: int, timeout: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records with ``key`` in the dead-letter ``topics``, once there are ``count`` of them
    (or all there are after ``timeout``)."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            found += [r for records in batch.values() for r in records if r.key == key]
    finally:
        await consumer.stop()
    return found


async def _status_is(http: httpx.AsyncClient, url: str, status: int) -> bool:
    return (await http.get(url)).status_code == status
