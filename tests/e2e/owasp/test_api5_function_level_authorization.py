"""API5:2023 Broken Function Level Authorization — each caller reaches its own functions only.

An organisation's token opens none of the agencies' gRPC functions (it cannot acknowledge,
extend or answer even the case of its own critique), and an agency's token none of the
organisations' HTTP functions. What the operators do (``supervision admin``: the directory of
organisations and agencies, their tokens) is done on the databases, never over an API: no route
or gRPC method of either answers for it. And the public API writes nothing: every write method
on every public route is a 405 problem with ``Allow`` naming the read methods."""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from tests.e2e.owasp.calls import (
    agency_metadata,
    assert_problem,
    bearer,
    case_of,
    rpc_error,
    submit,
)
from tests.support.directory import register
from tests.support.services import Deployment

WRITES = ("POST", "PUT", "PATCH", "DELETE")


async def test_an_organisation_token_opens_no_agency_function_nor_an_agency_token_theirs(
    deployment: Deployment, submission_client: httpx.AsyncClient, agency: pb_grpc.AgencyServiceStub
) -> None:
    office = await register(deployment)
    critique = await submit(submission_client, office)
    case = await case_of(agency, office, critique["id"])
    as_organisation = agency_metadata(office.organisation_token)
    answers = [
        pb.PointAnswer(point_number=p.number, disposition=pb.DISPOSITION_ACCEPTED)
        for p in case.points
    ]
    calls: dict[str, Any] = {
        "ListCases": agency.ListCases(pb.ListCasesRequest(), metadata=as_organisation),
        "GetCase": agency.GetCase(
            pb.GetCaseRequest(case_id=case.case_id), metadata=as_organisation
        ),
        "AcknowledgeCase": agency.AcknowledgeCase(
            pb.AcknowledgeCaseRequest(case_id=case.case_id), metadata=as_organisation
        ),
        "RequestExtension": agency.RequestExtension(
            pb.RequestExtensionRequest(
                case_id=case.case_id,
                request_id=str(uuid.uuid4()),
                reason="Tự gia hạn.",
                requested_due_date="2099-12-31",
            ),
            metadata=as_organisation,
        ),
        "SubmitAnswer": agency.SubmitAnswer(
            pb.SubmitAnswerRequest(
                case_id=case.case_id,
                request_id=str(uuid.uuid4()),
                version=case.version,
                answers=answers,
            ),
            metadata=as_organisation,
        ),
    }
    for name, call in calls.items():
        refused = await rpc_error(call)
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED, (name, refused.details())

    as_agency = bearer(office.agency_token)
    url = f"/v1/critiques/{critique['id']}"
    for method, path, body in (
        ("GET", "/v1/me", None),
        ("GET", "/v1/critiques", None),
        ("GET", url, None),
        ("GET", f"{url}/history", None),
        ("POST", "/v1/critiques", {}),
        ("POST", f"{url}/withdrawal", {"reason": "Cơ quan rút hộ."}),
        ("POST", f"{url}/extensions/{uuid.uuid4()}/decision", {"grant": True}),
    ):
        reply = await submission_client.request(method, path, json=body, headers=as_agency)
        assert_problem(reply, 401, "unauthenticated")

    untouched = await agency.GetCase(
        pb.GetCaseRequest(case_id=case.case_id), metadata=agency_metadata(office.agency_token)
    )
    assert untouched.status == pb.CASE_STATUS_AWAITING_ANSWER
    assert not untouched.HasField("acknowledged_at")
    assert list(untouched.extensions) == []


AGENCY_FUNCTIONS = {
    "ListCases",
    "WatchCases",
    "GetCase",
    "AcknowledgeCase",
    "RequestExtension",
    "SubmitAnswer",
    "RegisterDraft",
    "AddDraftVersion",
    "GetDraft",
    "ListDrafts",
    "RecordSubmissionToAuthority",
}
"""The agency's side of the transitions (contracts/transitions.py), and reading its cases and
the drafts it leads."""

ADMINISTRATION = [
    "/v1/organisations",
    "/v1/organisations/{organisation}",
    "/v1/organisations/{organisation}/tokens",
    "/v1/organisations/{organisation}/tokens/{token}",
    "/v1/me/tokens",
    "/v1/tokens",
    "/v1/tokens/{token}",
    "/v1/agencies/{agency}/tokens",
    "/v1/directory",
    "/v1/seed",
    "/v1/demo",
    "/admin/organisations",
    "/admin/agencies",
    "/admin/tokens",
]
"""Where an HTTP API would offer ``supervision admin``'s commands: organisation add / token /
tokens / revoke, the same for agencies, seed, demo."""


async def test_no_administration_is_reachable_over_any_api(
    deployment: Deployment,
    submission_client: httpx.AsyncClient,
    disclosure_client: httpx.AsyncClient,
    agency: pb_grpc.AgencyServiceStub,
) -> None:
    office = await register(deployment)
    as_organisation = bearer(office.organisation_token)
    ids = {"organisation": office.organisation_id, "agency": office.agency_id, "token": "1"}
    for client in (submission_client, disclosure_client):
        for template in ADMINISTRATION:
            path = template.format(**ids)
            for method in ("GET", *WRITES):
                reply = await client.request(method, path, json={}, headers=as_organisation)
                assert_problem(reply, 404, "http-404")
    # The directory is read only: an organisation neither adds an agency nor changes itself.
    for path, allowed in (
        ("/v1/agencies", {"GET"}),
        (f"/v1/agencies/{office.agency_id}", {"GET"}),
        ("/v1/me", {"GET"}),
    ):
        for method in WRITES:
            reply = await submission_client.request(
                method, path, json={"id": "x"}, headers=as_organisation
            )
            assert_problem(reply, 405, "http-405")
            assert set(reply.headers["allow"].replace(" ", "").split(",")) - {"HEAD"} == allowed
    me = await submission_client.get("/v1/me", headers=as_organisation)
    assert me.json()["id"] == office.organisation_id
    # Every operation an organisation may call is one of its own: none manages the directory.
    document = (await submission_client.get("/openapi.json")).json()
    administrative = re.compile(r"token|organisation|admin|seed|directory", re.IGNORECASE)
    assert [path for path in document["paths"] if administrative.search(path)] == []
    assert {(path, method) for path, item in document["paths"].items() for method in item} >= {
        ("/v1/agencies", "get")
    }
    assert not [
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/v1/agencies") and method != "get"
    ]
    # On gRPC, the agency API is the agency's functions and nothing else.
    service = pb.DESCRIPTOR.services_by_name["AgencyService"]
    assert {method.name for method in service.methods} == AGENCY_FUNCTIONS
    assert set(pb.DESCRIPTOR.services_by_name) == {"AgencyService"}
    listed = await agency.ListCases(
        pb.ListCasesRequest(), metadata=agency_metadata(office.agency_token)
    )
    assert list(listed.cases) == []


PAGES = ["/", "/search", "/records/{critique_id}", "/agencies/{agency_id}", "/static/site.css"]
"""The pages for people, served beside the documented API (not in its OpenAPI document)."""


async def test_the_public_api_writes_nothing(disclosure_client: httpx.AsyncClient) -> None:
    document = (await disclosure_client.get("/openapi.json")).json()
    paths = [*document["paths"], *PAGES]
    assert {"/v1/records", "/v1/records/{critique_id}", "/feeds/records.atom"} <= set(paths)
    for path, item in document["paths"].items():
        assert set(item) == {"get"}, path  # documented: read methods only
    refused = 0
    for template in paths:
        path = re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), template)
        for method in WRITES:
            reply = await disclosure_client.request(method, path, json={"title": "ghi đè"})
            assert_problem(reply, 405, "http-405")
            assert set(reply.headers["allow"].replace(" ", "").split(",")) <= {"GET", "HEAD"}
            assert "GET" in reply.headers["allow"], (method, template)
            refused += 1
    assert refused == len(paths) * len(WRITES)
