"""What is done with is deleted, so that no table grows with the history it no longer serves:
outbox rows once published and kept a while (to look at), inbox ids once applied longer ago than
any redelivery comes (``CommonSettings.outbox_retention_seconds``, ``inbox_retention_seconds``).

Each round deletes in small batches, a transaction each, so no lock is held for long and the
relay and the consumers go on meanwhile; batches skip the rows another transaction holds, so
every instance of a service may prune at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from services.platform import consumer, db, outbox

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 1000

Prune = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Pruned:
    outbox_rows: int
    inbox_ids: int


async def prune_until_done(pool: db.Pool, prune: Prune, *, older_than: datetime) -> int:
    """Run ``prune`` batch after batch until a batch finds less than a full one."""
    total = 0
    while True:
        deleted = await prune(pool, older_than=older_than, limit=BATCH_SIZE)
        total += deleted
        if deleted < BATCH_SIZE:
            return total


async def prune_once(
    pool: db.Pool,
    *,
    outbox_retention: timedelta,
    inbox_retention: timedelta,
    now: datetime | None = None,
) -> Pruned:
    """Delete what each retention no longer keeps, as of ``now``."""
    at = now or datetime.now(UTC)
    pruned = Pruned(
        outbox_rows=await prune_until_done(
            pool, outbox.prune_published, older_than=at - outbox_retention
        ),
        inbox_ids=await prune_until_done(
            pool, consumer.prune_applied, older_than=at - inbox_retention
        ),
    )
    if pruned.outbox_rows or pruned.inbox_ids:
        log.info(
            "pruned what is done with",
            extra={"outbox_rows": pruned.outbox_rows, "inbox_ids": pruned.inbox_ids},
        )
    return pruned


async def run(
    pool: db.Pool, *, outbox_retention: timedelta, inbox_retention: timedelta, interval: float
) -> None:
    """Prune every ``interval`` seconds until cancelled."""
    while True:
        try:
            await prune_once(
                pool, outbox_retention=outbox_retention, inbox_retention=inbox_retention
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the database away: the next round prunes what this left
            log.warning("pruning interrupted", extra={"error": repr(error)})
        await asyncio.sleep(interval)
