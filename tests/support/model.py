"""A model-based test of the lifecycle on the real services: both sides act on the same
critiques at the same moments, deadlines fire, consumers are paused; then every promise the
lifecycle makes (issue 12, 2a to 2e) is checked for every critique.

- The organisation, over HTTP: amends (If-Match: the version it last read, or none), withdraws,
  decides the agency's extension requests, reads.
- The agency, over gRPC: acknowledges, asks for more time, answers (naming the version it last
  read, with answers to the points it read), reads.
- Time: a critique's reminders, overdue and escalation come due now (the scheduler of the
  tracking service fires them; only the moment is moved).
- Chaos: a service's consumers are paused and resumed (SIGUSR1 / SIGUSR2), widening the window
  between a decision and the other services hearing of it.

Each round takes one critique and starts a few of these actions at random offsets of a few
milliseconds, so that they interleave differently each time (a seeded ``random.Random``: a
failure is replayed by its seed, modulo the machine's timing). What each party was told is
recorded as a :class:`Claim`; after the run, with every consumer resumed and every event
consumed, :func:`check` holds the claims against the three services' final states.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.cli.ops import kafka
from tests.support.directory import Directory
from tests.support.services import Deployment, wait_ready

Points = tuple[tuple[int, str], ...]
"""A version's points as (number, text)."""

GROUPS = ("submission", "tracking", "disclosure")


@dataclass
class Claim:
    """What one party was told by one call: its kind, and what the answer said."""

    kind: str
    critique_id: str
    outcome: str
    """``ok``, an HTTP status, or a gRPC status code name."""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tracked:
    """One critique as the two parties know it."""

    critique_id: str
    case_id: str = ""
    org_version: int = 1
    agency_read: tuple[int, Points] | None = None
    rounds: int = 0
    contents: dict[int, Points] = field(default_factory=dict)
    """Each version's points, as written: 1 as submitted, then each amendment asked for (the
    accepted ones get their version once decided)."""


class _Patient(httpx.AsyncHTTPTransport):
    """Waits out a 429 and sends the request again, as the SDK does: the organisation's rate
    limit refuses before anything is done, and the model's organisation, reading every critique
    of a batch once a second while it settles, may exceed it. What the model claims is then
    what the services decided, never the limit's refusal."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with asyncio.timeout(120):
            while True:
                response = await super().handle_async_request(request)
                if response.status_code != 429:
                    return response
                await response.aclose()
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))


@dataclass
class Model:
    deployment: Deployment
    directory: Directory
    rng: random.Random
    critiques: list[Tracked] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    """Answers no correct service gives (a 500, an UNKNOWN, a 2xx that says nothing)."""
    pauses: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    restarting: set[str] = field(default_factory=set)
    """Services being restarted: no signal goes to a process that may not handle it yet."""

    # --- the organisation ------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.deployment.submission_url,
            headers={"Authorization": f"Bearer {self.directory.organisation_token}"},
            timeout=30,
            transport=_Patient(),
        )

    async def submit(self, number: int) -> Tracked:
        points = tuple((n, f"Điểm {n} của kiến nghị {number}, bản 1.") for n in (1, 2))
        key = uuid.uuid4().hex  # retried as a client does while submission restarts
        async with self._http() as http, asyncio.timeout(120):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    created = await http.post(
                        "/v1/critiques",
                        json={
                            "agency_id": self.directory.agency_id,
                            "kind": "supervision_recommendation",
                            "title": f"Kiến nghị thử nghiệm số {number}",
                            "points": [{"number": n, "text": t} for n, t in points],
                        },
                        headers={"Idempotency-Key": key},
                    )
                    if created.status_code != 503:
                        break
                await asyncio.sleep(0.5)
        assert created.status_code == 201, created.text
        critique = Tracked(critique_id=created.json()["id"], contents={1: points})
        self.critiques.append(critique)
        return critique

    def _request_claim(self, kind: str, critique: Tracked, answer: httpx.Response) -> Claim:
        body = answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
        claim = Claim(kind, critique.critique_id, str(answer.status_code), {"body": body})
        if answer.status_code >= 500 and answer.status_code != 503:  # 503: a restart
            self.unexpected.append(f"{kind} {critique.critique_id}: {answer.status_code}")
        self.claims.append(claim)
        return claim

    async def amend(self, critique: Tracked) -> None:
        version = critique.org_version
        size = self.rng.choice((2, 2, 3))
        tag = uuid.uuid4().hex[:6]
        points = tuple(
            (n, f"Điểm {n}, sửa đổi {tag} từ bản {version}.") for n in range(1, size + 1)
        )
        headers = {} if self.rng.random() < 0.2 else {"If-Match": f'"{version}"'}
        async with self._http() as http:
            answer = await http.put(
                f"/v1/critiques/{critique.critique_id}",
                json={
                    "title": f"Kiến nghị sửa đổi {tag}",
                    "points": [{"number": n, "text": t} for n, t in points],
                },
                headers=headers,
            )
        claim = self._request_claim("amend", critique, answer)
        claim.detail["points"] = points

    async def withdraw(self, critique: Tracked) -> None:
        async with self._http() as http:
            answer = await http.post(
                f"/v1/critiques/{critique.critique_id}/withdrawal", json={"reason": "thử"}
            )
        self._request_claim("withdraw", critique, answer)

    async def decide(self, critique: Tracked) -> None:
        async with self._http() as http:
            listed = await http.get(f"/v1/critiques/{critique.critique_id}/extensions")
            pending = [e for e in listed.json() if e["status"] == "pending"]
            if not pending:
                return
            answer = await http.post(
                f"/v1/critiques/{critique.critique_id}/extensions/{pending[0]['id']}/decision",
                json={"grant": self.rng.random() < 0.6, "note": "quyết định thử"},
            )
        self._request_claim("decide", critique, answer)

    async def org_read(self, critique: Tracked) -> None:
        async with self._http() as http:
            found = await http.get(f"/v1/critiques/{critique.critique_id}")
        if found.status_code == 200:
            critique.org_version = found.json()["version"]

    # --- the agency ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _agency(self) -> AsyncIterator[pb_grpc.AgencyServiceStub]:
        async with grpc.aio.insecure_channel(self.deployment.tracking_address) as channel:
            yield pb_grpc.AgencyServiceStub(channel)

    @property
    def _metadata(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.directory.agency_token}"),)

    async def opened(self, critique: Tracked, timeout: float = 90) -> None:
        async with self._agency() as agency, asyncio.timeout(timeout):
            while not critique.case_id:
                listed = await agency.ListCases(
                    pb.ListCasesRequest(page_size=500), metadata=self._metadata
                )
                for case in listed.cases:
                    for known in self.critiques:
                        if case.critique_id == known.critique_id:
                            known.case_id = case.case_id
                if not critique.case_id:
                    await asyncio.sleep(0.2)

    def _rpc_claim(self, kind: str, critique: Tracked, failed: grpc.aio.AioRpcError) -> Claim:
        detail: dict[str, Any] = {"message": failed.details()}
        with contextlib.suppress(ValueError):
            status = rpc_status.from_call(failed)
            for item in status.details if status else ():
                info = error_details_pb2.ErrorInfo()
                if item.Unpack(info):
                    detail["reason"] = info.reason
                    detail["current_version"] = int(info.metadata.get("current_version", "0"))
        claim = Claim(kind, critique.critique_id, failed.code().name, detail)
        if failed.code() in {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}:
            self.unexpected.append(f"{kind} {critique.critique_id}: {failed.code().name}")
        self.claims.append(claim)
        return claim

    async def agency_read(self, critique: Tracked) -> None:
        async with self._agency() as agency:
            case = await agency.GetCase(
                pb.GetCaseRequest(case_id=critique.case_id), metadata=self._metadata
            )
        critique.agency_read = (case.version, tuple((p.number, p.text) for p in case.points))

    async def acknowledge(self, critique: Tracked) -> None:
        async with self._agency() as agency:
            try:
                case = await agency.AcknowledgeCase(
                    pb.AcknowledgeCaseRequest(case_id=critique.case_id), metadata=self._metadata
                )
            except grpc.aio.AioRpcError as failed:
                self._rpc_claim("acknowledge", critique, failed)
                return
        self.claims.append(
            Claim(
                "acknowledge",
                critique.critique_id,
                "ok",
                {"version": case.version, "status": pb.CaseStatus.Name(case.status)},
            )
        )

    async def extend(self, critique: Tracked) -> None:
        until = date.today() + timedelta(days=self.rng.randint(40, 80))
        async with self._agency() as agency:
            try:
                await agency.RequestExtension(
                    pb.RequestExtensionRequest(
                        case_id=critique.case_id,
                        request_id=uuid.uuid4().hex,
                        reason="Cần thêm thời gian khảo sát.",
                        requested_due_date=until.isoformat(),
                    ),
                    metadata=self._metadata,
                )
            except grpc.aio.AioRpcError as failed:
                self._rpc_claim("extend", critique, failed)

    async def answer(self, critique: Tracked) -> None:
        if critique.agency_read is None:
            await self.agency_read(critique)
        assert critique.agency_read is not None
        version, points = critique.agency_read
        dispositions = (
            pb.DISPOSITION_ACCEPTED,
            pb.DISPOSITION_PARTLY_ACCEPTED,
            pb.DISPOSITION_NOT_ACCEPTED,
        )
        answers = [
            (number, self.rng.choice(dispositions), f"Giải trình điểm {number} bản {version}.")
            for number, _ in points
        ]
        async with self._agency() as agency:
            try:
                await agency.SubmitAnswer(
                    pb.SubmitAnswerRequest(
                        case_id=critique.case_id,
                        request_id=uuid.uuid4().hex,
                        version=version,
                        answers=[
                            pb.PointAnswer(point_number=n, disposition=d, explanation=e)
                            for n, d, e in answers
                        ],
                    ),
                    metadata=self._metadata,
                )
            except grpc.aio.AioRpcError as failed:
                claim = self._rpc_claim("answer", critique, failed)
                claim.detail["version"] = version
                return
        self.claims.append(
            Claim(
                "answer",
                critique.critique_id,
                "ok",
                {"version": version, "points": points, "answers": answers},
            )
        )

    # --- time and chaos --------------------------------------------------------------------------

    async def come_due(self, critique: Tracked) -> None:
        """Its next deadline steps are due now: a reminder, or overdue and escalation."""
        steps = ("overdue", "escalation") if self.rng.random() < 0.6 else ("reminder-%",)
        connection = await asyncpg.connect(self.deployment.database_urls["tracking"])
        try:
            await connection.execute(
                "UPDATE deadline_steps SET fire_at = now() WHERE case_id = $1"
                " AND fired_at IS NULL AND step LIKE ANY($2::text[])",
                uuid.UUID(critique.case_id),
                list(steps),
            )
        finally:
            await connection.close()

    async def chaos(self, stop: asyncio.Event, signals: bool = True) -> None:
        """Pause one service's consumers for a moment, now and then, until ``stop``."""
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(0.1, 0.8))
            if not signals or stop.is_set():
                continue
            service = self.rng.choice(GROUPS)
            if service in self.restarting:
                continue
            process = self.deployment.processes[service].popen
            process.send_signal(signal.SIGUSR1)
            self.pauses[service] += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.rng.uniform(0.3, 2.5))
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGUSR2)

    # --- a run -----------------------------------------------------------------------------------

    async def _tolerant(
        self, action: Callable[[Tracked], Awaitable[None]], critique: Tracked
    ) -> None:
        """The action, as a client sees it while a service restarts: a lost connection or
        UNAVAILABLE leaves its outcome unknown, and nothing is claimed of it."""
        try:
            await action(critique)
        except httpx.TransportError as lost:
            self.claims.append(Claim(action.__name__, critique.critique_id, "unreachable"))
            del lost
        except grpc.aio.AioRpcError as failed:
            self._rpc_claim(action.__name__, critique, failed)

    def actions(self, critique: Tracked) -> dict[Callable[[Tracked], Awaitable[None]], float]:
        """What may happen next, with how often. Answering and withdrawing end a critique's
        story, so they come rarely at first: the windows before them are the ones to widen."""
        early = critique.rounds < 3
        return {
            self.amend: 3.0,
            self.withdraw: 0.2 if early else 0.8,
            self.decide: 2.0,
            self.org_read: 1.0,
            self.acknowledge: 1.0,
            self.extend: 1.5,
            self.answer: 0.3 if early else 2.0,
            self.agency_read: 1.5,
            self.come_due: 0.7,
        }

    async def round(self, critique: Tracked) -> None:
        """A few actions of both sides on one critique, started milliseconds apart."""
        weighted = self.actions(critique)
        chosen: list[Callable[[Tracked], Awaitable[None]]] = []
        for _ in range(self.rng.randint(2, 4)):
            left = {a: w for a, w in weighted.items() if a not in chosen}
            chosen.append(self.rng.choices(list(left), weights=list(left.values()))[0])
        critique.rounds += 1

        async def later(action: Callable[[Tracked], Awaitable[None]], delay: float) -> None:
            await asyncio.sleep(delay)
            await self._tolerant(action, critique)

        await asyncio.gather(*(later(a, self.rng.uniform(0, 0.08)) for a in chosen))

    async def crash(self, service: str) -> None:
        """Kill ``service`` (SIGKILL) and start it again, ready."""
        self.restarting.add(service)
        try:
            await self.deployment.restart(service, signal.SIGKILL)
            await wait_ready(self.deployment)
            self.crashes[service] += 1
        finally:
            self.restarting.discard(service)

    async def run(
        self, *, critiques: int, rounds: int, pauses: bool = True, crash: str | None = None
    ) -> list[Tracked]:
        """One batch: ``critiques`` new critiques, ``rounds`` rounds on them, with pauses, and
        ``crash`` killed and restarted half-way; return the batch's critiques."""
        base = len(self.critiques)
        fresh = [await self.submit(base + n) for n in range(critiques)]
        for critique in fresh:
            await self.opened(critique)
        stop = asyncio.Event()
        chaos = asyncio.create_task(self.chaos(stop, signals=pauses))
        crashing: asyncio.Task[None] | None = None
        try:
            for number in range(rounds):
                if crash is not None and number == rounds // 2:
                    crashing = asyncio.create_task(self.crash(crash))
                critique = self.rng.choice(fresh)
                await self._tolerant(self.rng.choice((self.org_read, self.agency_read)), critique)
                await self.round(critique)
        finally:
            stop.set()
            await chaos
            if crashing is not None:
                await crashing
        for service in GROUPS:  # whatever the chaos left, everything is consumed now
            self.deployment.processes[service].popen.send_signal(signal.SIGUSR2)
        return fresh


# --- the end state -------------------------------------------------------------------------------


def _consumers() -> dict[str, tuple[str, ...]]:
    """Each service's consumer group and the topics it reads, from its own subscription."""
    from services.disclosure.main import DisclosureSettings
    from services.disclosure.main import subscription as disclosure
    from services.submission.consumers import SUBSCRIPTION
    from services.tracking.main import TrackingSettings
    from services.tracking.main import subscription as tracking

    unused = "postgresql://unused/unused"
    subscriptions = (
        SUBSCRIPTION,
        tracking(TrackingSettings(tracking_database_url=unused)),
        disclosure(DisclosureSettings(disclosure_database_url=unused)),
    )
    return {s.name: s.topics for s in subscriptions}


async def _lag(bootstrap: str) -> int:
    """Events not yet consumed by any of the services' consumer groups."""
    async with kafka.connect(bootstrap, wait=10) as reader:
        lags = [await kafka.group_lag(reader, g, t) for g, t in _consumers().items()]
    return sum(sum(lag.values()) for lag in lags)


async def settled(model: Model, critiques: list[Tracked], timeout: float = 180) -> None:
    """Until every request is decided, every outbox sent and every event consumed (twice in a
    row, a second apart)."""
    deployment = model.deployment
    quiet = 0
    async with asyncio.timeout(timeout), model._http() as http:
        while quiet < 2:
            await asyncio.sleep(1.0)
            pending = 0
            for critique in critiques:
                listed = (await http.get(f"/v1/critiques/{critique.critique_id}/requests")).json()
                pending += sum(1 for r in listed if r["status"] == "pending")
            unsent = 0
            for url in deployment.database_urls.values():
                connection = await asyncpg.connect(url)
                try:
                    unsent += await connection.fetchval(
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                    )
                finally:
                    await connection.close()
            lag = await _lag(
                deployment.launches["submission"].env["SUPERVISION_KAFKA_BOOTSTRAP_SERVERS"]
            )
            quiet = quiet + 1 if pending == unsent == lag == 0 else 0


@dataclass(frozen=True)
class Final:
    """A critique's end state at each service."""

    submission: dict[str, Any]
    requests: list[dict[str, Any]]
    history: list[dict[str, Any]]
    extensions: list[dict[str, Any]]
    case: pb.Case
    public: dict[str, Any] | None


async def finals(model: Model, critiques: list[Tracked]) -> dict[str, Final]:
    found: dict[str, Final] = {}
    async with (
        model._http() as http,
        httpx.AsyncClient(base_url=model.deployment.disclosure_url, timeout=30) as public,
        model._agency() as agency,
    ):
        for critique in critiques:
            path = f"/v1/critiques/{critique.critique_id}"
            record = await public.get(f"/v1/records/{critique.critique_id}")
            found[critique.critique_id] = Final(
                submission=(await http.get(path)).json(),
                requests=(await http.get(f"{path}/requests")).json(),
                history=(await http.get(f"{path}/history")).json(),
                extensions=(await http.get(f"{path}/extensions")).json(),
                case=await agency.GetCase(
                    pb.GetCaseRequest(case_id=critique.case_id), metadata=model._metadata
                ),
                public=record.json() if record.status_code == 200 else None,
            )
    return found


_CASE_STATUS = {
    pb.CASE_STATUS_AWAITING_ANSWER: "awaiting_reply",
    pb.CASE_STATUS_ACKNOWLEDGED: "acknowledged",
    pb.CASE_STATUS_ANSWERED: "answered",
    pb.CASE_STATUS_WITHDRAWN: "withdrawn",
}
_REQUEST_STEPS = {
    ("amendment", "accepted"): "amended",
    ("amendment", "refused"): "amendment_refused",
    ("withdrawal", "accepted"): "withdrawn",
    ("withdrawal", "refused"): "withdrawal_refused",
    ("extension_decision", "refused"): "extension_decision_refused",
}


def check(model: Model, found: dict[str, Final]) -> list[str]:
    """Every broken promise, one line each (2a to 2e of issue 12): empty when all hold."""
    broken = [f"unexpected answer: {line}" for line in model.unexpected]
    for critique in model.critiques:
        if critique.critique_id not in found:
            continue
        final = found[critique.critique_id]
        claims = [c for c in model.claims if c.critique_id == critique.critique_id]
        broken += [f"{critique.critique_id}: {b}" for b in _one(critique, final, claims)]
    return broken


def _points(case: pb.Case) -> Points:
    return tuple((p.number, p.text) for p in case.points)


def _one(critique: Tracked, final: Final, claims: list[Claim]) -> list[str]:
    broken: list[str] = []
    case, mine, public = final.case, final.submission, final.public
    status = _CASE_STATUS[case.status]

    # 2b: a 2xx that claims a change says it is decided; a change tracking decides is pending.
    for claim in claims:
        if claim.kind in {"amend", "withdraw", "decide"} and claim.outcome in {"200", "202"}:
            said = claim.detail["body"].get("status")
            if claim.outcome == "202" and said != "pending":
                broken.append(f"{claim.kind} answered 202 but {said!r}, not pending")
            if claim.outcome == "200" and said not in {"accepted", "refused"}:
                broken.append(f"{claim.kind} answered 200 without a decision: {said!r}")
    # ... and every request's outcome reaches the requester: decided, with the reason if
    # refused, and in the history.
    steps = {(h["step"], h["detail"].get("request_id")) for h in final.history}
    for request in final.requests:
        if request["status"] == "pending":
            broken.append(f"request {request['id']} ({request['kind']}) never decided")
            continue
        if request["status"] == "refused" and not (
            request["refusal"] and request["refusal"]["reason"] and request["refusal"]["detail"]
        ):
            broken.append(f"request {request['id']} refused without a reason")
        step = _REQUEST_STEPS.get((request["kind"], request["status"]))
        if step is None and request["kind"] == "extension_decision":
            step = "extension_granted" if request["grant"] else "extension_refused"
        if (step, request["id"]) not in steps:
            broken.append(f"request {request['id']} {request['status']}: no {step} in history")

    # 2a: what a party was told was done is never undone.
    for ack in (c for c in claims if c.kind == "acknowledge" and c.outcome == "ok"):
        if status == "withdrawn":
            broken.append("acknowledged (OK), then withdrawn")
        if case.version != ack.detail["version"]:
            broken.append(f"acknowledged at version {ack.detail['version']}, now {case.version}")
    answered = [c for c in claims if c.kind == "answer" and c.outcome == "ok"]
    if len(answered) > 1:
        broken.append(f"{len(answered)} answers got OK")
    for answer in answered:
        version, points = answer.detail["version"], answer.detail["points"]
        given = [(n, pb.Disposition.Name(d), e) for n, d, e in answer.detail["answers"]]
        if status != "answered":
            broken.append(f"answer got OK, case now {status}")
        if case.version != version or _points(case) != points:
            broken.append(
                f"answer (OK) to version {version} {points}; the case is now version"
                f" {case.version} {_points(case)}"
            )
        held = [
            (a.point_number, pb.Disposition.Name(a.disposition), a.explanation)
            for a in case.answers
        ]
        if held != given:
            broken.append(f"tracking holds answers {held}, the agency got OK for {given}")
        if mine.get("answered_version") not in (None, version):
            broken.append(f"submission says version {mine['answered_version']} was answered")
        if [(a["point_number"], a["explanation"]) for a in mine["answers"]] != [
            (n, e) for n, _, e in given
        ]:
            broken.append(f"submission holds answers {mine['answers']}, not {given}")

    # 2e: an answer to an outdated version is refused with the current version.
    for refused in (c for c in claims if c.kind == "answer" and c.outcome == "FAILED_PRECONDITION"):
        if refused.detail.get("reason") == "VERSION_MISMATCH":
            current = refused.detail.get("current_version")
            if not current or current == refused.detail["version"]:
                broken.append(f"version mismatch without the current version: {refused.detail}")

    # 2c: the three services agree.
    if mine["status"] != status:
        broken.append(f"submission says {mine['status']}, tracking {status}")
    if mine["version"] != case.version:
        broken.append(f"submission at version {mine['version']}, tracking {case.version}")
    if tuple((p["number"], p["text"]) for p in mine["points"]) != _points(case):
        broken.append("submission's points differ from tracking's")
    if [(a["point_number"], a["explanation"]) for a in mine["answers"]] != [
        (a.point_number, a.explanation) for a in case.answers
    ]:
        broken.append("submission's answers differ from tracking's")
    if mine["due_date"] != case.due_date:
        broken.append(f"submission due {mine['due_date']}, tracking {case.due_date}")
    extensions = {e["id"]: e["status"] for e in final.extensions}
    tracked = {
        x.extension_id: pb.ExtensionStatus.Name(x.status).removeprefix("EXTENSION_STATUS_").lower()
        for x in case.extensions
    }
    if extensions != tracked:
        broken.append(f"extensions: submission {extensions}, tracking {tracked}")
    if public is not None:
        broken += _public(case, status, public)
    elif status == "answered" or case.overdue:
        broken.append(f"{status}{' and overdue' if case.overdue else ''}, but not published")
    return broken


def _public(case: pb.Case, status: str, public: dict[str, Any]) -> list[str]:
    """2c and 2d: the public record agrees with tracking, and never pairs an answer with text
    the agency did not answer."""
    broken: list[str] = []
    if status == "withdrawn":
        if public["status"] != "withdrawn" or public["points"]:
            broken.append(f"withdrawn, but the public record is {public['status']}")
        return broken
    answered = public["status"] in {"answered", "answered_late"}
    if answered != (status == "answered"):
        broken.append(f"public status {public['status']}, tracking {status}")
    if public.get("version") != case.version:
        broken.append(f"public version {public.get('version')}, tracking {case.version}")
    shown = tuple((p["number"], p["text"]) for p in public["points"])
    if shown != _points(case):
        broken.append(f"public points {shown}, tracking {_points(case)}")
    with_answers = [p for p in public["points"] if p["disposition"] is not None]
    if with_answers:
        if public.get("answered_version") != case.version or status != "answered":
            broken.append(
                f"public answers beside version {public.get('version')}, answered version"
                f" {public.get('answered_version')}, tracking {case.version}/{status}"
            )
        expected = [(a.point_number, a.explanation) for a in case.answers]
        if [(p["number"], p["explanation"]) for p in with_answers] != expected:
            broken.append("public answers differ from tracking's")
    elif answered:
        broken.append("published as answered without its answers")
    return broken
