"""API2:2023 Broken Authentication — only a live credential gets in, and a refusal tells nothing.

Bearer tokens: a request with no token, a malformed one, an unknown one, a revoked one or an
expired one (``supervision admin … token --expires-in 90d``) is refused with the typed error of
its API: on the organisations' HTTP API a 401 problem+json with ``WWW-Authenticate: Bearer``
(never stored by a cache), on the agencies' gRPC API UNAUTHENTICATED. The refusal is the same
whichever of these it was, so it tells no one whether a token exists or once did. Tokens carry
256 random bits (services.platform.tokens), so guessing one is not a threat a rate limit on
refusals would add to.

Client certificates (mutual TLS), at the end of this module: where tracking requires them, a
call with no certificate, one from another CA or an expired one gets no connection; one
registered to no agency, or revoked (taking effect on the next call, no restart), is
UNAUTHENTICATED; and a certificate with a token of another agency is PERMISSION_DENIED."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services import admin
from services.platform import tokens
from services.platform.certificates import DevelopmentCA
from services.submission import directory as submission_directory
from services.tracking import store as tracking_store
from tests.e2e.owasp.calls import (
    GRPCURL_FAILED,
    NO_CONNECTION,
    admin_cli,
    agency_metadata,
    assert_problem,
    bearer,
    grpcurl_tls,
    issue_certificate,
    rpc_error,
)
from tests.support.directory import Directory, register
from tests.support.journeys import case_of
from tests.support.journeys import submit as submit_critique
from tests.support.services import Deployment, Tls

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
# On the tracking instance that requires client certificates (conftest.py: ``mutual_tracking``),
# through grpcurl as an agency's integration engineer calls, and the generated stubs on a
# long-lived channel for revocation.

LIST_CASES = "supervision.agency.v1.AgencyService/ListCases"


@pytest.fixture(scope="module")
async def agencies(deployment: Deployment) -> tuple[Directory, Directory]:
    return await register(deployment), await register(deployment)


async def test_an_agency_calls_with_its_certificate_alone_or_with_its_own_token(
    deployment: Deployment,
    tls: Tls,
    mutual_tracking: str,
    agencies: tuple[Directory, Directory],
    tmp_path: Path,
) -> None:
    mine, other = agencies
    critique_id = await submit_critique(deployment, mine)
    await case_of(deployment, mine, critique_id)
    certificate = issue_certificate(deployment, tls, mine.agency_id, tmp_path)
    alone = await asyncio.to_thread(grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=certificate)
    assert alone.returncode == 0, alone.stderr
    assert critique_id in alone.stdout
    both = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=certificate, token=mine.agency_token
    )
    assert both.returncode == 0, both.stderr
    # A certificate of one agency never acts for another, whatever token comes with it.
    crossed = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=certificate, token=other.agency_token
    )
    assert crossed.returncode == GRPCURL_FAILED + grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "different agencies" in crossed.stderr


async def test_no_certificate_an_untrusted_one_or_an_expired_one_gets_no_connection(
    deployment: Deployment,
    tls: Tls,
    mutual_tracking: str,
    agencies: tuple[Directory, Directory],
    tmp_path: Path,
) -> None:
    mine, _ = agencies
    # A live token alone is not enough where certificates are required.
    bare = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=None, token=mine.agency_token
    )
    assert bare.returncode == 1, bare.stderr
    assert NO_CONNECTION in bare.stderr, bare.stderr
    stranger = DevelopmentCA(tmp_path / "stranger").issue_agency(tmp_path, mine.agency_id)
    untrusted = await asyncio.to_thread(
        grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=stranger, token=mine.agency_token
    )
    assert untrusted.returncode == 1, untrusted.stderr
    assert NO_CONNECTION in untrusted.stderr, untrusted.stderr
    expired = tls.ca.issue_agency(
        tmp_path / "expired",
        mine.agency_id,
        valid_from=datetime.now(UTC) - timedelta(days=30),
        valid_for=timedelta(days=1),
    )
    registered = admin_cli(
        deployment,
        "agency",
        "register-certificate",
        mine.agency_id,
        str(expired.certificate_file),
        "--label",
        "expired",
    )
    assert registered.returncode == 0, registered.stderr + registered.stdout
    late = await asyncio.to_thread(grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=expired)
    assert late.returncode == 1, late.stderr
    assert NO_CONNECTION in late.stderr, late.stderr


async def test_a_certificate_registered_to_no_agency_is_unauthenticated(
    tls: Tls, mutual_tracking: str
) -> None:
    """The readiness probe's certificate: issued by the CA, bound to no agency."""
    run = await asyncio.to_thread(grpcurl_tls, mutual_tracking, tls, LIST_CASES, cert=tls.probe)
    assert run.returncode == GRPCURL_FAILED + grpc.StatusCode.UNAUTHENTICATED.value[0], run.stderr
    assert "not registered to an agency" in run.stderr


async def test_a_revoked_certificate_is_refused_on_the_next_call_without_a_restart(
    deployment: Deployment,
    tls: Tls,
    mutual_tracking: str,
    agencies: tuple[Directory, Directory],
    tmp_path: Path,
) -> None:
    mine, _ = agencies
    certificate = issue_certificate(deployment, tls, mine.agency_id, tmp_path / "revoked")
    fingerprint = certificate.facts().fingerprint_hex
    assert fingerprint in admin_cli(deployment, "agency", "certificates", mine.agency_id).stdout
    async with deployment.channel(mutual_tracking, certificate) as channel:
        agency = pb_grpc.AgencyServiceStub(channel)
        await agency.ListCases(pb.ListCasesRequest())
        revoked = admin_cli(deployment, "agency", "revoke-certificate", fingerprint)
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agency.ListCases(pb.ListCasesRequest())  # on the same connection
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    again = admin_cli(deployment, "agency", "revoke-certificate", fingerprint)
    assert again.returncode == 2
