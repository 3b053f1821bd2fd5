"""Steps the package's tests take, always with the clients of its fixtures (conftest.py): a
critique submitted, its case found, a refusal read as the typed error it must be, a response
held to the OpenAPI schema it is documented with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc
from services.platform.certificates import Issued
from services.platform.http import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from tests.support.directory import Directory
from tests.support.grpcurl import grpcurl
from tests.support.journeys import critique_body, eventually
from tests.support.services import Deployment, Tls

PDF = b"%PDF-1.4\n% bien ban\n%%EOF\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def agency_metadata(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def submit(http: httpx.AsyncClient, directory: Directory, **changes: Any) -> dict[str, Any]:
    """A critique of ``directory``'s organisation to its agency, as the API returned it."""
    created = await http.post(
        "/v1/critiques",
        json=critique_body(directory, **changes),
        headers=bearer(directory.organisation_token),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def attach(http: httpx.AsyncClient, directory: Directory, critique_id: str) -> dict[str, Any]:
    attached = await http.post(
        f"/v1/critiques/{critique_id}/attachments",
        params={"filename": "biên bản.pdf"},
        content=PDF,
        headers={**bearer(directory.organisation_token), "Content-Type": "application/pdf"},
    )
    assert attached.status_code == 201, attached.text
    body: dict[str, Any] = attached.json()
    return body


async def case_of(
    agency: pb_grpc.AgencyServiceStub, directory: Directory, critique_id: str
) -> pb.Case:
    """The case tracking opened for the critique, once it has."""

    async def opened() -> pb.Case | None:
        listed = await agency.ListCases(
            pb.ListCasesRequest(page_size=100), metadata=agency_metadata(directory.agency_token)
        )
        return next((c for c in listed.cases if c.critique_id == critique_id), None)

    return await eventually(opened, timeout=30)


async def answer_all(
    agency: pb_grpc.AgencyServiceStub, directory: Directory, case: pb.Case
) -> pb.Case:
    """The agency accepts every point: the case is answered, and disclosed."""
    reply = await agency.SubmitAnswer(
        pb.SubmitAnswerRequest(
            case_id=case.case_id,
            request_id=case.case_id,
            version=case.version,
            answers=[
                pb.PointAnswer(point_number=p.number, disposition=pb.DISPOSITION_ACCEPTED)
                for p in case.points
            ],
        ),
        metadata=agency_metadata(directory.agency_token),
    )
    answered: pb.Case = reply.case
    return answered


def assert_problem(reply: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``reply`` is the RFC 9457 problem ``slug`` with ``status``; returns its body."""
    assert reply.status_code == status, (reply.request.method, reply.request.url, reply.text)
    assert reply.headers["content-type"] == PROBLEM_MEDIA_TYPE, reply.headers
    problem: dict[str, Any] = reply.json()
    assert problem["type"] == PROBLEM_TYPE_BASE + slug, problem
    assert problem["status"] == status
    return problem


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    """The error a gRPC call ends with (the test fails if it succeeds)."""
    try:
        reply = await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError(f"the call succeeded: {reply}")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def undocumented(
    document: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$"
) -> list[str]:
    """Where ``value`` has a property its OpenAPI ``schema`` does not name (objects whose schema
    allows any property, such as a history entry's ``detail``, excepted)."""
    schema = _resolve(document, schema)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [_resolve(document, option) for option in schema[combined]]
            fitting = [o for o in options if _fits(o, value)] or options
            found = [undocumented(document, option, value, where) for option in fitting]
            return min(found, key=len)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = [f"{where}.{key}" for key in value if key not in properties]
        if extra and schema.get("additionalProperties") not in (None, False):
            extra = []
        nested = [
            problem
            for key, item in value.items()
            if key in properties
            for problem in undocumented(document, properties[key], item, f"{where}.{key}")
        ]
        return extra + nested
    if isinstance(value, list) and "items" in schema:
        return [
            problem
            for index, item in enumerate(value)
            for problem in undocumented(document, schema["items"], item, f"{where}[{index}]")
        ]
    return []


def _fits(schema: dict[str, Any], value: Any) -> bool:
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return kind is None or isinstance(value, kinds.get(kind, object))


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    """The JSON schema the document gives the ``status`` response of ``method path``."""
    response = document["paths"][path][method]["responses"][str(status)]
    content = response["content"]
    media = "application/json" if "application/json" in content else next(iter(content))
    return content[media]["schema"]


# -- agencies' client certificates (mutual TLS) --------------------------------------------------

NO_CONNECTION = "Failed to dial target host"
"""What grpcurl says (exit code 1) when the TLS handshake is refused, before any call."""
GRPCURL_FAILED = 64
"""grpcurl exits with this plus the status code of a failed call."""


def admin_cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """``supervision admin …`` against the deployment's databases, as an operator runs it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SUPERVISION_")},
        "SUPERVISION_TRACKING_DATABASE_URL": deployment.database_urls["tracking"],
        "SUPERVISION_SUBMISSION_DATABASE_URL": deployment.database_urls["submission"],
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def issue_certificate(deployment: Deployment, tls: Tls, agency_id: str, out: Path) -> Issued:
    """A client certificate for ``agency_id`` from the deployment's CA, registered to it, as
    ``supervision admin agency certificate`` issues one."""
    run = admin_cli(
        deployment,
        "agency",
        "certificate",
        agency_id,
        "--label",
        "integration",
        "--ca-dir",
        str(tls.ca.folder),
        "--out-dir",
        str(out),
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert "grpcurl -cacert" in run.stdout
    return Issued(out / f"{agency_id}.pem", out / f"{agency_id}.key")


def grpcurl_tls(
    address: str,
    tls: Tls,
    method: str,
    *,
    cert: Issued | None,
    token: str | None = None,
    data: dict[str, Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    """grpcurl over TLS (``-cacert``), presenting ``cert`` if given."""
    return grpcurl(
        address,
        method,
        cacert=tls.ca_file,
        cert=(cert.certificate_file, cert.key_file) if cert else None,
        token=token,
        data=data if data is not None else {},
    )
