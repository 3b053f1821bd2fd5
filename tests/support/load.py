"""Load while things break: organisations submitting and an agency answering, both retrying
through outages as real clients do, and a record of what the system *accepted* (a 201, an OK),
which the fault tests then hold the system to.

A submission is retried with the same Idempotency-Key until it gets an answer, and an answer with
the same request id, so a request whose reply was lost in a crash is neither lost nor doubled.
Every 5xx other than 503 and every unexpected gRPC status is kept in ``errors``: a fault test
asserts there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.cli import verify
from tests.support.directory import Directory
from tests.support.journeys import agency_metadata, critique_body
from tests.support.services import Deployment

RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}
"""What an integration retries: the server is away (or went away mid-call)."""

TEXT = "Đề nghị công khai {n}: lấy ý kiến nhân dân về phương án bồi thường."


@dataclass
class Load:
    deployment: Deployment
    directory: Directory
    submitters: int = 4
    pause: float = 0.0
    """Seconds each submitter waits between submissions (0: as fast as the service takes them)."""
    accepted: dict[str, str] = field(default_factory=dict)
    """critique id → the Idempotency-Key it was accepted under (a 201)."""
    answered: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    """critique id → (point, disposition, explanation) of the answer the agency got OK for."""
    submission_urls: list[str] = field(default_factory=list)
    """Submission instances to spread the submitters over (each moves on to the next when its
    instance cannot be reached); by default the deployment's first."""
    tracking_addresses: list[str] = field(default_factory=list)
    """Tracking instances the agency takes turns with, round by round; by default the first."""
    errors: Counter[str] = field(default_factory=Counter)
    """Replies no client should ever see (500s, unexpected statuses), by kind."""
    retries: Counter[str] = field(default_factory=Counter)
    """Retried replies (503, connection refused, UNAVAILABLE …), by kind: the outages seen."""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _submitted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the submitters have stopped: the agency then answers what is left and stops."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _unsure: dict[str, pb.Case] = field(default_factory=dict)
    """case id → the case whose answer was sent without a reply (the call failed, or tracking
    went away mid-call): it may have been applied, and the case no longer listed as open. The
    agency sends it again, with the same request id, until it gets the reply."""

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._submitted.clear()
        self._tasks = [asyncio.create_task(self._submitter(i)) for i in range(self.submitters)]
        self._tasks.append(asyncio.create_task(self._answerer()))

    async def stop(self, timeout: float = 180) -> None:
        """Stop submitting; requests in flight are finished (retried until answered), then the
        agency answers every case still open."""
        self._stop.set()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._tasks[:-1])
                self._submitted.set()
                await self._tasks[-1]
        except TimeoutError:
            unanswered = sorted(set(self.accepted) - set(self.answered))
            raise AssertionError(
                f"{len(unanswered)} accepted critiques still unanswered after {timeout:.0f} s;"
                f" where the first are:\n{await whereabouts(self.deployment, unanswered[:5])}"
            ) from None

    async def __aenter__(self) -> Load:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if any(exc):
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        else:
            await self.stop()

    # -- organisations -----------------------------------------------------------------------------

    async def _submitter(self, worker: int) -> None:
        headers = {"Authorization": f"Bearer {self.directory.organisation_token}"}
        urls = self.submission_urls or [self.deployment.submission_url]
        async with httpx.AsyncClient(
            base_url=urls[worker % len(urls)], headers=headers, timeout=30
        ) as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                await self._submit_one(http, f"{worker}-{n}")
                if self.pause:
                    await asyncio.sleep(self.pause)

    async def _submit_one(self, http: httpx.AsyncClient, label: str) -> None:
        key = str(uuid.uuid4())
        body = critique_body(
            self.directory,
            title=f"Kiến nghị tải {label}",
            points=[{"number": 1, "text": TEXT.format(n=label)}, {"number": 2, "text": "Hai."}],
        )
        while True:
            try:
                reply = await http.post(
                    "/v1/critiques", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError as error:
                self.retries[type(error).__name__] += 1
                if len(self.submission_urls) > 1:  # as a load balancer would: the next instance
                    at = self.submission_urls.index(str(http.base_url).rstrip("/"))
                    http.base_url = self.submission_urls[(at + 1) % len(self.submission_urls)]
                await asyncio.sleep(0.2)
                continue
            if reply.status_code == 201:
                self.accepted[reply.json()["id"]] = key
                return
            if reply.status_code in (429, 503):
                self.retries[str(reply.status_code)] += 1
                await asyncio.sleep(min(float(reply.headers.get("Retry-After", "1")), 1.0))
                continue
            if reply.status_code == 409:  # the same key still in flight after a crash
                self.retries["409"] += 1
                await asyncio.sleep(0.2)
                continue
            self.errors[f"submit {reply.status_code}: {reply.text[:200]}"] += 1
            return

    # -- the agency ------------------------------------------------------------------------------

    async def _answerer(self) -> None:
        """Answers every open case of the agency, until stopped and nothing is left open."""
        quiet_rounds = 0
        addresses = self.tracking_addresses or [self.deployment.tracking_address]
        turn = 0
        while True:
            turn += 1
            try:
                address = addresses[turn % len(addresses)]
                async with grpc.aio.insecure_channel(address) as channel:
                    agency = pb_grpc.AgencyServiceStub(channel)
                    while True:
                        found = await self._answer_open(agency)
                        quiet_rounds = 0 if found else quiet_rounds + 1
                        if self._submitted.is_set() and quiet_rounds >= 3 and self._all_answered():
                            return
                        if not found:
                            await asyncio.sleep(0.3)
                        if len(addresses) > 1:
                            break  # the next round on the next instance
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE_GRPC:
                    self.errors[f"agency {error.code().name}: {error.details()}"] += 1
                    if self._submitted.is_set():
                        return
                else:
                    self.retries[error.code().name] += 1
                await asyncio.sleep(0.3)

    def _all_answered(self) -> bool:
        return set(self.accepted) <= set(self.answered)

    async def _answer_open(self, agency: pb_grpc.AgencyServiceStub) -> int:
        found = 0
        for case in list(self._unsure.values()):
            found += 1
            await self._answer(agency, case)
        for status in (pb.CASE_STATUS_AWAITING_ANSWER, pb.CASE_STATUS_ACKNOWLEDGED):
            listed = await agency.ListCases(
                pb.ListCasesRequest(page_size=500, status=status),
                metadata=agency_metadata(self.directory),
                timeout=30,
            )
            for case in listed.cases:
                found += 1
                await self._answer(agency, case)
        return found

    async def _answer(self, agency: pb_grpc.AgencyServiceStub, case: pb.Case) -> None:
        answers = [
            # Not the case id: a UUID ending in twelve digits reads as a citizen ID, redacted.
            (
                point.number,
                int(pb.DISPOSITION_ACCEPTED),
                f"Tiếp thu điểm {point.number}: {case.title}.",
            )
            for point in case.points
        ]
        self._unsure[case.case_id] = case
        await agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                # The same request id on every retry: a lost reply does not make a second answer.
                request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, case.case_id)),
                version=case.version,
                answers=[
                    pb.PointAnswer(
                        point_number=n, disposition=pb.Disposition.ValueType(d), explanation=e
                    )
                    for n, d, e in answers
                ],
            ),
            metadata=agency_metadata(self.directory),
            timeout=30,
        )
        self.answered[case.critique_id] = answers
        del self._unsure[case.case_id]


# -- what must hold afterwards -------------------------------------------------------------------


async def pending_outbox(deployment: Deployment) -> dict[str, int]:
    """Events still waiting in each service's outbox."""
    waiting = {}
    for service, url in deployment.database_urls.items():
        connection = await asyncpg.connect(url)
        try:
            waiting[service] = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
        finally:
            await connection.close()
    return waiting


async def _rows(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def whereabouts(deployment: Deployment, critique_ids: list[str]) -> str:
    """How far each critique got: its events in submission's outbox (sent or not), whether
    tracking applied them, and its case there. For the message of a failed fault test."""
    urls = deployment.database_urls
    lines = []
    for critique_id in critique_ids:
        events = await _rows(
            urls["submission"],
            "SELECT event_id, event_type, published_at FROM outbox WHERE key = $1 ORDER BY id",
            critique_id,
        )
        applied = {
            row["event_id"]: row["consumer"]
            for row in await _rows(
                urls["tracking"],
                "SELECT event_id, consumer FROM inbox WHERE event_id = ANY($1)",
                [row["event_id"] for row in events],
            )
        }
        cases = await _rows(
            urls["tracking"],
            "SELECT status, opened_at FROM cases WHERE critique_id = $1",
            uuid.UUID(critique_id),
        )
        lines.append(f"  critique {critique_id}:")
        for event in events:
            lines.append(
                f"    {event['event_type']} {event['event_id']}: sent {event['published_at']},"
                f" applied by tracking: {applied.get(event['event_id'], 'no')}"
            )
        lines.append(f"    tracking's case: {[dict(case) for case in cases] or 'none'}")
    return "\n".join(lines)


async def assert_nothing_lost(load: Load, timeout: float = 180) -> None:
    """Every accepted submission is disclosed exactly once with the answer the agency got OK
    for; no outbox holds an unsent event; each service holds each critique once; the
    transparency log verifies for a sample of records."""
    assert not load.errors, load.errors
    assert load.accepted, "the load generator had nothing accepted"
    assert set(load.accepted) == set(load.answered), (
        f"accepted but never answered: {sorted(set(load.accepted) - set(load.answered))[:5]}"
    )
    deployment = load.deployment
    urls = deployment.database_urls

    async def disclosed() -> set[str]:
        rows = await _rows(
            urls["disclosure"], "SELECT critique_id FROM records WHERE published_at IS NOT NULL"
        )
        return {str(row["critique_id"]) for row in rows}

    async with asyncio.timeout(timeout):
        while missing := set(load.accepted) - await disclosed():
            await asyncio.sleep(0.5)
        while any((await pending_outbox(deployment)).values()):
            await asyncio.sleep(0.5)
    del missing

    # Each service holds each critique once, and nothing it did not accept.
    organisation = load.directory.organisation_id
    submitted = await _rows(
        urls["submission"], f"SELECT id FROM critiques WHERE organisation_id = '{organisation}'"
    )
    assert sorted(str(r["id"]) for r in submitted) == sorted(load.accepted)
    cases = await _rows(
        urls["tracking"],
        "SELECT critique_id, count(*) AS n FROM cases"
        f" WHERE agency_id = '{load.directory.agency_id}' GROUP BY critique_id",
    )
    assert {str(r["critique_id"]): r["n"] for r in cases} == dict.fromkeys(load.accepted, 1)

    # Disclosed exactly once: one answered version in the log and one answer in the timeline.
    leaves = await _rows(
        urls["disclosure"], "SELECT critique_id, count(*) AS n FROM log_leaves GROUP BY critique_id"
    )
    logged = {str(r["critique_id"]): r["n"] for r in leaves}
    assert {c: logged.get(c) for c in load.accepted} == dict.fromkeys(load.accepted, 1)

    async with httpx.AsyncClient(base_url=deployment.disclosure_url, timeout=30) as http:
        for critique_id, answers in load.answered.items():
            record: dict[str, Any] = (await http.get(f"/v1/records/{critique_id}")).json()
            assert record["status"] == "answered", record
            got = [(p["number"], p["explanation"]) for p in record["points"]]
            assert got == [(n, e) for n, _, e in answers], record
            kinds = [entry["step"] for entry in record["timeline"]]
            assert kinds.count("answered") == 1, kinds
        # The transparency log: the latest checkpoint proves a sample of records.
        sample = sorted(load.accepted)[:: max(1, len(load.accepted) // 10)]
        for critique_id in sample:
            async with asyncio.timeout(30):
                while True:
                    with contextlib.suppress(verify.VerificationFailed):
                        await verify.fetch_and_check(
                            http, uuid.UUID(critique_id), deployment.log_verifier_key
                        )
                        break
                    await asyncio.sleep(0.5)
