"""A typed Python client of the submission API, for Front offices' scripts and the command line.

Bodies are the API's own models (``contracts.submission_api``). Every refusal raises
:class:`ApiError`, parsed from the RFC 9457 problem; an unreachable API raises
:class:`ApiUnavailable`. Requests that are safe to repeat are retried on 429, 503 and lost
connections; submissions, amendments, withdrawals and decisions on extensions are safe to repeat
because each always carries an ``Idempotency-Key``.

Amending, withdrawing and deciding on an extension are *requests*: tracking decides them (only
tracking knows whether the agency has acknowledged or answered meanwhile). They return a
:class:`ChangeRequestOut` that is ``pending`` until then; :meth:`SubmissionClient.wait` follows
one until it is accepted or refused with the reason.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from contracts.lifecycle import RequestStatus
from contracts.problems import FieldViolation
from contracts.submission_api import (
    AgencyOut,
    AttachmentOut,
    ChangeRequestOut,
    ContentIn,
    CritiqueIn,
    CritiqueOut,
    CritiquePage,
    CritiqueStatus,
    ExtensionDecisionIn,
    ExtensionOut,
    HistoryOut,
    OrganisationOut,
    WithdrawalIn,
)

T = TypeVar("T")
CritiqueRef = uuid.UUID | str
Progress = Callable[[int, int], None]

CHUNK_BYTES = 64 * 1024
_RETRYABLE_STATUSES = frozenset({429, 503})


class ClientError(Exception):
    """Base of the client's errors."""


@dataclass(eq=False)
class ApiError(ClientError):
    """The API refused the request: the problem it answered with."""

    status: int
    title: str
    detail: str | None = None
    errors: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None
    type: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else "")


class ApiUnavailable(ClientError):
    """The API could not be reached, or did not answer in time."""


@dataclass(eq=False)
class StillPending(ClientError):
    """Tracking had not decided the request when :meth:`SubmissionClient.wait` gave up."""

    request: ChangeRequestOut

    def __str__(self) -> str:
        return f"the {self.request.kind} request {self.request.id} is still pending"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _error(response: httpx.Response) -> ApiError:
    retry_after = _retry_after(response.headers.get("retry-after"))
    fallback = response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body: Any = response.json()
    except ValueError:
        # A proxy's error page says nothing its status does not; a plain text body might.
        plain = response.headers.get("content-type", "").startswith("text/plain")
        text = response.text.strip()[:500] if plain else ""
        return ApiError(response.status_code, fallback, text or None, retry_after=retry_after)
    if not isinstance(body, dict):
        return ApiError(response.status_code, fallback, retry_after=retry_after)
    errors = [
        FieldViolation(field=str(e.get("field", "")), message=str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    detail = body.get("detail")
    return ApiError(
        status=response.status_code,
        title=str(body.get("title") or fallback),
        # FastAPI's own errors (outside the problem handlers) put the message in "detail".
        detail=None if detail is None else str(detail),
        errors=errors,
        retry_after=retry_after,
        type=body.get("type"),
    )


def _parse(adapter: TypeAdapter[T], response: httpx.Response) -> T:
    try:
        return adapter.validate_json(response.content)
    except ValidationError as invalid:
        raise ApiError(
            response.status_code,
            "The API answered with an unexpected body",
            f"{response.request.method} {response.request.url.path}: {invalid.error_count()}"
            " field(s) do not match this client's models: is this the submission API?",
        ) from None


_CRITIQUE = TypeAdapter(CritiqueOut)
_PAGE = TypeAdapter(CritiquePage)
_ORGANISATION = TypeAdapter(OrganisationOut)
_AGENCIES = TypeAdapter(list[AgencyOut])
_HISTORY = TypeAdapter(list[HistoryOut])
_ATTACHMENT = TypeAdapter(AttachmentOut)
_ATTACHMENTS = TypeAdapter(list[AttachmentOut])
_REQUEST = TypeAdapter(ChangeRequestOut)
_REQUESTS = TypeAdapter(list[ChangeRequestOut])
_EXTENSIONS = TypeAdapter(list[ExtensionOut])


class SubmissionClient:
    """``with SubmissionClient(url, token) as api: api.submit(critique)``.

    ``retries`` repeats safe requests after 429, 503 or a lost connection, waiting as the
    server's Retry-After says, or 0.5 s, 1 s, 2 s… without one. A wait longer than
    ``max_retry_wait`` is not made: the error is raised with its ``retry_after`` instead.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 3,
        max_retry_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            scheme = httpx.URL(base_url).scheme
        except httpx.InvalidURL:
            scheme = ""
        if scheme not in {"http", "https"}:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._retries = retries
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, *, retry: bool = False, **kwargs: Any
    ) -> httpx.Response:
        attempt = 0
        while True:
            wait = 0.5 * 2**attempt
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as lost:
                if not retry or attempt >= self._retries:
                    raise self._unavailable(lost, sent=method != "GET") from None
            else:
                if response.is_success:
                    return response
                error = _error(response)
                if not retry or response.status_code not in _RETRYABLE_STATUSES:
                    raise error
                if attempt >= self._retries or (error.retry_after or 0) > self._max_retry_wait:
                    raise error
                wait = error.retry_after if error.retry_after is not None else wait
            self._sleep(min(wait, self._max_retry_wait))
            attempt += 1

    def _unavailable(self, lost: httpx.TransportError, *, sent: bool) -> ApiUnavailable:
        reason = str(lost) or type(lost).__name__
        if isinstance(lost, httpx.ConnectError | httpx.ConnectTimeout):
            return ApiUnavailable(f"Cannot reach the submission API at {self.base_url}: {reason}")
        message = f"The submission API at {self.base_url} did not answer: {reason}"
        if sent:
            # The request may have been carried out before the connection was lost.
            message += ". The change may have been made: check before repeating it."
        return ApiUnavailable(message)

    def me(self) -> OrganisationOut:
        """The organisation the token belongs to."""
        return _parse(_ORGANISATION, self._request("GET", "/v1/me", retry=True))

    def agencies(self) -> builtins.list[AgencyOut]:
        """The agencies critiques can be addressed to."""
        return _parse(_AGENCIES, self._request("GET", "/v1/agencies", retry=True))

    def submit(self, critique: CritiqueIn, *, idempotency_key: str | None = None) -> CritiqueOut:
        """Submit a critique. Retries reuse one Idempotency-Key: the API never creates two."""
        response = self._request(
            "POST",
            "/v1/critiques",
            retry=True,
            content=critique.model_dump_json(),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
            },
        )
        return _parse(_CRITIQUE, response)

    def list(self, status: CritiqueStatus | None = None, limit: int = 50) -> Iterator[CritiqueOut]:
        """The organisation's critiques, newest first; fetches ``limit`` per page, as needed."""
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status.value
        while True:
            page = _parse(_PAGE, self._request("GET", "/v1/critiques", retry=True, params=params))
            yield from page.items
            if not page.next_cursor:
                return
            params["cursor"] = page.next_cursor

    def get(self, critique_id: CritiqueRef) -> CritiqueOut:
        return _parse(_CRITIQUE, self._request("GET", f"/v1/critiques/{critique_id}", retry=True))

    def history(self, critique_id: CritiqueRef) -> builtins.list[HistoryOut]:
        path = f"/v1/critiques/{critique_id}/history"
        return _parse(_HISTORY, self._request("GET", path, retry=True))

    def _ask(
        self, method: str, path: str, body: str, idempotency_key: str | None, **headers: str
    ) -> ChangeRequestOut:
        """A request tracking decides, retried safely under one Idempotency-Key."""
        response = self._request(
            method,
            path,
            retry=True,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
                **headers,
            },
        )
        return _parse(_REQUEST, response)

    def amend(
        self,
        critique_id: CritiqueRef,
        content: ContentIn,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> ChangeRequestOut:
        """Ask to replace the content (of ``version``: refused, 412, if someone amended it
        since). Tracking decides: the request is pending until then (see :meth:`wait`)."""
        # Only ContentIn's fields: a CritiqueIn's agency and kind cannot be amended.
        body = ContentIn.model_validate(content.model_dump(include=set(ContentIn.model_fields)))
        match = {} if version is None else {"If-Match": f'"{version}"'}
        return self._ask(
            "PUT", f"/v1/critiques/{critique_id}", body.model_dump_json(), idempotency_key, **match
        )

    def withdraw(
        self, critique_id: CritiqueRef, reason: str = "", *, idempotency_key: str | None = None
    ) -> ChangeRequestOut:
        """Ask to withdraw the critique; tracking decides (see :meth:`wait`)."""
        return self._ask(
            "POST",
            f"/v1/critiques/{critique_id}/withdrawal",
            WithdrawalIn(reason=reason).model_dump_json(),
            idempotency_key,
        )

    def extensions(self, critique_id: CritiqueRef) -> builtins.list[ExtensionOut]:
        """The agency's requests for more time, and how they were decided."""
        path = f"/v1/critiques/{critique_id}/extensions"
        return _parse(_EXTENSIONS, self._request("GET", path, retry=True))

    def decide_extension(
        self,
        critique_id: CritiqueRef,
        extension_id: CritiqueRef,
        *,
        grant: bool,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> ChangeRequestOut:
        """Grant or refuse the agency's request for more time; tracking applies it."""
        return self._ask(
            "POST",
            f"/v1/critiques/{critique_id}/extensions/{extension_id}/decision",
            ExtensionDecisionIn(grant=grant, note=note).model_dump_json(),
            idempotency_key,
        )

    def requests(self, critique_id: CritiqueRef) -> builtins.list[ChangeRequestOut]:
        """Every amendment, withdrawal and decision asked for, with its outcome."""
        path = f"/v1/critiques/{critique_id}/requests"
        return _parse(_REQUESTS, self._request("GET", path, retry=True))

    def request(self, critique_id: CritiqueRef, request_id: CritiqueRef) -> ChangeRequestOut:
        path = f"/v1/critiques/{critique_id}/requests/{request_id}"
        return _parse(_REQUEST, self._request("GET", path, retry=True))

    def wait(
        self, request: ChangeRequestOut, *, timeout: float = 30.0, interval: float = 0.5
    ) -> ChangeRequestOut:
        """``request`` once tracking has decided it (accepted, or refused with the reason);
        :class:`StillPending` after ``timeout`` seconds (tracking may be away: the request
        stays pending and is decided when it is back)."""
        waited = 0.0
        while request.status is RequestStatus.PENDING:
            if waited >= timeout:
                raise StillPending(request)
            self._sleep(interval)
            waited += interval
            request = self.request(request.critique_id, request.id)
        return request

    def attach(
        self, critique_id: CritiqueRef, path: Path, *, on_progress: Progress | None = None
    ) -> AttachmentOut:
        """Upload a PDF, streamed from disk; ``on_progress(sent, total)`` follows each chunk.

        Not retried: the API has no idempotency key for attachments, so a repeat adds a copy.
        """
        total = path.stat().st_size

        def chunks() -> Iterator[bytes]:
            sent = 0
            if on_progress:
                on_progress(0, total)
            with path.open("rb") as file:
                while chunk := file.read(CHUNK_BYTES):
                    yield chunk
                    sent += len(chunk)
                    if on_progress:
                        on_progress(sent, total)

        response = self._request(
            "POST",
            f"/v1/critiques/{critique_id}/attachments",
            params={"filename": path.name},
            content=chunks(),
            # A declared length lets the API refuse a file over its limit before it is sent.
            headers={"Content-Type": "application/pdf", "Content-Length": str(total)},
        )
        return _parse(_ATTACHMENT, response)

    def attachments(self, critique_id: CritiqueRef) -> builtins.list[AttachmentOut]:
        path = f"/v1/critiques/{critique_id}/attachments"
        return _parse(_ATTACHMENTS, self._request("GET", path, retry=True))

    def download(self, critique_id: CritiqueRef, attachment_id: CritiqueRef) -> bytes:
        path = f"/v1/critiques/{critique_id}/attachments/{attachment_id}"
        return self._request("GET", path, retry=True, headers={"Accept": "application/pdf"}).content
