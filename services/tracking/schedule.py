"""The deadline scheduler: the entry point time drives. Every ``interval`` seconds it fires the
steps whose time has come (reminders before the due date, overdue when it passes, escalation
one Front level up: :func:`commands.fire_due`).

Steps are rows (``deadline_steps``) planned in the transaction that opens a case or moves its
due date; each fires in one transaction with its event, so restarts neither lose nor repeat one,
and ``FOR UPDATE SKIP LOCKED`` lets several instances share the work. Time is a parameter, so
tests move it at will.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from services.platform import db
from services.tracking import commands

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Fires due steps every ``interval`` seconds until cancelled."""

    def __init__(self, pool: db.Pool, *, clock: Clock = system_clock, interval: float) -> None:
        self._pool = pool
        self._clock = clock
        self._interval = interval

    async def run(self) -> None:
        while True:
            try:
                while await commands.fire_due(self._pool, now=self._clock()):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "deadline scheduler interrupted; retrying", extra={"error": repr(error)}
                )
            await asyncio.sleep(self._interval)


@contextlib.asynccontextmanager
async def running(pool: db.Pool, *, clock: Clock, interval: float) -> AsyncIterator[None]:
    task = asyncio.create_task(Scheduler(pool, clock=clock, interval=interval).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
