"""The agencies' change feed: every case history entry, in order, with its id as the cursor.

History ids are drawn in commit order (the transactions that write history take one lock for it:
tracking's migration 004), so a watcher that resumes after the last id it saw misses nothing.

Watchers wait on one LISTEN connection per process (``case_history`` notifications at commit)
and also poll, so a lost notification only delays a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.platform import db
from services.tracking import queries

log = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self, pool: db.Pool) -> None:
        self._pool = pool
        self._changed = asyncio.Event()
        self.closed = False

    def close(self) -> None:
        """Wake every watcher for good: the server is stopping, and streams should end now
        rather than be cut at the end of the grace period."""
        self.closed = True
        self._wake()

    async def listen(self) -> None:
        """Hold a LISTEN connection until cancelled, reconnecting after failures."""
        while True:
            try:
                async with self._pool.acquire() as connection:
                    await connection.add_listener("case_history", self._wake)
                    try:
                        await asyncio.Event().wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await connection.remove_listener("case_history", self._wake)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("change feed lost the database; retrying", extra={"error": repr(error)})
                await asyncio.sleep(1.0)

    def _wake(self, *_: object) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seconds: float) -> None:
        """Return at the next committed change, or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def latest(self, agency_id: str) -> int:
        return await queries.latest_change(self._pool, agency_id)

    async def after(
        self, agency_id: str, cursor: int, limit: int = 100
    ) -> list[queries.CaseChange]:
        return await queries.changes_after(self._pool, agency_id, cursor, limit)
