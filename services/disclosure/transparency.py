"""The transparency log of what disclosure publishes: storage, signing and proofs.

Every document the public API serves is appended, as the exact bytes served, to an RFC 9162 Merkle
tree (:mod:`services.disclosure.merkle`) in the same transaction that publishes or changes it.
:func:`sign` then signs checkpoints of the tree (:mod:`services.disclosure.checkpoints`) and
announces them on ``disclosure.checkpoints``. Anyone holding the log's public key can check, with
the proofs served here and without trusting this database, that a document was published (an
inclusion proof to a signed checkpoint) and that nothing published was later changed or removed
(a consistency proof between two checkpoints).

Proofs are computed from the stored leaf hashes on each request: O(n) reading and hashing, fine up
to some 10^5 leaves (a fraction of a second); beyond that, store the complete subtrees' hashes.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from contracts.events import CheckpointSigned
from services.disclosure import merkle
from services.disclosure.checkpoints import SigningKeys
from services.platform import db, outbox

_APPEND_LOCK: Final = 0x544C_4F47_4150  # "TLOGAP": one append at a time, until its commit
_SIGN_LOCK: Final = 0x544C_4F47_5347  # "TLOGSG": one signer at a time


class OutOfRange(ValueError):
    """A requested index or size is not in the tree; ``parameter`` names the argument."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class HistoryRewritten(RuntimeError):
    """The stored leaves no longer give the root of the last signed checkpoint: refuse to sign."""


@dataclass(frozen=True)
class Leaf:
    index: int
    leaf_hash: bytes
    document: bytes
    critique_id: uuid.UUID
    appended_at: datetime


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    signed_at: datetime


async def append(
    connection: db.Connection, *, critique_id: uuid.UUID, document: bytes, at: datetime
) -> int:
    """Append ``document`` (the exact bytes published) in the caller's transaction; return its
    index. Appends are serialised until the caller commits, so indexes are dense and in commit
    order: call this last in the transaction, which must be READ COMMITTED (the default)."""
    assert connection.is_in_transaction(), "a leaf must share the publication's transaction"
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    index: int = await connection.fetchval("SELECT coalesce(max(index) + 1, 0) FROM log_leaves")
    await connection.execute(
        "INSERT INTO log_leaves (index, leaf_hash, data, critique_id, appended_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        index,
        merkle.leaf_hash(document),
        document,
        critique_id,
        at,
    )
    return index


async def tree_size(executor: db.Executor) -> int:
    size: int = await executor.fetchval("SELECT coalesce(max(index) + 1, 0) FROM log_leaves")
    return size


async def _leaf_hashes(executor: db.Executor, size: int | None = None) -> list[bytes]:
    """The hashes of leaves 0 to ``size`` - 1 (all of them by default), checked to be dense."""
    rows = await executor.fetch(
        "SELECT index, leaf_hash FROM log_leaves"
        " WHERE $1::bigint IS NULL OR index < $1 ORDER BY index",
        size,
    )
    hashes = []
    for position, row in enumerate(rows):
        if row["index"] != position:
            raise HistoryRewritten(f"the log has no leaf {position}: a leaf was removed")
        hashes.append(bytes(row["leaf_hash"]))
    if size is not None and len(hashes) != size:
        raise OutOfRange("size", f"the log has {len(hashes)} leaves, fewer than {size}")
    return hashes


def _checkpoint(row: db.Record) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=row["size"], root=bytes(row["root"]), note=row["note"], signed_at=row["signed_at"]
    )


async def latest_checkpoint(executor: db.Executor) -> StoredCheckpoint | None:
    row = await executor.fetchrow(
        "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1"
    )
    return None if row is None else _checkpoint(row)


async def checkpoint(executor: db.Executor, size: int) -> StoredCheckpoint | None:
    """The checkpoint signed at tree size ``size``, if one was."""
    row = await executor.fetchrow(
        "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size = $1", size
    )
    return None if row is None else _checkpoint(row)


async def sign(
    pool: db.Pool, keys: SigningKeys, *, origin: str, now: datetime | None = None
) -> str | None:
    """Sign a checkpoint of the whole tree if it grew since the last one, by each of ``keys``
    (one note, a signature line per key); store it, announce it (``CheckpointSigned`` through
    the outbox) and return the note. ``None`` if nothing is new.

    Before signing, the stored leaves are checked to still give the last checkpoint's root: a log
    never signs a tree inconsistent with one it signed before (:class:`HistoryRewritten`)."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SIGN_LOCK)
        last = await latest_checkpoint(connection)
        hashes = await _leaf_hashes(connection)
        size = len(hashes)
        if last is not None and size < last.size:
            raise HistoryRewritten(
                f"the log has {size} leaves but a checkpoint of {last.size} was signed"
            )
        if size == (last.size if last is not None else 0):
            return None
        if last is not None and merkle.root(hashes[: last.size]) != last.root:
            raise HistoryRewritten(
                f"the first {last.size} leaves no longer give the root signed at that size:"
                " the log's history was changed; refusing to sign"
            )
        root = merkle.root(hashes)
        note = keys.sign_checkpoint(origin, size, root)
        signed_at = now or datetime.now(UTC)
        await connection.execute(
            "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)",
            size,
            root,
            note,
            signed_at,
        )
        await outbox.record(
            connection,
            CheckpointSigned(
                origin=origin,
                size=size,
                root_hash=base64.b64encode(root).decode(),
                note=note,
                signed_at=signed_at,
            ),
            occurred_at=signed_at,
        )
        return note


def _leaf(row: db.Record) -> Leaf:
    return Leaf(
        index=row["index"],
        leaf_hash=bytes(row["leaf_hash"]),
        document=bytes(row["data"]),
        critique_id=row["critique_id"],
        appended_at=row["appended_at"],
    )


async def leaf(executor: db.Executor, index: int) -> Leaf | None:
    row = await executor.fetchrow(
        "SELECT index, leaf_hash, data, critique_id, appended_at FROM log_leaves WHERE index = $1",
        index,
    )
    return None if row is None else _leaf(row)


async def leaves_of(executor: db.Executor, critique_id: uuid.UUID) -> list[Leaf]:
    """Every leaf of one critique (each version published), oldest first."""
    rows = await executor.fetch(
        "SELECT index, leaf_hash, data, critique_id, appended_at FROM log_leaves"
        " WHERE critique_id = $1 ORDER BY index",
        critique_id,
    )
    return [_leaf(row) for row in rows]


@dataclass(frozen=True)
class Proof:
    """Proof hashes, and the root of the tree they lead to (for diagnosis only: a verifier
    takes the root from a signed checkpoint, never from here)."""

    hashes: list[bytes]
    root: bytes


async def inclusion(executor: db.Executor, index: int, size: int) -> Proof:
    """The proof that leaf ``index`` is in the tree of the first ``size`` leaves."""
    current = await tree_size(executor)
    if not 1 <= size <= current:
        raise OutOfRange("size", f"size must be between 1 and the tree size {current}")
    if not 0 <= index < size:
        raise OutOfRange("index", f"index must be between 0 and {size - 1} for size {size}")
    hashes = await _leaf_hashes(executor, size)
    return Proof(merkle.inclusion_proof(index, hashes), merkle.root(hashes))


async def consistency(executor: db.Executor, old: int, new: int) -> Proof:
    """The proof that the tree of ``old`` leaves is a prefix of the tree of ``new``; ``root`` is
    the new tree's."""
    current = await tree_size(executor)
    if not 0 <= new <= current:
        raise OutOfRange("new", f"the new size must be between 0 and the tree size {current}")
    if not 0 <= old <= new:
        raise OutOfRange("old", f"the old size must be between 0 and the new size {new}")
    hashes = await _leaf_hashes(executor, new)
    return Proof(merkle.consistency_proof(old, hashes), merkle.root(hashes))
