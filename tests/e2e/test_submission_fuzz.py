"""The running submission service against its own OpenAPI document: schemathesis generates
requests, valid and invalid, for every operation and checks that the service never fails with a
5xx and answers only as the document says (status codes, media types, bodies, headers, 401
without the token).

schemathesis' pytest integration (``@schema.parametrize()``) fails under pytest 9.2 (it sets
``Function._nodeid``, which is gone), so each operation is a Hypothesis test built from
schemathesis' strategies and its ``call_and_validate``, run as a subtest. Every check is on except
positive_data_acceptance (see ``submission_api``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import grpc
import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.support.directory import Directory, register
from tests.support.engines import Engines
from tests.support.services import Deployment, deployed

Case = schemathesis.Case[Any]
Operation = APIOperation[Any, Any, Any, Any]

MAX_EXAMPLES = 50
TIMEOUT = 10
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"

# Attachments are PDF files: mostly ones that start like a PDF, some that do not.
schemathesis.openapi.media_type(
    "application/pdf",
    st.one_of(st.binary(max_size=2048).map(lambda tail: b"%PDF-1.7\n" + tail), st.binary()),
)


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    """The services with rate limits the fuzzer will not reach (429 is documented, but a run
    that is mostly refused tests little)."""
    async with deployed(
        engines,
        "fuzz",
        extra_env={
            "SUPERVISION_SUBMISSION_RATE_PER_SECOND": "1000",
            "SUPERVISION_SUBMISSION_RATE_BURST": "10000",
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def office(deployment: Deployment) -> Directory:
    return await register(deployment)


@dataclass(frozen=True)
class Known:
    """What exists in the service, to aim valid requests at: random ids find nothing and random
    critiques break the rules no schema states, which would leave the service's answers to
    good requests untested."""

    agency_id: str
    critique_ids: tuple[str, ...]
    to_withdraw: str
    attachment: tuple[str, str]
    extension: tuple[str, str]
    request: tuple[str, str]

    def aim(self, case: Case, pick: int) -> None:
        parameters = case.path_parameters or {}
        if "attachment_id" in parameters:
            parameters["critique_id"], parameters["attachment_id"] = self.attachment
        elif "request_id" in parameters:
            parameters["critique_id"], parameters["request_id"] = self.request
        elif "extension_id" in parameters:
            parameters["critique_id"], parameters["extension_id"] = self.extension
        elif "critique_id" in parameters:
            parameters["critique_id"] = (
                self.to_withdraw
                if case.operation.path.endswith("/withdrawal")
                else self.critique_ids[pick % len(self.critique_ids)]
            )
        if "agency_id" in parameters:
            parameters["agency_id"] = self.agency_id
        if case.headers:  # case-insensitive
            # A random tag is refused; none amends whatever version is current.
            case.headers.pop("If-Match", None)
        if isinstance(case.body, dict):
            self._within_the_rules(case.body)

    def _within_the_rules(self, body: dict[str, Any]) -> None:
        if "agency_id" in body:
            body["agency_id"] = self.agency_id
        points = body.get("points")
        if isinstance(points, list):
            body["classification"] = "unclassified"
            for number, point in enumerate(points, start=1):
                if isinstance(point, dict):
                    point["number"] = number
        draft = body.get("draft")
        if isinstance(draft, dict) and not (draft.get("version") or draft.get("url")):
            draft["version"] = "Dự thảo lần 2"
        elif draft is None and body.get("kind") == "social_criticism":
            body["draft"] = {
                "title": "Dự thảo Nghị quyết về phí chợ",
                "drafting_agency": "Sở Tài chính",
                "version": "Dự thảo lần 2",
            }


@pytest.fixture(scope="module")
async def known(deployment: Deployment, office: Directory) -> Known:
    async with httpx.AsyncClient(
        base_url=deployment.submission_url,
        headers={"Authorization": f"Bearer {office.organisation_token}"},
    ) as http:
        ids = []
        for number in range(3):
            created = await http.post(
                "/v1/critiques",
                json={
                    "agency_id": office.agency_id,
                    "kind": "supervision_recommendation",
                    "title": f"Kiến nghị số {number + 1} về chợ xã",
                    "points": [{"number": 1, "text": "Sửa mái chợ trước mùa mưa."}],
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        attached = await http.post(
            f"/v1/critiques/{ids[0]}/attachments",
            params={"filename": "kiến-nghị.pdf"},
            content=PDF,
            headers={"Content-Type": "application/pdf"},
        )
        assert attached.status_code == 201, attached.text
        extension = await _extension_requested(deployment, office, ids[1], http)
        asked = await http.put(
            f"/v1/critiques/{ids[0]}",
            json={"title": "Kiến nghị sửa đổi", "points": [{"number": 1, "text": "Sửa mái chợ."}]},
        )
        assert asked.status_code == 202, asked.text
    return Known(
        agency_id=office.agency_id,
        critique_ids=tuple(ids[:2]),
        to_withdraw=ids[2],
        attachment=(ids[0], attached.json()["id"]),
        extension=(ids[1], extension),
        request=(ids[0], asked.json()["id"]),
    )


async def _extension_requested(
    deployment: Deployment, office: Directory, critique_id: str, http: httpx.AsyncClient
) -> str:
    """The agency asks for more time on a critique, so that there is a request to decide."""
    metadata = (("authorization", f"Bearer {office.agency_token}"),)
    async with grpc.aio.insecure_channel(deployment.tracking_address) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        async with asyncio.timeout(60):
            while True:
                listed = await agency.ListCases(pb.ListCasesRequest(), metadata=metadata)
                case = next((c for c in listed.cases if c.critique_id == critique_id), None)
                if case is not None:
                    break
                await asyncio.sleep(0.2)
        later = date.fromisoformat(case.due_date) + timedelta(days=10)
        await agency.RequestExtension(
            pb.RequestExtensionRequest(
                case_id=case.case_id,
                request_id="fuzz",
                reason="Cần thêm thời gian",
                requested_due_date=later.isoformat(),
            ),
            metadata=metadata,
        )
    async with asyncio.timeout(60):
        while not (found := (await http.get(f"/v1/critiques/{critique_id}/extensions")).json()):
            await asyncio.sleep(0.2)
    extension_id: str = found[0]["id"]
    return extension_id


@pytest.fixture(scope="module")
def submission_api(deployment: Deployment) -> BaseSchema:
    """The document the running service serves."""
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                # The token is sent with every request (see `fuzz`), not generated.
                "with-security-parameters": False,
                # Unknown query parameters are ignored, as most HTTP APIs do: the document does
                # not forbid them, so a request that has some is not an invalid one.
                "allow-extra-parameters": False,
            },
            "checks": {
                # The API has rules no JSON Schema states (the agency must exist, social
                # criticism must name its draft, cursors and ETags are only those it gave), and
                # answers them with a documented 422; the other checks judge those answers.
                "positive_data_acceptance": {"enabled": False},
            },
        }
    )
    return schemathesis.openapi.from_url(
        f"{deployment.submission_url}/openapi.json", config=config, timeout=TIMEOUT
    )


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def fuzz(
    operation: Operation,
    mode: schemathesis.GenerationMode,
    known: Known,
    session: requests.Session,
    token: str,
) -> None:
    # Valid requests are aimed at what exists three times in four; invalid ones never, lest
    # aiming make them valid.
    aims = st.integers(0, 3) if mode is schemathesis.GenerationMode.POSITIVE else st.just(0)

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), aim=aims)
    def examples(case: Case, aim: int) -> None:
        if aim:
            known.aim(case, aim)
        # Given here rather than generated, the token is known to be valid: the checks also send
        # the request without it, and with a wrong one, and expect 401.
        response = case.call_and_validate(
            session=session, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )
        statuses.add(response.status_code)

    statuses: set[int] = set()
    try:
        examples()
    except Unsatisfiable:
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
        pytest.skip("nothing in this operation's request can be made invalid")
    if mode is schemathesis.GenerationMode.POSITIVE:
        # Refusals are documented too: a run refused throughout (a bad token, say) checks little.
        assert any(200 <= status < 300 for status in statuses), sorted(statuses)


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_the_submission_api_keeps_to_its_document(
    submission_api: BaseSchema,
    office: Directory,
    known: Known,
    session: requests.Session,
    mode: schemathesis.GenerationMode,
    subtests: pytest.Subtests,
) -> None:
    operations = []
    for result in submission_api.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 10
    for operation in operations:
        with subtests.test(msg=operation.label):
            fuzz(operation, mode, known, session, office.organisation_token)
