"""What a Front organisation asks that tracking decides: an amendment, a withdrawal, a decision
on an extension (contracts/transitions.py).

A request is recorded as pending, with its history entry and its request event, in one
transaction, and answered as pending. It is refused here only when what submission has already
heard from tracking settles it for good (:func:`domain.settled`, a version already passed);
otherwise tracking's decision, heard later, accepts or refuses it. A retry with the same
idempotency key finds the same request, in whatever state it is now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.events import (
    AmendmentRequested,
    ExtensionDecisionRequested,
    WithdrawalRequested,
)
from contracts.lifecycle import (
    ExtensionStatus,
    RefusalReason,
    RequestKind,
    RequestStatus,
)
from contracts.submission_api import (
    ChangeRequestOut,
    ContentIn,
    CritiqueStatus,
    HistoryStep,
)
from services.platform import db, idempotency, outbox
from services.submission import domain, queries, store
from services.submission.commands.citing import citations
from services.submission.store import NotFound


class Settled(Exception):
    """The critique can no longer be changed this way, for good: ``reason`` says why."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(str(reason))
        self.reason = reason


class VersionMismatch(ValueError):
    """The version amended is not the critique's current one."""

    def __init__(self, current: int) -> None:
        super().__init__(current)
        self.current = current


class AlreadyDecided(ValueError):
    """The extension was decided, or is being decided, the other way."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


KeyReused = idempotency.KeyReused


@dataclass(frozen=True)
class Asked:
    """A request as it stands, and whether it still awaits tracking's decision."""

    request: ChangeRequestOut

    @property
    def pending(self) -> bool:
        return self.request.status is RequestStatus.PENDING


async def own_critique(
    connection: db.Connection, critique_id: uuid.UUID, organisation_id: str
) -> store.Critique:
    """The organisation's critique, locked: its requests are taken one at a time."""
    critique = await store.lock(connection, critique_id, organisation_id)
    if critique is None:
        raise NotFound(critique_id)
    return critique


async def pending_of_kind(
    connection: db.Connection, critique_id: uuid.UUID, kind: RequestKind
) -> list[store.ChangeRequest]:
    found = await store.requests(connection, [critique_id], pending_only=True)
    return [r for r in found[critique_id] if r.kind is kind]


async def _retried(
    connection: db.Connection, critique_id: uuid.UUID, key: str | None, fingerprint: bytes
) -> Asked | None:
    """The request made before under this idempotency key, if any (as it stands now)."""
    if key is None:
        return None
    found = await store.request_by_key(connection, critique_id, key)
    if found is None:
        return None
    if found.fingerprint != fingerprint:
        raise KeyReused(key)
    return Asked(queries.request_out(found))


def _refuse_if_settled(critique: store.Critique) -> None:
    if domain.settled(critique.status):
        raise Settled(
            {
                CritiqueStatus.ACKNOWLEDGED: RefusalReason.ACKNOWLEDGED,
                CritiqueStatus.ANSWERED: RefusalReason.ANSWERED,
                CritiqueStatus.WITHDRAWN: RefusalReason.WITHDRAWN,
            }[critique.status]
        )


async def _ask(
    connection: db.Connection,
    critique: store.Critique,
    step: HistoryStep,
    detail: dict[str, object],
    request: store.ChangeRequest,
    event: AmendmentRequested | WithdrawalRequested | ExtensionDecisionRequested,
) -> Asked:
    await store.record_history(
        connection,
        critique.id,
        step,
        at=request.requested_at,
        version=critique.version,
        detail={"request_id": str(request.id), **detail},
    )
    await outbox.record(connection, event, occurred_at=request.requested_at)
    return Asked(queries.request_out(request))


async def request_amendment(
    pool: db.Pool,
    *,
    organisation_id: str,
    critique_id: uuid.UUID,
    body: ContentIn,
    expected_version: int | None,
    idempotency_key: str | None,
) -> Asked:
    """Ask tracking to replace the content (of ``expected_version``, if given)."""
    signature = idempotency.fingerprint(body.model_dump_json(), str(expected_version))
    async with pool.acquire() as connection, connection.transaction():
        critique = await own_critique(connection, critique_id, organisation_id)
        if retried := await _retried(connection, critique.id, idempotency_key, signature):
            return retried
        content, _ = await citations(
            connection, domain.content(body, critique.kind), agency_id=critique.agency_id
        )
        _refuse_if_settled(critique)
        if await pending_of_kind(connection, critique.id, RequestKind.WITHDRAWAL):
            raise Settled(RefusalReason.WITHDRAWAL_PENDING)
        if expected_version is not None and expected_version != critique.version:
            raise VersionMismatch(critique.version)
        now = datetime.now(UTC)
        request = await store.insert_request(
            connection,
            request_id=uuid.uuid4(),
            critique_id=critique.id,
            kind=RequestKind.AMENDMENT,
            at=now,
            idempotency_key=idempotency_key,
            fingerprint=signature,
            expected_version=expected_version,
            content=content,
        )
        assert request is not None  # the key's row was looked for under the critique's lock
        return await _ask(
            connection,
            critique,
            HistoryStep.AMENDMENT_REQUESTED,
            {"content": content.model_dump(mode="json"), "expected_version": expected_version},
            request,
            AmendmentRequested(
                critique_id=critique.id,
                request_id=request.id,
                expected_version=expected_version,
                content=content,
                requested_at=now,
            ),
        )


async def request_withdrawal(
    pool: db.Pool,
    *,
    organisation_id: str,
    critique_id: uuid.UUID,
    reason: str,
    idempotency_key: str | None,
) -> Asked:
    """Ask tracking to withdraw the critique. Asking again finds the same request (pending, or
    accepted once withdrawn)."""
    signature = idempotency.fingerprint(reason)
    async with pool.acquire() as connection, connection.transaction():
        critique = await own_critique(connection, critique_id, organisation_id)
        if retried := await _retried(connection, critique.id, idempotency_key, signature):
            return retried
        if critique.status is CritiqueStatus.WITHDRAWN:
            found = await store.requests(connection, [critique.id])
            accepted = [
                r
                for r in found[critique.id]
                if r.kind is RequestKind.WITHDRAWAL and r.status is RequestStatus.ACCEPTED
            ]
            if accepted:
                return Asked(queries.request_out(accepted[-1]))
        _refuse_if_settled(critique)
        if pending := await pending_of_kind(connection, critique.id, RequestKind.WITHDRAWAL):
            return Asked(queries.request_out(pending[0]))
        now = datetime.now(UTC)
        request = await store.insert_request(
            connection,
            request_id=uuid.uuid4(),
            critique_id=critique.id,
            kind=RequestKind.WITHDRAWAL,
            at=now,
            idempotency_key=idempotency_key,
            fingerprint=signature,
            reason=reason,
        )
        assert request is not None
        return await _ask(
            connection,
            critique,
            HistoryStep.WITHDRAWAL_REQUESTED,
            {"reason": reason},
            request,
            WithdrawalRequested(
                critique_id=critique.id, request_id=request.id, reason=reason, requested_at=now
            ),
        )


async def request_extension_decision(
    pool: db.Pool,
    *,
    organisation_id: str,
    critique_id: uuid.UUID,
    extension_id: uuid.UUID,
    grant: bool,
    note: str,
    idempotency_key: str | None,
) -> Asked:
    """Grant or refuse the agency's request for more time; tracking applies it. The same
    decision again finds the same request; the other one is refused (a decision is final)."""
    signature = idempotency.fingerprint(str(extension_id), str(grant), note)
    decision = ExtensionStatus.GRANTED if grant else ExtensionStatus.REFUSED
    async with pool.acquire() as connection, connection.transaction():
        critique = await own_critique(connection, critique_id, organisation_id)
        if retried := await _retried(connection, critique.id, idempotency_key, signature):
            return retried
        extension = await store.extension(connection, critique.id, extension_id)
        if extension is None:
            raise NotFound(extension_id)
        found = await store.requests(connection, [critique.id])
        deciding = [
            r
            for r in found[critique.id]
            if r.kind is RequestKind.EXTENSION_DECISION
            and r.extension_id == extension_id
            and r.status is not RequestStatus.REFUSED
        ]
        if extension.status is not ExtensionStatus.PENDING:
            if extension.status is decision and deciding:
                return Asked(queries.request_out(deciding[-1]))
            raise AlreadyDecided(extension.status.value)
        for earlier in deciding:
            if earlier.grant is not grant:
                raise AlreadyDecided(f"being {'granted' if earlier.grant else 'refused'}")
            return Asked(queries.request_out(earlier))
        if critique.status in {CritiqueStatus.ANSWERED, CritiqueStatus.WITHDRAWN}:
            _refuse_if_settled(critique)
        now = datetime.now(UTC)
        request = await store.insert_request(
            connection,
            request_id=uuid.uuid4(),
            critique_id=critique.id,
            kind=RequestKind.EXTENSION_DECISION,
            at=now,
            idempotency_key=idempotency_key,
            fingerprint=signature,
            extension_id=extension_id,
            grant=grant,
            note=note,
        )
        assert request is not None
        return await _ask(
            connection,
            critique,
            HistoryStep.EXTENSION_DECISION_REQUESTED,
            {"extension_id": str(extension_id), "grant": grant, "note": note},
            request,
            ExtensionDecisionRequested(
                critique_id=critique.id,
                request_id=request.id,
                extension_id=extension_id,
                grant=grant,
                note=note,
                requested_at=now,
            ),
        )
