"""Bearer tokens for organisations and agencies: random, shown once, stored only as hashes, live
until revoked or, when issued for a time, until they expire."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.platform import db


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


class TokenStore:
    """A service's token table: ``<table>(id, token_hash, <owner>, label, created_at,
    last_used_at, revoked_at, expires_at)``, whose owners live in ``owners`` (organisations,
    agencies). A token is live while it is neither revoked nor past its ``expires_at``; an
    expired token is refused exactly as a revoked one is."""

    def __init__(self, *, table: str, owner_column: str, owners: str) -> None:
        self._table = table
        self._owner = owner_column
        self._owners = owners

    async def owner(self, executor: db.Executor, token: str) -> str | None:
        """The owner of a live token (noting its use), or None."""
        owner: str | None = await executor.fetchval(
            f"UPDATE {self._table} SET last_used_at = now()"
            " WHERE token_hash = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > now())"
            f" RETURNING {self._owner}",
            digest(token),
        )
        return owner

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
