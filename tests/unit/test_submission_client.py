"""The submission API's Python client against a scripted transport: errors, retries, pages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.events import CritiqueKind
from contracts.problems import FieldViolation
from contracts.submission_api import ContentIn, CritiqueIn, CritiqueStatus, PointIn
from contracts.vocabulary import CRITIQUE_STATUS
from services.submission.client import ApiError, ApiUnavailable, StillPending, SubmissionClient

Handler = Callable[[httpx.Request], httpx.Response]
NOW = datetime(2025, 9, 2, 8, 30, tzinfo=UTC)
CRITIQUE = CritiqueIn(
    agency_id="ubnd-xa-hoa-binh",
    kind=CritiqueKind.SUPERVISION_RECOMMENDATION,
    title="Kiến nghị về việc công khai quy hoạch",
    points=[PointIn(number=1, text="Niêm yết công khai tại trụ sở xã.", citation="Điều 48")],
)


def critique_json(title: str = CRITIQUE.title, **changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "organisation_id": "mttq-xa-hoa-binh",
        "agency_id": CRITIQUE.agency_id,
        "kind": CRITIQUE.kind.value,
        "version": 1,
        "status": "submitted",
        "status_label": str(CRITIQUE_STATUS[CritiqueStatus.SUBMITTED]),
        "changeable": True,
        "title": title,
        "points": [p.model_dump() for p in CRITIQUE.points],
        "draft": None,
        "legal_basis": None,
        "submitted_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
        "due_date": None,
        "acknowledged_at": None,
        "answered_at": None,
        "answered_late": None,
        "withdrawn_at": None,
        "answers": [],
        **changes,
    }


class Script:
    """Answers requests from a list of handlers, in order, and keeps the requests it saw."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handlers.pop(0)(request)

    def client(self, **options: Any) -> SubmissionClient:
        return SubmissionClient(
            "http://submission.test",
            "sv_org_secret",
            transport=httpx.MockTransport(self),
            sleep=self.waits.append,
            **options,
        )


def answer(status: int, body: Any = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        media = "application/problem+json" if status >= 400 else "application/json"
        return httpx.Response(status, json=body, headers={"Content-Type": media, **headers})

    return handler


def lost(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


def test_a_problem_becomes_an_api_error_with_its_field_violations() -> None:
    problem = {
        "type": "https://supervision.mttq.vn/problems/invalid-critique",
        "title": "The critique breaks a rule",
        "status": 422,
        "detail": "points[1].number: this number is used twice",
        "errors": [{"field": "points[1].number", "message": "this number is used twice"}],
    }
    script = Script(answer(422, problem))
    with script.client() as api, pytest.raises(ApiError) as refused:
        api.submit(CRITIQUE)

    assert refused.value.status == 422
    assert refused.value.title == "The critique breaks a rule"
    assert refused.value.detail == problem["detail"]
    assert refused.value.errors == [
        FieldViolation(field="points[1].number", message="this number is used twice")
    ]
    assert refused.value.type == problem["type"]
    assert len(script.requests) == 1  # a refusal is not retried


def test_a_body_that_is_not_a_problem_still_gives_a_readable_error() -> None:
    page = {"Content-Type": "text/html"}
    script = Script(
        lambda _: httpx.Response(502, text="<html><h1>Bad Gateway</h1></html>", headers=page),
        lambda _: httpx.Response(500, text="upstream down"),
    )
    with script.client(retries=0) as api:
        with pytest.raises(ApiError) as proxied:
            api.get(uuid.uuid4())
        with pytest.raises(ApiError) as plain:
            api.get(uuid.uuid4())
    assert (proxied.value.status, proxied.value.title, proxied.value.detail) == (
        502,
        "Bad Gateway",
        None,
    )
    assert (plain.value.title, plain.value.detail) == ("Internal Server Error", "upstream down")


def test_429_waits_as_retry_after_says_then_succeeds() -> None:
    too_many = {"title": "Too many requests from this organisation", "status": 429}
    found = critique_json()
    script = Script(answer(429, too_many, **{"Retry-After": "2"}), answer(200, found))
    with script.client() as api:
        critique = api.get(found["id"])
    assert str(critique.id) == found["id"]
    assert script.waits == [2.0]


def test_a_wait_longer_than_the_cap_is_not_made() -> None:
    script = Script(answer(429, {"title": "Too many", "status": 429}, **{"Retry-After": "120"}))
    with script.client(max_retry_wait=5) as api, pytest.raises(ApiError) as refused:
        api.me()
    assert refused.value.retry_after == 120
    assert script.waits == []


def test_a_retried_submission_reuses_its_idempotency_key() -> None:
    unavailable = {"title": "The service is briefly unavailable", "status": 503}
    script = Script(
        lost, answer(503, unavailable, **{"Retry-After": "1"}), answer(201, critique_json())
    )
    with script.client() as api:
        created = api.submit(CRITIQUE)

    assert created.title == CRITIQUE.title
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert uuid.UUID(keys[0])
    assert script.waits == [0.5, 1.0]
    assert json.loads(script.requests[0].content)["title"] == CRITIQUE.title


def test_each_submission_gets_its_own_key_unless_one_is_given() -> None:
    script = Script(*(answer(201, critique_json()) for _ in range(3)))
    with script.client() as api:
        api.submit(CRITIQUE)
        api.submit(CRITIQUE)
        api.submit(CRITIQUE, idempotency_key="office-2025-041")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys[0] != keys[1]
    assert keys[2] == "office-2025-041"


def request_json(status: str = "pending", **changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "critique_id": str(uuid.uuid4()),
        "kind": "amendment",
        "status": status,
        "status_label": status,
        "requested_at": NOW.isoformat(),
        "decided_at": None,
        "expected_version": 3,
        "version": None,
        "content": None,
        "reason": "",
        "extension_id": None,
        "grant": None,
        "note": "",
        "refusal": None,
        **changes,
    }


def test_an_amendment_is_retried_under_one_idempotency_key_and_answered_as_pending() -> None:
    script = Script(lost, answer(202, request_json()))
    content = ContentIn(title="Sửa đổi", points=CRITIQUE.points)
    with script.client() as api:
        asked = api.amend(uuid.uuid4(), content, version=3)
    assert asked.status == "pending"
    first, retry = script.requests
    assert first.headers["If-Match"] == retry.headers["If-Match"] == '"3"'
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]


def test_waiting_follows_a_request_until_tracking_refuses_it_with_the_reason() -> None:
    pending = request_json()
    refused = {
        **pending,
        "status": "refused",
        "refusal": {"reason": "acknowledged", "detail": "The agency has acknowledged receipt"},
    }
    script = Script(answer(200, pending), answer(200, refused))
    with script.client() as api:
        decided = api.wait(api.request(pending["critique_id"], pending["id"]), interval=0.25)
    assert decided.refusal is not None
    assert decided.refusal.reason == "acknowledged"
    assert script.waits == [0.25]


def test_waiting_gives_up_on_a_request_still_pending() -> None:
    pending = request_json()
    script = Script(answer(200, pending), answer(200, pending))
    with script.client() as api, pytest.raises(StillPending):
        api.wait(api.request(pending["critique_id"], pending["id"]), timeout=0.5, interval=0.5)


def test_an_unreachable_api_raises_api_unavailable_after_the_retries() -> None:
    script = Script(lost, lost, lost)
    with script.client(retries=2) as api, pytest.raises(ApiUnavailable, match=r"submission\.test"):
        list(api.list())
    assert script.waits == [0.5, 1.0]


def test_listing_follows_next_cursor_until_the_last_page() -> None:
    titles = ["Kiến nghị 1", "Kiến nghị 2", "Kiến nghị 3"]
    script = Script(
        answer(200, {"items": [critique_json(t) for t in titles[:2]], "next_cursor": "c2"}),
        answer(200, {"items": [critique_json(titles[2])], "next_cursor": None}),
    )
    with script.client() as api:
        listed = [c.title for c in api.list(status=CritiqueStatus.SUBMITTED, limit=2)]

    assert listed == titles
    first, second = (r.url.params for r in script.requests)
    assert dict(first) == {"limit": "2", "status": "submitted"}
    assert dict(second) == {"limit": "2", "status": "submitted", "cursor": "c2"}


def test_an_attachment_is_streamed_with_its_progress(tmp_path: Path) -> None:
    pdf = tmp_path / "biên bản.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"x" * 150_000)
    critique_id = uuid.uuid4()
    stored = {
        "id": str(uuid.uuid4()),
        "critique_id": str(critique_id),
        "filename": "biên bản.pdf",
        "media_type": "application/pdf",
        "size": pdf.stat().st_size,
        "sha256": "0" * 64,
        "added_at": NOW.isoformat(),
    }
    script = Script(answer(201, stored))
    progress: list[tuple[int, int]] = []
    with script.client() as api:
        attachment = api.attach(critique_id, pdf, on_progress=lambda *p: progress.append(p))

    assert attachment.filename == "biên bản.pdf"
    request = script.requests[0]
    assert request.content == pdf.read_bytes()
    assert request.headers["Content-Type"] == "application/pdf"
    assert request.url.params["filename"] == "biên bản.pdf"
    total = pdf.stat().st_size
    assert progress[0] == (0, total)
    assert progress[-1] == (total, total)
    assert len(progress) > 2
