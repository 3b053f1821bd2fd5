"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing with SHA-256: pure functions, no I/O.

Leaves are hashed as ``SHA-256(0x00 || data)`` and interior nodes as ``SHA-256(0x01 || l || r)``,
so that a leaf can never be passed off as a node (RFC 9162 §2.1.1). A tree of ``n`` leaves is
split at the largest power of two smaller than ``n``; this is what makes the log append-only
verifiable: every earlier tree is a prefix whose root a consistency proof can rebuild.

Every hash a proof needs is the root of a range of leaves, and every such range is a few
*complete subtrees* (a :data:`Node`: 2**height leaves from ``index * 2**height``) whose hashes
never change once the tree has them. So the log stores each complete subtree's hash as it is
completed (:class:`Frontier`, the same code for one append and for a million), and a proof is
:func:`inclusion_plan` or :func:`consistency_plan` — which O(log n) stored hashes to read — then
:func:`proof_from` them: O(log n) reads and hashing, whatever the size of the log.
:func:`inclusion_proof`, :func:`consistency_proof` and :func:`root` compute the same from the list
of every leaf hash (O(n)): the reference, checked against published vectors.

The verifiers raise :class:`ProofError` with the reason; they never return a boolean that a
caller could forget to check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, TypeAlias

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH({}): the root of the empty tree is the hash of the empty string."""

MAX_HEIGHT: Final = 63
"""A tree of at most 2**63 leaves (a PostgreSQL bigint's worth)."""

Node: TypeAlias = tuple[int, int]
"""A complete subtree, as (height, index): the 2**height leaves from ``index * 2**height``; its
hash is MTH of those leaves. Height 0 is a leaf hash."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


class ProofError(ValueError):
    """A proof does not verify, or its arguments cannot describe any tree."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) from the leaves' hashes."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[start]
    k = _split(n)
    return node_hash(_mth(hashes, start, start + k), _mth(hashes, start + k, end))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (RFC 9162 §2.1.1)."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose roots are PATH(index, D[size]) (RFC 9162 §2.1.3.1),
    leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    # PATH(m, D[start:end]) = PATH(m', D[sub]) : MTH(D[sibling]); unrolled from the top, so the
    # siblings are collected root side first and reversed at the end.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m = start + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots are PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1): none
    when ``old_size`` is 0 or ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree size {old_size} is not between 0 and {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new_size, old_size, True
    # SUBPROOF(m, D[start:end], complete), unrolled like the inclusion path.
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) for the tree of these leaves (RFC 9162 §2.1.3.1), leaf side first."""
    return [_mth(leaf_hashes, a, b) for a, b in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) (RFC 9162 §2.1.4.1): empty when ``old_size`` is 0 or ``n``."""
    return [_mth(leaf_hashes, a, b) for a, b in consistency_ranges(old_size, len(leaf_hashes))]


# -- the same from the stored hashes of complete subtrees: O(log n) ----------------------------


def subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees that D[start:end] is made of, largest first: one per bit of
    ``end - start``. Every range of the RFC's recursion (and so of every proof) starts at a
    multiple of its largest subtree; :func:`subtrees_root` folds their hashes into its MTH."""
    if not 0 <= start <= end:
        raise ProofError(f"[{start}, {end}) is not a range of leaves")
    nodes: list[Node] = []
    length, position = end - start, start
    for height in range(length.bit_length() - 1, -1, -1):
        if length >> height & 1:
            if position % (1 << height):
                raise ProofError(f"[{start}, {end}) is not a range of the tree's recursion")
            nodes.append((height, position >> height))
            position += 1 << height
    return nodes


def subtrees_root(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its :func:`subtrees`, largest first: the split of
    RFC 9162 §2.1.1 puts the largest on the left, so they fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    folded = hashes[-1]
    for left in reversed(hashes[:-1]):
        folded = node_hash(left, folded)
    return folded


def root_plan(size: int) -> list[Node]:
    """The subtrees whose hashes give the root of the tree of ``size`` leaves."""
    return subtrees(0, size)


def inclusion_plan(index: int, size: int) -> list[list[Node]]:
    """For each hash of the inclusion proof, the subtrees it is the root of."""
    return [subtrees(a, b) for a, b in inclusion_ranges(index, size)]


def consistency_plan(old_size: int, new_size: int) -> list[list[Node]]:
    """For each hash of the consistency proof, the subtrees it is the root of."""
    return [subtrees(a, b) for a, b in consistency_ranges(old_size, new_size)]


def proof_from(
    plan: Iterable[Sequence[Node]], hash_of: Mapping[Node, bytes] | Callable[[Node], bytes]
) -> list[bytes]:
    """The proof a plan describes, from the hashes of its subtrees."""
    lookup = hash_of.__getitem__ if isinstance(hash_of, Mapping) else hash_of
    return [subtrees_root([lookup(node) for node in nodes]) for nodes in plan]


class Frontier:
    """The roots of the largest complete subtrees of a tree (:func:`root_plan`), one per bit of
    its size: all that appending needs. Each leaf appended completes its own subtree of height
    0 and, when it closes a pair, the subtrees above it: those are what :meth:`append` returns,
    as (height, index, hash), for the log to store."""

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        nodes = root_plan(size)
        if len(hashes) != len(nodes):
            raise ProofError(f"a tree of size {size} has {len(nodes)} frontier hashes")
        self.size = size
        self._stack = [(height, value) for (height, _), value in zip(nodes, hashes, strict=True)]

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        _check_hash(leaf_hash, "the leaf hash")
        if self.size >= 1 << MAX_HEIGHT:
            raise ProofError("the tree is full")
        height, index, value = 0, self.size, leaf_hash
        completed = [(height, index, value)]
        while index & 1:  # a right child: its pair is complete
            _, left = self._stack.pop()
            value = node_hash(left, value)
            height, index = height + 1, index >> 1
            completed.append((height, index, value))
        self._stack.append((height, value))
        self.size += 1
        return completed

    def root(self) -> bytes:
        return subtrees_root([value for _, value in self._stack])


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` gives for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash, "the leaf hash")
    fn, sn, r = index, size - 1, leaf_hash
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with this ``root``."""
    _check_hash(root, "the root hash")
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise ProofError(
            f"the inclusion proof for leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_size``/``old_root`` is a prefix of ``new_size``/``new_root``
    (RFC 9162 §2.1.4.2)."""
    _check_hash(old_root, "the old root hash")
    _check_hash(new_root, "the new root hash")
    for position, c in enumerate(proof):
        _check_hash(c, f"proof hash {position}")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree size {old_size} cannot precede tree size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("the proof between two trees of the same size must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("the proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is not the hash of the empty string")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old tree is a complete subtree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(
            f"the consistency proof does not rebuild the old root of tree size {old_size}:"
            " the log's history differs from the old checkpoint"
        )
    if sr != new_root:
        raise ProofError(
            f"the consistency proof does not rebuild the new root of tree size {new_size}"
        )
