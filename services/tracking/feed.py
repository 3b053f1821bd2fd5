"""The agencies' change feed: every case history entry, in order, with its id as the cursor.

History ids are drawn in commit order (the transactions that write history take one lock for it:
tracking's migration 004), so a watcher that resumes after the last id it saw misses nothing.

Watchers wait on one LISTEN connection per process (``case_history`` notifications at commit)
and also poll, so a lost notification only delays a change. Every commit wakes every watcher,
each of which then reads its agency's changes: one agency holds at most
:data:`MAX_WATCHERS_PER_AGENCY` watches at once on one instance, so that it cannot make each
commit cost the database thousands of reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator

from services.platform import db
from services.tracking import queries

log = logging.getLogger(__name__)

MAX_WATCHERS_PER_AGENCY = 10
"""How many watches (WatchCases streams) one agency may hold at once on one instance: an
agency's system, a person following on the command line, a few replicas of either."""


class TooManyWatchers(Exception):
    """The agency already holds :data:`MAX_WATCHERS_PER_AGENCY` watches on this instance."""

    def __init__(self, agency_id: str, limit: int) -> None:
        super().__init__(
            f"agency {agency_id} already holds {limit} WatchCases streams, as many as one"
            " instance serves one agency at once: close one (a stream resumes from its cursor)"
        )
        self.agency_id = agency_id
        self.limit = limit


class ChangeFeed:
    def __init__(self, pool: db.Pool, *, max_watchers: int = MAX_WATCHERS_PER_AGENCY) -> None:
        self._pool = pool
        self._changed = asyncio.Event()
        self._max_watchers = max_watchers
        self._watchers: Counter[str] = Counter()
        self.closed = False

    @contextlib.contextmanager
    def watching(self, agency_id: str) -> Iterator[None]:
        """One of the agency's watches, held until the block ends (the stream is over, however
        it ended); :class:`TooManyWatchers` on entering when it holds as many as it may."""
        if self._watchers[agency_id] >= self._max_watchers:
            raise TooManyWatchers(agency_id, self._max_watchers)
        self._watchers[agency_id] += 1
        try:
            yield
        finally:
            self._watchers[agency_id] -= 1
            if not self._watchers[agency_id]:
                del self._watchers[agency_id]

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
                    db.keeps_session_state(connection)
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
