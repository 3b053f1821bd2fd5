"""API9:2023 Improper Inventory Management.

What the services answer is exactly what is documented: every route of the HTTP apps is in
their OpenAPI document (``contracts/openapi/``) or in the short list below of what is served on
purpose outside it, every documented operation is served, and anything else (old or future
versions, admin and debug paths, trailing-slash variants) is a 404 problem. On gRPC, reflection
lists the agency API of ``protos/`` with the standard health and reflection services and nothing
more, and tracking's metrics listener serves ``/metrics`` alone.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from contracts.grpc.supervision.agency.v1 import agency_pb2
from services.disclosure import main as disclosure
from services.platform import metrics
from services.submission import main as submission
from tests.e2e.owasp.conftest import AgencyChannel

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = ROOT / "contracts" / "openapi"
PROBLEMS = "https://supervision.mttq.vn/problems/"
UNUSED_DATABASE = "postgresql://unused.invalid/unused"

API_DOCUMENTATION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""FastAPI's own: the OpenAPI document and the two readers of it (README: `/docs`,
`/openapi.json`; Swagger UI's OAuth2 redirect page comes with `/docs`)."""
SERVED_OUTSIDE_THE_DOCUMENTS = {
    "submission": API_DOCUMENTATION | {"/metrics"},
    "disclosure": API_DOCUMENTATION
    | {"/metrics"}
    # The pages for people (README, "For the public"), with their stylesheet.
    | {
        "/",
        "/search",
        "/records/{critique_id}",
        "/agencies/{agency_id}",
        "/drafts",
        "/drafts/{draft_id}",
        "/drafts/{draft_id}/versions/{version}/report",
        "/statistics",
        "/static/site.css",
    },
}
"""Served on purpose and not in the OpenAPI documents: each entry says where it is documented.
``/metrics`` is the Prometheus scrape target (README, "Metrics")."""

APPS = {
    "submission": lambda: submission.create_app(
        submission.SubmissionSettings(submission_database_url=UNUSED_DATABASE)
    ),
    "disclosure": lambda: disclosure.create_app(
        disclosure.DisclosureSettings(disclosure_database_url=UNUSED_DATABASE)
    ),
}


def document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCUMENTS / f"{service}.json").read_text("utf-8"))
    return loaded


def documented_operations(service: str) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document(service)["paths"].items()
        for method in item
    }


def served_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app routes, written as OpenAPI writes it (``{path}``
    for Starlette's ``{path:path}``); HEAD is GET's shadow where Starlette adds it (FastAPI's
    documentation pages)."""
    served = set()
    for route in iter_route_contexts(app.routes):
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        assert route.path, route
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        served |= {(method, template) for method in methods}
    return served


def running_app(service: str) -> FastAPI:
    """The app as ``supervision serve`` runs it: ``create_app``, then the metrics endpoint that
    ``services.platform.serve.serve_http`` adds."""
    app = APPS[service]()
    metrics.metrics_endpoint(app)
    return app


@pytest.mark.parametrize("service", ["submission", "disclosure"])
def test_every_route_the_app_serves_is_documented_and_every_documented_one_is_served(
    service: str,
) -> None:
    served = served_operations(running_app(service))
    documented = documented_operations(service)
    assert documented <= served, f"documented, not served: {sorted(documented - served)}"
    undocumented = {path for _, path in served - documented}
    assert undocumented == SERVED_OUTSIDE_THE_DOCUMENTS[service], (
        f"served outside the OpenAPI document: {sorted(undocumented)}; document them"
        " (make openapi) or say here why they are served"
    )


def example(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return "0"
    return "x"


def is_no_such_route(reply: httpx.Response) -> bool:
    """The router's own 404 / 405, not a route's "no such record"."""
    if reply.status_code not in (404, 405):
        return False
    return bool(reply.json()["type"] in (PROBLEMS + "http-404", PROBLEMS + "http-405"))


@pytest.mark.parametrize("service", ["submission", "disclosure"])
async def test_the_running_service_serves_every_documented_operation_and_its_document(
    service: str, submission_client: httpx.AsyncClient, disclosure_client: httpx.AsyncClient
) -> None:
    client = {"submission": submission_client, "disclosure": disclosure_client}[service]
    served = await client.get("/openapi.json")
    assert served.status_code == 200
    # The code's own document (which a unit test holds the committed one to), not another's.
    assert served.json() == running_app(service).openapi()
    for path, item in document(service)["paths"].items():
        for method, operation in item.items():
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", example(parameter))
            body: dict[str, Any] | None = {} if method in ("post", "put") else None
            reply = await client.request(method.upper(), url, json=body)
            assert not is_no_such_route(reply), (method, path, reply.status_code, reply.text)
            assert reply.status_code < 500, (method, path, reply.status_code, reply.text)
    for path in sorted(SERVED_OUTSIDE_THE_DOCUMENTS[service]):
        if "{" not in path and path != "/docs/oauth2-redirect":
            reply = await client.get(path)
            assert reply.status_code == 200, (path, reply.status_code)


UNDOCUMENTED_PATHS = [
    "/admin",
    "/admin/",
    "/debug",
    "/debug/vars",
    "/.env",
    "/.git/config",
    "/server-status",
    "/actuator/health",
    "/graphql",
    "/swagger.json",
    "/openapi.yaml",
    "/api/v1/records",
    "/v0/critiques",
    "/v0/records",
    "/v2/critiques",
    "/v2/records",
    "/v1",
    "/v1/",
    "/v1/critiques/",
    "/v1/records/",
    "/v1/agencies/",
    "/v1/log/key/",
    "/v1/admin/organisations",
    "/v1/organisations",
    "/v1/internal/outbox",
    "/healthz/",
    "/metrics/",
    "/docs/",
    "/search/",
    "/V1/records",
    "//v1/records",
]


@pytest.mark.parametrize("service", ["submission", "disclosure"])
async def test_paths_and_methods_nobody_documented_are_404_and_405_problems(
    service: str, submission_client: httpx.AsyncClient, disclosure_client: httpx.AsyncClient
) -> None:
    client = {"submission": submission_client, "disclosure": disclosure_client}[service]
    for path in UNDOCUMENTED_PATHS:
        for method in ("GET", "POST"):
            reply = await client.request(method, path)
            assert reply.status_code == 404, (method, path, reply.status_code, reply.headers)
            assert reply.headers["content-type"].startswith("application/problem+json"), path
            assert reply.json()["type"] == PROBLEMS + "http-404", (method, path)
    for path in document(service)["paths"]:
        url = re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)
        for method in ("DELETE", "PATCH", "TRACE"):
            reply = await client.request(method, url)
            assert reply.status_code == 405, (method, path, reply.status_code)
            assert reply.json()["type"] == PROBLEMS + "http-405", (method, path)


async def test_grpc_reflection_lists_the_documented_services_and_nothing_else(
    agency_channel: AgencyChannel,
) -> None:
    documented = {
        *(s.full_name for s in agency_pb2.DESCRIPTOR.services_by_name.values()),
        health.SERVICE_NAME,
        reflection.SERVICE_NAME,
    }
    assert documented == {
        "supervision.agency.v1.AgencyService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    async with agency_channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        replies = [reply async for reply in call]
        listed = {s.name for s in replies[0].list_services_response.service}
        assert listed == documented
        # What is not listed is not served either: no channelz, no admin, no other version.
        for method in (
            "/grpc.channelz.v1.Channelz/GetTopChannels",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.admin.v1.Admin/GetStatus",
            "/supervision.agency.v2.AgencyService/ListCases",
            "/supervision.agency.v1.AdminService/ListAgencies",
            "/supervision.tracking.v1.Internal/Outbox",
        ):
            call_method = channel.unary_unary(
                method, request_serializer=None, response_deserializer=None
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call_method(b"", timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, method


async def test_trackings_metrics_listener_serves_metrics_and_nothing_else(
    tracking_metrics_client: httpx.AsyncClient,
) -> None:
    scraped = await tracking_metrics_client.get("/metrics")
    assert scraped.status_code == 200
    assert "rpc_server_call_duration_seconds" in scraped.text or "# HELP" in scraped.text
    for path in ("/", "/admin", "/metrics/", "/metrics/extra", "/debug/vars", "/.env", "/x"):
        reply = await tracking_metrics_client.get(path)
        assert reply.status_code == 404, (path, reply.status_code)
        assert "# HELP" not in reply.text, path
    posted = await tracking_metrics_client.post("/metrics", content=b"x")
    assert posted.status_code == 405
