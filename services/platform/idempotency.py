"""``Idempotency-Key``: a retried request returns the first response and changes nothing.

The work is done and the key stored with its response in one transaction. A retry finds the key
taken (waiting on its row while the first is still running), rolls its own work back and replays
the first response; if the first rolled back, the retry's work stands. The same key with a
different request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.platform import db

MAX_KEY_LENGTH = 255


class KeyReused(ValueError):
    """The key was first used for a different request."""


@dataclass(frozen=True)
class Response:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def fingerprint(*parts: str | bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


class _Taken(Exception):
    """The key was stored by another transaction: this one's work is rolled back."""


async def once(
    pool: db.Pool,
    *,
    scope: str,
    key: str | None,
    request: bytes,
    work: Callable[[db.Connection], Awaitable[Response]],
) -> Response:
    """Run ``work`` in a transaction, unless ``key`` was used before in ``scope``: then replay.

    The key and its response are stored at the end of the work's transaction, with one
    statement: a first request (nearly all of them) costs that statement and no more. A retry
    does the work again, finds the key taken, rolls the work back and replays the stored
    response; a retry running alongside the first waits on the key's row until the first
    commits (and does the work itself if the first rolled back)."""
    if key is None:
        async with pool.acquire() as connection, connection.transaction():
            return await work(connection)
    try:
        async with pool.acquire() as connection, connection.transaction():
            response = await work(connection)
            stored = await connection.fetchval(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, response)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
                scope,
                key,
                request,
                response.status_code,
                json.dumps(response.body),
            )
            if not stored:
                raise _Taken
            return response
    except _Taken:
        pass
    row = await pool.fetchrow(
        "SELECT fingerprint, status_code, response FROM idempotency_keys"
        " WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None, "a stored key is never deleted"
    if bytes(row["fingerprint"]) != request:
        raise KeyReused(key)
    return Response(row["status_code"], json.loads(row["response"]), replayed=True)
