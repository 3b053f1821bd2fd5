"""Bearer tokens for organisations and agencies: random, shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets


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
