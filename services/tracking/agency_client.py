"""A typed async client of the agency API (tracking's gRPC ``AgencyService``), written to be
copied into an agency's own integration: it needs only grpcio, grpcio-status and the stubs.

    async with AgencyClient("127.0.0.1:50051", token) as api:
        async for change in api.watch(from_beginning=True):
            ...

Every refusal raises :class:`AgencyApiError` (status code, message, and the field violations of
a google.rpc.BadRequest). Every call is safe to repeat, so UNAVAILABLE and DEADLINE_EXCEEDED are
retried a few times: reads and acknowledgements are idempotent, and extension requests and
answers carry a request id that stays the same across the retries. :meth:`AgencyClient.watch`
reconnects by itself, from the last cursor it yielded, so no change is missed or repeated.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.grpc.supervision.agency.v1 import agency_pb2 as pb
from contracts.grpc.supervision.agency.v1 import agency_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# gRPC's own reconnection backoff grows to 120 s by default: after a restart of the service,
# calls would keep failing fast for up to two minutes. Keepalive pings no more often than the
# server's default policy allows (5 min) still notice a connection that died silently.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 10_000),
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
)


@dataclass(eq=False)
class AgencyApiError(Exception):
    """The API refused the call, or could not be reached (``code`` UNAVAILABLE)."""

    code: grpc.StatusCode
    message: str
    violations: list[tuple[str, str]] = field(default_factory=list)
    """(field, description) of each offending request field, for INVALID_ARGUMENT."""
    reason: str = ""
    """For FAILED_PRECONDITION, why (google.rpc.ErrorInfo): ANSWERED, WITHDRAWN,
    VERSION_MISMATCH, EXTENSION_PENDING."""
    current_version: int | None = None
    """For FAILED_PRECONDITION, the case's version now: after VERSION_MISMATCH, read the case
    again (it was amended) and answer that version."""

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    @property
    def transient(self) -> bool:
        """Worth trying again later: the service is unreachable or too slow."""
        return self.code in TRANSIENT


def _error(failed: grpc.aio.AioRpcError) -> AgencyApiError:
    violations: list[tuple[str, str]] = []
    reason, current_version = "", None
    try:
        status = rpc_status.from_call(failed)
    except ValueError:  # details inconsistent with the call's own status: ignore them
        status = None
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(bad_request):
            violations += [(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Unpack(info):
            reason = info.reason
            version = info.metadata.get("current_version", "")
            current_version = int(version) if version.isdigit() else None
    return AgencyApiError(
        failed.code(), failed.details() or "", violations, reason, current_version
    )


class Disposition(enum.Enum):
    """How an agency takes up one point of a critique."""

    ACCEPTED = "accepted"  # Tiếp thu.
    PARTLY_ACCEPTED = "partly_accepted"  # Tiếp thu một phần: explanation required.
    NOT_ACCEPTED = "not_accepted"  # Không tiếp thu: explanation (giải trình) required.

    @property
    def wire(self) -> pb.Disposition.ValueType:
        return _DISPOSITIONS[self]


_DISPOSITIONS = {
    Disposition.ACCEPTED: pb.DISPOSITION_ACCEPTED,
    Disposition.PARTLY_ACCEPTED: pb.DISPOSITION_PARTLY_ACCEPTED,
    Disposition.NOT_ACCEPTED: pb.DISPOSITION_NOT_ACCEPTED,
}


@dataclass(frozen=True)
class Answer:
    """The answer to one point; every point of a case is answered at once."""

    point_number: int
    disposition: Disposition
    explanation: str = ""

    def message(self) -> pb.PointAnswer:
        return pb.PointAnswer(
            point_number=self.point_number,
            disposition=self.disposition.wire,
            explanation=self.explanation,
        )


def tls_credentials(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """Credentials for tracking over TLS: trusting ``ca_file`` (the system's CAs without it),
    presenting the agency's client certificate ``cert_file`` with its key ``key_file`` where
    tracking requires one (mutual TLS)."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )


TLS_SETTINGS = (
    "SUPERVISION_TRACKING_CA_FILE",
    "SUPERVISION_AGENCY_CERT_FILE",
    "SUPERVISION_AGENCY_KEY_FILE",
)
"""A client of tracking speaks TLS when any is set: the CA tracking's certificate chains to (the
system's CAs without it), and the agency's client certificate and key where tracking requires
one (mutual TLS)."""


def credentials_from_environment(*, tls: bool = False) -> grpc.ChannelCredentials | None:
    """:func:`tls_credentials` from :data:`TLS_SETTINGS`; None (plaintext) when none is set,
    unless ``tls`` (then the system's CAs). Raises ``OSError``/``ValueError`` for bad files."""
    files = [os.environ.get(name) or None for name in TLS_SETTINGS]
    if not any(files) and not tls:
        return None
    ca_file, cert_file, key_file = (Path(file) if file else None for file in files)
    return tls_credentials(ca_file, cert_file, key_file)


class AgencyClient:
    """``async with AgencyClient(address, token) as api: await api.get_case(case_id)``.

    ``credentials`` (:func:`tls_credentials`) for a TLS endpoint; plaintext otherwise. Where
    tracking requires client certificates, the certificate alone identifies the agency and
    ``token`` may be None. ``timeout`` bounds each unary call; ``retries`` repeats one after
    UNAVAILABLE or DEADLINE_EXCEEDED, waiting 0.25 s, 0.5 s, 1 s…; ``watch`` waits at most
    ``max_backoff`` between reconnections.
    """

    def __init__(
        self,
        address: str,
        token: str | None,
        *,
        channel_options: Sequence[tuple[str, Any]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        max_backoff: float = 10.0,
    ) -> None:
        self.address = address
        options = list({**dict(DEFAULT_CHANNEL_OPTIONS), **dict(channel_options)}.items())
        self._channel = (
            grpc.aio.insecure_channel(address, options=options)
            if credentials is None
            else grpc.aio.secure_channel(address, credentials, options=options)
        )
        self._stub = pb_grpc.AgencyServiceStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._timeout = timeout
        self._retries = retries
        self._max_backoff = max_backoff

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        attempt = 0
        while True:
            try:
                return await method(request, metadata=self._metadata, timeout=self._timeout)
            except grpc.aio.AioRpcError as failed:
                if failed.code() not in TRANSIENT or attempt >= self._retries:
                    raise _error(failed) from None
                log.info("agency API: %s; retrying", failed.code().name)
            await asyncio.sleep(min(0.25 * 2**attempt, self._max_backoff))
            attempt += 1

    async def list_cases(
        self,
        *,
        status: pb.CaseStatus.ValueType | None = None,
        overdue_only: bool = False,
        page_size: int = 50,
    ) -> AsyncIterator[pb.Case]:
        """The agency's cases, newest first, fetched ``page_size`` at a time as needed."""
        request = pb.ListCasesRequest(
            page_size=page_size,
            status=status or pb.CASE_STATUS_UNSPECIFIED,
            overdue_only=overdue_only,
        )
        while True:
            page = await self._call(self._stub.ListCases, request)
            for case in page.cases:
                yield case
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def get_case(self, case_id: str) -> pb.Case:
        """One case, with its history and how its due date was computed."""
        return await self._call(self._stub.GetCase, pb.GetCaseRequest(case_id=case_id))

    async def acknowledge(self, case_id: str) -> pb.Case:
        """Confirm receipt (the organisation can no longer amend or withdraw); idempotent."""
        request = pb.AcknowledgeCaseRequest(case_id=case_id)
        return await self._call(self._stub.AcknowledgeCase, request)

    async def request_extension(
        self, case_id: str, *, reason: str, until: date, request_id: str | None = None
    ) -> pb.Case:
        """Ask the organisation for a later due date; its decision arrives as a change."""
        request = pb.RequestExtensionRequest(
            case_id=case_id,
            request_id=request_id or str(uuid.uuid4()),
            reason=reason,
            requested_due_date=until.isoformat(),
        )
        return await self._call(self._stub.RequestExtension, request)

    async def answer(
        self,
        case_id: str,
        answers: Sequence[Answer],
        *,
        version: int,
        request_id: str | None = None,
    ) -> pb.Case:
        """Answer every point of ``version`` of the case (``Case.version`` as read) at once. If
        the organisation amended it since, :class:`AgencyApiError` FAILED_PRECONDITION with
        ``reason`` VERSION_MISMATCH and the ``current_version``: read it again and answer that.
        A repeat with the same ``request_id`` returns the first result: pass your own id to
        retry safely across restarts of your integration too."""
        request = pb.SubmitAnswerRequest(
            case_id=case_id,
            request_id=request_id or str(uuid.uuid4()),
            answers=[answer.message() for answer in answers],
            version=version,
        )
        response: pb.SubmitAnswerResponse = await self._call(self._stub.SubmitAnswer, request)
        return response.case

    async def watch(
        self, *, cursor: str | None = None, from_beginning: bool = False
    ) -> AsyncIterator[pb.CaseChange]:
        """The agency's changes as they happen, after ``cursor`` (or all of them, or only those
        still to come), without end. After UNAVAILABLE, or a stream the server ended, it
        reconnects from the last cursor yielded, waiting 0.5 s, 1 s, 2 s… up to ``max_backoff``.
        Other refusals raise :class:`AgencyApiError`.

        Without a cursor or ``from_beginning``, changes made while the first connection is being
        re-established are lost: the server only gives a cursor with a change. Keep the last
        cursor to resume from it."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            request = pb.WatchCasesRequest(
                cursor=cursor or "", from_beginning=from_beginning and not cursor
            )
            call = self._stub.WatchCases(request, metadata=self._metadata)
            started = loop.time()
            try:
                async for change in call:
                    cursor, attempt = change.cursor, 0
                    yield change
                reason = "the server ended the stream"
            except grpc.aio.AioRpcError as failed:
                if failed.code() != grpc.StatusCode.UNAVAILABLE:
                    raise _error(failed) from None
                reason = f"UNAVAILABLE: {failed.details()}"
            finally:
                call.cancel()
            if loop.time() - started > 2 * self._max_backoff:
                attempt = 0  # a connection that held for a while: start again from short waits
            wait = min(0.5 * 2**attempt, self._max_backoff)
            wait *= random.uniform(0.8, 1.0)  # noqa: S311 (spreads reconnecting clients)
            resume = (
                f"after cursor {cursor}"
                if cursor
                else "from the beginning"
                if from_beginning
                else "from now: changes until then are missed"
            )
            log.warning(
                "watch of %s interrupted (%s); reconnecting in %.1f s, %s",
                self.address,
                reason,
                wait,
                resume,
            )
            await asyncio.sleep(wait)
            attempt += 1
