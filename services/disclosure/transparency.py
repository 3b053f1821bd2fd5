"""The transparency log of what disclosure publishes: storage, signing and proofs.

Every document the public API serves is appended, as the exact bytes served, to an RFC 9162 Merkle
tree (:mod:`services.disclosure.merkle`) in the same transaction that publishes or changes it.
:func:`sign` then signs checkpoints of the tree (:mod:`services.disclosure.checkpoints`) and
announces them on ``disclosure.checkpoints``. Anyone holding the log's public key can check, with
the proofs served here and without trusting this database, that a document was published (an
inclusion proof to a signed checkpoint) and that nothing published was later changed or removed
(a consistency proof between two checkpoints).

Beside each leaf, the same transaction stores the hash of every complete subtree the leaf
completes (``log_subtrees``, append-only like the leaves; :class:`merkle.Frontier`): on average
two rows per leaf. Appending, signing, a proof and a tile (:mod:`services.disclosure.tiles`) each
read O(log n) of those stored hashes, with one statement, however large the log; nothing reads
every leaf. :func:`preload` writes a whole batch of leaves and their subtrees with ``COPY``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

from contracts.events import CheckpointSigned
from services.disclosure import merkle, tiles
from services.disclosure.checkpoints import SigningKeys
from services.disclosure.merkle import Node
from services.platform import db, outbox

_APPEND_LOCK: Final = 0x544C_4F47_4150  # "TLOGAP": one append at a time, until its commit
_SIGN_LOCK: Final = 0x544C_4F47_5347  # "TLOGSG": one signer at a time


class OutOfRange(ValueError):
    """A requested index or size is not in the tree; ``parameter`` names the argument."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class HistoryRewritten(RuntimeError):
    """The stored tree no longer gives the root of the last signed checkpoint (refuse to sign),
    or has lost a subtree's hash."""


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
    index. See :func:`append_many`."""
    (index,) = await append_many(connection, [(critique_id, document)], at=at)
    return index


async def append_many(
    connection: db.Connection,
    documents: Sequence[tuple[uuid.UUID, bytes]],
    *,
    at: datetime,
) -> list[int]:
    """Append the documents (critique id, the exact bytes published), in this order, in the
    caller's transaction; return their indexes. Appends are serialised until the caller commits,
    so indexes are dense and in commit order: call this last in the transaction, which must be
    READ COMMITTED (the default). Four statements however many documents: the lock, the tree's
    size, its frontier's hashes, then the leaves and the subtrees they complete together."""
    assert connection.is_in_transaction(), "a leaf must share the publication's transaction"
    if not documents:
        return []
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    frontier = await _frontier(connection)
    first = frontier.size
    hashes = [merkle.leaf_hash(document) for _, document in documents]
    completed = [node for leaf_hash in hashes for node in frontier.append(leaf_hash)]
    indexes = list(range(first, frontier.size))
    await connection.execute(
        "WITH leaves AS (INSERT INTO log_leaves (index, leaf_hash, data, critique_id, appended_at)"
        " SELECT index, leaf_hash, data, critique_id, $5"
        " FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::uuid[])"
        " AS l (index, leaf_hash, data, critique_id))"
        " INSERT INTO log_subtrees (height, index, hash)"
        " SELECT * FROM unnest($6::smallint[], $7::bigint[], $8::bytea[])",
        indexes,
        hashes,
        [document for _, document in documents],
        [critique_id for critique_id, _ in documents],
        at,
        *(list(column) for column in zip(*completed, strict=True)),
    )
    return indexes


async def tree_size(executor: db.Executor) -> int:
    size: int = await executor.fetchval("SELECT coalesce(max(index) + 1, 0) FROM log_leaves")
    return size


async def _frontier(connection: db.Connection) -> merkle.Frontier:
    """The current tree's frontier: its size, and the O(log n) hashes an append builds on."""
    size = await tree_size(connection)
    nodes = merkle.root_plan(size)
    stored = await _subtree_hashes(connection, nodes)
    return merkle.Frontier(size, [stored[node] for node in nodes])


async def _subtree_hashes(executor: db.Executor, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of these complete subtrees, with one statement; all of them, or
    :class:`HistoryRewritten`."""
    wanted = sorted(set(nodes))
    if not wanted:
        return {}
    # One primary-key probe per node, whatever the statistics say: a lateral subquery with a
    # LIMIT is never flattened into a join, which the planner could make a hash join over a
    # scan of the whole table (it did, on a table freshly loaded and not yet analysed).
    rows = await executor.fetch(
        "SELECT n.height, n.index, s.hash"
        " FROM unnest($1::smallint[], $2::bigint[]) AS n (height, index)"
        " CROSS JOIN LATERAL (SELECT hash FROM log_subtrees"
        " WHERE height = n.height AND index = n.index LIMIT 1) AS s",
        [height for height, _ in wanted],
        [index for _, index in wanted],
    )
    found = {(row["height"], row["index"]): bytes(row["hash"]) for row in rows}
    missing = [node for node in wanted if node not in found]
    if missing:
        height, index = missing[0]
        raise HistoryRewritten(
            f"the log has lost the hash of its subtree of height {height} at index {index}"
        )
    return found


@contextlib.asynccontextmanager
async def _connection(database: db.Executor) -> AsyncIterator[db.Connection]:
    """A connection of the pool, or the connection given."""
    if isinstance(database, asyncpg.Pool):
        async with database.acquire() as connection:
            yield connection
    else:
        yield database


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
    database: db.Executor, keys: SigningKeys, *, origin: str, now: datetime | None = None
) -> str | None:
    """Sign a checkpoint of the whole tree if it grew since the last one, by each of ``keys``
    (one note, a signature line per key); store it, announce it (``CheckpointSigned`` through
    the outbox) and return the note. ``None`` if nothing is new. ``database`` is the pool, or a
    connection outside a transaction.

    Before signing, the stored tree is checked to still give the last checkpoint's root: a log
    never signs a tree inconsistent with one it signed before (:class:`HistoryRewritten`). Both
    roots come from the O(log n) stored subtrees they are made of; a leaf's document changed in
    place without its subtrees is not read here, and every verifier finds it (its hash is not
    the tree's)."""
    async with _connection(database) as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SIGN_LOCK)
        last = await latest_checkpoint(connection)
        size = await tree_size(connection)
        signed = last.size if last is not None else 0
        if size < signed:
            raise HistoryRewritten(
                f"the log has {size} leaves but a checkpoint of {signed} was signed"
            )
        if size == signed:
            return None
        stored = await _subtree_hashes(
            connection, [*merkle.root_plan(signed), *merkle.root_plan(size)]
        )
        if last is not None and _root(signed, stored) != last.root:
            raise HistoryRewritten(
                f"the stored tree no longer gives the root signed at size {last.size}:"
                " the log's history was changed; refusing to sign"
            )
        root = _root(size, stored)
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


def _root(size: int, stored: dict[Node, bytes]) -> bytes:
    return merkle.subtrees_root([stored[node] for node in merkle.root_plan(size)])


async def inclusion(executor: db.Executor, index: int, size: int) -> Proof:
    """The proof that leaf ``index`` is in the tree of the first ``size`` leaves."""
    current = await tree_size(executor)
    if not 1 <= size <= current:
        raise OutOfRange("size", f"size must be between 1 and the tree size {current}")
    if not 0 <= index < size:
        raise OutOfRange("index", f"index must be between 0 and {size - 1} for size {size}")
    plan = merkle.inclusion_plan(index, size)
    stored = await _subtree_hashes(executor, [*itertools.chain(*plan), *merkle.root_plan(size)])
    return Proof(merkle.proof_from(plan, stored), _root(size, stored))


async def consistency(executor: db.Executor, old: int, new: int) -> Proof:
    """The proof that the tree of ``old`` leaves is a prefix of the tree of ``new``; ``root`` is
    the new tree's."""
    current = await tree_size(executor)
    if not 0 <= new <= current:
        raise OutOfRange("new", f"the new size must be between 0 and the tree size {current}")
    if not 0 <= old <= new:
        raise OutOfRange("old", f"the old size must be between 0 and the new size {new}")
    plan = merkle.consistency_plan(old, new)
    stored = await _subtree_hashes(executor, [*itertools.chain(*plan), *merkle.root_plan(new)])
    return Proof(merkle.proof_from(plan, stored), _root(new, stored))


# -- C2SP tlog-tiles ---------------------------------------------------------------------------


async def tile(executor: db.Executor, wanted: tiles.Tile) -> bytes | None:
    """The bytes of a tile (its hashes, concatenated), or ``None`` if the tree does not have all
    of them yet. One index range of at most 256 rows."""
    rows = await executor.fetch(
        "SELECT hash FROM log_subtrees WHERE height = $1 AND index >= $2 AND index < $3"
        " ORDER BY index",
        wanted.height,
        wanted.first,
        wanted.first + wanted.width,
    )
    if len(rows) != wanted.width:
        return None
    return b"".join(bytes(row["hash"]) for row in rows)


async def entry_bundle(executor: db.Executor, wanted: tiles.Tile) -> bytes | None:
    """The entry bundle of level-0 tile ``wanted``: each leaf's document, exactly the bytes its
    leaf hash was computed from; ``None`` if the log has not all of them yet. Raises
    :class:`tiles.EntryTooLarge` (its ``position`` made the leaf's index) for a document a
    bundle cannot carry."""
    rows = await executor.fetch(
        "SELECT data FROM log_leaves WHERE index >= $1 AND index < $2 ORDER BY index",
        wanted.first,
        wanted.first + wanted.width,
    )
    if len(rows) != wanted.width:
        return None
    try:
        return tiles.encode_bundle(bytes(row["data"]) for row in rows)
    except tiles.EntryTooLarge as error:
        raise tiles.EntryTooLarge(wanted.first + error.position, error.length) from None


# -- many leaves at once -----------------------------------------------------------------------

_PRELOAD_CHUNK: Final = 10_000


async def preload(
    connection: db.Connection,
    documents: Iterable[tuple[uuid.UUID, bytes]],
    *,
    at: datetime,
    chunk: int = _PRELOAD_CHUNK,
) -> int:
    """Append many documents (critique id, exact bytes) after the log's current leaves, with
    their subtrees, in the caller's transaction: hashed in one pass here, written with ``COPY``
    ``chunk`` leaves at a time; return the new tree size. What :func:`append` does per leaf,
    for loading a log (a benchmark's million leaves) in seconds."""
    assert connection.is_in_transaction(), "a preload is one transaction"
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    frontier = await _frontier(connection)
    remaining = iter(documents)
    while batch := list(itertools.islice(remaining, chunk)):
        leaves, subtrees = [], []
        for critique_id, document in batch:
            leaf_hash = merkle.leaf_hash(document)
            leaves.append((frontier.size, leaf_hash, document, critique_id, at))
            subtrees += frontier.append(leaf_hash)
        await connection.copy_records_to_table(
            "log_leaves",
            records=leaves,
            columns=["index", "leaf_hash", "data", "critique_id", "appended_at"],
        )
        await connection.copy_records_to_table(
            "log_subtrees", records=subtrees, columns=["height", "index", "hash"]
        )
    await connection.execute("ANALYZE log_leaves, log_subtrees")
    return frontier.size
