"""``Idempotency-Key``: a retried request returns the first response and changes nothing.

The key is claimed, the work done and the response stored in one transaction. A concurrent retry
waits on the key's row until the first commits, then replays its response; if the first rolled
back, the retry does the work itself. The same key with a different request is refused.
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


async def once(
    pool: db.Pool,
    *,
    scope: str,
    key: str | None,
    request: bytes,
    work: Callable[[db.Connection], Awaitable[Response]],
) -> Response:
    """Run ``work`` in a transaction, unless ``key`` was used before in ``scope``: then replay."""
    async with pool.acquire() as connection, connection.transaction():
        if key is not None:
            claimed = await connection.fetchval(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, response)"
                " VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING RETURNING true",
                scope,
                key,
                request,
            )
            if not claimed:
                row = await connection.fetchrow(
                    "SELECT fingerprint, status_code, response FROM idempotency_keys"
                    " WHERE scope = $1 AND key = $2",
                    scope,
                    key,
                )
                assert row is not None
                if bytes(row["fingerprint"]) != request:
                    raise KeyReused(key)
                return Response(row["status_code"], json.loads(row["response"]), replayed=True)
        response = await work(connection)
        if key is not None:
            await connection.execute(
                "UPDATE idempotency_keys SET status_code = $3, response = $4"
                " WHERE scope = $1 AND key = $2",
                scope,
                key,
                response.status_code,
                json.dumps(response.body),
            )
        return response
