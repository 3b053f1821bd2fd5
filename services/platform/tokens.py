"""Bearer tokens for organisations and agencies: random, shown once, stored only as hashes, live
until revoked or, when issued for a time, until they expire."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.platform import db

log = logging.getLogger(__name__)


def issue(prefix: str) -> str:
    """A new token such as ``sv_org_…``; 256 bits of randomness, URL- and header-safe."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> bytes:
    """What the database keeps: the SHA-256 of the token (tokens are random, so no salt)."""
    return hashlib.sha256(token.encode()).digest()


def bearer(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer …`` value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class TokenInfo:
    id: uuid.UUID
    owner_id: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    """None: until revoked."""


class UnknownOwner(LookupError):
    """No organisation or agency with this id."""


STORES: list[TokenStore] = []
"""Every token table this process knows (its service notes the uses of its own)."""

NOTE_USES_SECONDS = 5.0
"""How late ``last_used_at`` may be written: it says when a token was last accepted, to the
nearest few seconds."""


async def keep_noting_uses(executor: db.Executor, interval: float = NOTE_USES_SECONDS) -> None:
    """Write the tokens' uses every ``interval`` until cancelled, and once more then."""
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                for store in STORES:
                    await store.note_uses(executor)
            except db.TRANSIENT_ERRORS as error:  # kept, written at the next interval
                log.info("token uses not written yet", extra={"error": type(error).__name__})
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                for store in STORES:
                    await store.note_uses(executor)


class TokenStore:
    """A service's token table: ``<table>(id, token_hash, <owner>, label, created_at,
    last_used_at, revoked_at, expires_at)``, whose owners live in ``owners`` (organisations,
    agencies). A token is live while it is neither revoked nor past its ``expires_at``; an
    expired token is refused exactly as a revoked one is."""

    def __init__(self, *, table: str, owner_column: str, owners: str) -> None:
        self._table = table
        self._owner = owner_column
        self._owners = owners
        self._used: dict[bytes, datetime] = {}
        """Token hash → when it was last accepted, not yet written."""
        STORES.append(self)

    async def owner(self, executor: db.Executor, token: str) -> str | None:
        """The owner of a live token (noting its use), or None."""
        row = await self.owner_row(executor, token)
        return None if row is None else str(row["id"])

    async def owner_row(self, executor: db.Executor, token: str) -> db.Record | None:
        """The owner's row (``SELECT * FROM <owners>``) of a live token, or None: one read, no
        write. The use is noted in memory; :meth:`note_uses` writes ``last_used_at`` later, for
        many requests at once, instead of every request committing an ``UPDATE`` of its own."""
        hashed = digest(token)
        row: db.Record | None = await executor.fetchrow(
            f"SELECT o.* FROM {self._table} t JOIN {self._owners} o ON o.id = t.{self._owner}"
            " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
            " AND (t.expires_at IS NULL OR t.expires_at > now())",
            hashed,
        )
        if row is not None:
            self._used[hashed] = datetime.now(UTC)
        return row

    async def note_uses(self, executor: db.Executor) -> int:
        """Write the uses noted since the last call (one statement); return how many tokens."""
        used, self._used = self._used, {}
        if not used:
            return 0
        try:
            await executor.execute(
                f"UPDATE {self._table} t SET last_used_at = u.at"
                " FROM unnest($1::bytea[], $2::timestamptz[]) AS u(token_hash, at)"
                " WHERE t.token_hash = u.token_hash"
                " AND (t.last_used_at IS NULL OR t.last_used_at < u.at)",
                list(used),
                list(used.values()),
            )
        except BaseException:
            for hashed, at in used.items():  # kept for the next call
                self._used.setdefault(hashed, at)
            raise
        return len(used)

    async def add(
        self,
        executor: db.Executor,
        *,
        owner_id: str,
        token: str,
        label: str,
        expires_at: datetime | None = None,
    ) -> uuid.UUID:
        """Register a token (only its hash is kept), live until ``expires_at`` if given; returns
        its id, for revocation. A token registered before keeps its label and expiry."""
        if not await executor.fetchval(f"SELECT true FROM {self._owners} WHERE id = $1", owner_id):
            raise UnknownOwner(owner_id)
        token_id: uuid.UUID = await executor.fetchval(
            f"INSERT INTO {self._table} (token_hash, {self._owner}, label, expires_at)"
            " VALUES ($1, $2, $3, $4)"
            f" ON CONFLICT (token_hash) DO UPDATE SET label = {self._table}.label RETURNING id",
            digest(token),
            owner_id,
            label,
            expires_at,
        )
        return token_id

    async def revoke(self, executor: db.Executor, token_id: uuid.UUID) -> bool:
        """Revoke a token by its id; False when there is no such live token."""
        revoked = await executor.fetchval(
            f"UPDATE {self._table} SET revoked_at = now()"
            " WHERE id = $1 AND revoked_at IS NULL RETURNING true",
            token_id,
        )
        return bool(revoked)

    async def list(self, executor: db.Executor, owner_id: str) -> list[TokenInfo]:
        rows = await executor.fetch(
            f"SELECT id, {self._owner} AS owner_id, label, created_at, last_used_at, revoked_at,"
            f" expires_at FROM {self._table} WHERE {self._owner} = $1 ORDER BY created_at",
            owner_id,
        )
        return [TokenInfo(**dict(row)) for row in rows]
