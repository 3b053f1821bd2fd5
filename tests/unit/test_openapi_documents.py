from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "contracts" / "openapi"
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PUBLIC = {"/v1/agencies", "/v1/agencies/{agency_id}", "/healthz", "/readyz"}


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMMITTED / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]


def test_the_committed_openapi_documents_match_the_services(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "infra/scripts/gen_openapi.py"), str(tmp_path)], check=True
    )
    generated = sorted(p.name for p in tmp_path.glob("*.json"))
    assert generated == ["disclosure.json", "submission.json"]
    assert generated == sorted(p.name for p in COMMITTED.glob("*.json")), "run `make openapi`"
    stale = [
        name
        for name in generated
        if (COMMITTED / name).read_bytes() != (tmp_path / name).read_bytes()
    ]
    assert not stale, f"stale OpenAPI documents {stale}: run `make openapi`"


def test_a_retried_submission_may_carry_an_idempotency_key() -> None:
    submit = document("submission")["paths"]["/v1/critiques"]["post"]
    headers = {p["name"].lower(): p for p in submit["parameters"] if p["in"] == "header"}
    key = headers["idempotency-key"]
    assert not key["required"]
    assert {"type": "string", "maxLength": 255} in key["schema"]["anyOf"]


def test_front_clients_authenticate_with_their_organisations_bearer_token() -> None:
    doc = document("submission")
    ((name, scheme),) = doc["components"]["securitySchemes"].items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in operations(doc):
        if path in PUBLIC:
            assert "security" not in operation, f"{method} {path}"
            continue
        assert operation["security"] == [{name: []}], f"{method} {path}"
        refused = operation["responses"]["401"]
        assert refused["content"] == PROBLEM, f"{method} {path}"
        assert "WWW-Authenticate" in refused["headers"], f"{method} {path}"
        limited = operation["responses"]["429"]
        assert limited["content"] == PROBLEM, f"{method} {path}"
        assert limited["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_submitting_declares_its_refusals_as_problems() -> None:
    responses = document("submission")["paths"]["/v1/critiques"]["post"]["responses"]
    for status in ("400", "401", "413", "422", "429"):
        assert responses[status]["content"] == PROBLEM, status


@pytest.mark.parametrize("name", ["submission", "disclosure"])
def test_every_error_is_documented_as_a_problem(name: str) -> None:
    """As the services send them (RFC 9457), not as FastAPI's default application/json."""
    doc = document(name)
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert response["content"] == PROBLEM, f"{method} {path} {status}"
