"""API2:2023 Broken Authentication — only a live credential gets in, and a refusal tells nothing.

Bearer tokens: a request with no token, a malformed one, an unknown one, a revoked one or an
expired one (``supervision admin … token --expires-in 90d``) is refused with the typed error of
its API: on the organisations' HTTP API a 401 problem+json with ``WWW-Authenticate: Bearer``
(never stored by a cache), on the agencies' gRPC API UNAUTHENTICATED. The refusal is the same
whichever of these it was, so it tells no one whether a token exists or once did. Tokens carry
256 random bits (services.platform.tokens), so guessing one is not a threat a rate limit on
refusals would add to.

Client certificates (mutual TLS) have a section of their own at the end of this module."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services import admin
from services.platform import tokens
from services.submission import directory as submission_directory
from services.tracking import store as tracking_store
from tests.e2e.owasp.calls import agency_metadata, assert_problem, bearer, rpc_error
from tests.support.directory import Directory, register
from tests.support.services import Deployment

# -- Bearer tokens -------------------------------------------------------------------------------


async def dead_tokens(deployment: Deployment, party: Directory, *, agency: bool) -> dict[str, str]:
    """Tokens of ``party``'s organisation (or agency) that must not get in: unknown, revoked,
    expired a minute ago."""
    url = deployment.database_urls["tracking" if agency else "submission"]
    store = tracking_store.TOKENS if agency else submission_directory.TOKENS
    owner = party.agency_id if agency else party.organisation_id
    revoked_id, revoked = await admin.issue_token(url, store, owner, "revoked")
    assert await admin.revoke_token(url, store, revoked_id)
    _, expired = await admin.issue_token(
        url, store, owner, "expired", expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    return {
        "unknown": tokens.issue("sv_agency" if agency else "sv_org"),
        "revoked": revoked,
        "expired": expired,
    }


MALFORMED = {
    "no scheme": "{token}",
    "empty": "",
    "scheme alone": "Bearer",
    "another scheme": "Basic {token}",
    "token in two parts": "Bearer {token} {token}",
}


async def test_the_submission_api_refuses_every_request_without_a_live_token_alike(
    deployment: Deployment, submission_client: httpx.AsyncClient
) -> None:
    office = await register(deployment)
    live = office.organisation_token
    authorizations: dict[str, str | None] = {
        "missing": None,
        **{name: form.format(token=live) for name, form in MALFORMED.items()},
        **{
            name: f"Bearer {token}"
            for name, token in (await dead_tokens(deployment, office, agency=False)).items()
        },
    }
    critique = "00000000-0000-4000-8000-000000000000"
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/me", {}),
        ("GET", "/v1/critiques", {}),
        ("POST", "/v1/critiques", {"json": {}}),
        ("GET", f"/v1/critiques/{critique}", {}),
        ("PUT", f"/v1/critiques/{critique}", {"json": {}}),
        ("GET", f"/v1/critiques/{critique}/attachments/{critique}", {}),
        ("GET", "/v1/escalations", {}),
    ]
    refusals = {}
    for name, authorization in authorizations.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, options in routes:
            reply = await submission_client.request(method, path, headers=headers, **options)
            problem = assert_problem(reply, 401, "unauthenticated")
            assert reply.headers["www-authenticate"] == 'Bearer realm="submission"', name
            assert reply.headers["cache-control"] == "no-store", name
            refusals[(name, method, path)] = problem
    assert len({str(problem) for problem in refusals.values()}) == 1, "refusals that differ"

    me = await submission_client.get("/v1/me", headers=bearer(live))
    assert me.status_code == 200
    assert me.json()["id"] == office.organisation_id


async def test_a_token_issued_for_a_time_works_until_then_and_is_listed_with_its_expiry(
    deployment: Deployment,
    submission_client: httpx.AsyncClient,
    agency: pb_grpc.AgencyServiceStub,
) -> None:
    office = await register(deployment)
    until = datetime.now(UTC) + timedelta(days=90)
    issued = {}
    for service, store, owner in (
        ("submission", submission_directory.TOKENS, office.organisation_id),
        ("tracking", tracking_store.TOKENS, office.agency_id),
    ):
        url = deployment.database_urls[service]
        token_id, issued[service] = await admin.issue_token(
            url, store, owner, "90 ngày", expires_at=until
        )
        listed = {t.id: t for t in await admin.list_tokens(url, store, owner)}
        assert listed[token_id].expires_at == until
        assert listed[token_id].revoked_at is None
    me = await submission_client.get("/v1/me", headers=bearer(issued["submission"]))
    assert me.status_code == 200
    cases = await agency.ListCases(
        pb.ListCasesRequest(), metadata=agency_metadata(issued["tracking"])
    )
    assert list(cases.cases) == []


async def test_the_agency_api_refuses_every_call_without_a_live_token_alike(
    deployment: Deployment, agency: pb_grpc.AgencyServiceStub
) -> None:
    office = await register(deployment)
    live = office.agency_token
    dead = await dead_tokens(deployment, office, agency=True)
    case_id = "00000000-0000-4000-8000-000000000000"

    def calls(metadata: tuple[tuple[str, str], ...]) -> dict[str, Awaitable[Any]]:
        return {
            "ListCases": agency.ListCases(pb.ListCasesRequest(), metadata=metadata),
            "GetCase": agency.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=metadata),
            "AcknowledgeCase": agency.AcknowledgeCase(
                pb.AcknowledgeCaseRequest(case_id=case_id), metadata=metadata
            ),
            "WatchCases": _first_change(agency, metadata),
        }

    metadata: dict[str, tuple[tuple[str, str], ...]] = {
        "missing": (),
        **{name: (("authorization", form.format(token=live)),) for name, form in MALFORMED.items()},
        **{name: agency_metadata(token) for name, token in dead.items()},
    }
    details: dict[str, set[str]] = {}
    for name, presented in metadata.items():
        for call_name, call in calls(presented).items():
            refused = await rpc_error(call)
            assert refused.code() == grpc.StatusCode.UNAUTHENTICATED, (name, call_name)
            details.setdefault(name, set()).add(refused.details() or "")
    # The same words for a token that does not exist, was revoked or has expired.
    assert len(details["unknown"] | details["revoked"] | details["expired"]) == 1, details
    listed = await agency.ListCases(pb.ListCasesRequest(), metadata=agency_metadata(live))
    assert list(listed.cases) == []


async def _first_change(
    agency: pb_grpc.AgencyServiceStub, metadata: tuple[tuple[str, str], ...]
) -> pb.CaseChange:
    stream = agency.WatchCases(pb.WatchCasesRequest(from_beginning=True), metadata=metadata)
    try:
        change: Any = await stream.read()
    finally:
        stream.cancel()
    assert isinstance(change, pb.CaseChange)
    return change


# -- Client certificates (mutual TLS) ------------------------------------------------------------
#
# Agencies' client certificates: checks of a certificate that is missing, from another CA,
# unregistered, revoked or expired, and of a certificate and a token of two different agencies,
# belong here, on the package's deployment (conftest.py: ``tls``, ``mutual_tracking``).
