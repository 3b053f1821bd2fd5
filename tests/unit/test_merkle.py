"""RFC 9162 Merkle tree hashing and proofs against published vectors and properties.

The expected values come from elsewhere, never from the code under test:

* the empty tree's root is SHA-256 of the empty string;
* small trees are hashed here by hand with hashlib;
* the classic Certificate Transparency vectors (the eight leaves ``""``, ``00``, ``10``, … and
  their roots, node hashes and proofs) as published in the Go module
  github.com/transparency-dev/merkle (``testonly/constants.go``, ``proof/verify_test.go`` and
  the node lists of ``proof/proof_test.go``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.disclosure import merkle
from services.disclosure.merkle import ProofError


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# transparency-dev/merkle testonly/constants.go: LeafInputs, RootHashes (by size), NodeHashes.
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
LEAF_HASHES = NODES[0]

# The tree of seven leaves, in proof_test.go's names: a..f, j are leaves, g h i are level 1,
# k is level 2, and l = hash(i, j) is the right subtree that only the size-7 tree has.
a, b, c, d, e, f, j = (NODES[0][i] for i in range(7))
leaf7 = NODES[0][7]
g, hh, i_ = NODES[1][0], NODES[1][1], NODES[1][2]
k = NODES[2][0]
l_ = sha256(b"\x01" + i_ + j)

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def fails(verify: Callable[..., None], *arguments: Any) -> bool:
    try:
        verify(*arguments)
    except ProofError:
        return True
    return False


# -- hashing ------------------------------------------------------------------------------------


def test_the_empty_tree_root_is_the_hash_of_the_empty_string() -> None:
    assert merkle.root([]) == ROOTS[0] == sha256(b"")
    assert ROOTS[0] == merkle.EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"data") == sha256(b"\x00data")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)


def test_hand_computed_small_trees() -> None:
    x, y, z, w, v = (sha256(b"\x00" + data) for data in (b"x", b"y", b"z", b"w", b"v"))
    assert merkle.root([x]) == x
    assert merkle.root([x, y]) == sha256(b"\x01" + x + y)
    # Three leaves split 2 + 1; five split 4 + 1 (the largest power of two below n).
    assert merkle.root([x, y, z]) == sha256(b"\x01" + sha256(b"\x01" + x + y) + z)
    xy, zw = sha256(b"\x01" + x + y), sha256(b"\x01" + z + w)
    assert merkle.root([x, y, z, w]) == sha256(b"\x01" + xy + zw)
    assert merkle.root([x, y, z, w, v]) == sha256(b"\x01" + sha256(b"\x01" + xy + zw) + v)


def test_leaf_hashes_of_the_ct_vectors() -> None:
    assert [merkle.leaf_hash(data) for data in LEAF_INPUTS] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_ct_vectors(size: int) -> None:
    assert merkle.root(LEAF_HASHES[:size]) == ROOTS[size]


# -- inclusion ----------------------------------------------------------------------------------

# proof/verify_test.go inclusionProofs ({leaf (1-based), size, proof}).
PUBLISHED_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# proof/proof_test.go TestInclusion: (size, index) -> nodes, written with the node hashes.
NODE_INCLUSION = [
    (1, 0, []),
    (2, 0, [b]),
    (2, 1, [a]),
    (3, 1, [a, c]),
    (7, 0, [b, hh, l_]),
    (7, 1, [a, hh, l_]),
    (7, 2, [d, g, l_]),
    (7, 3, [c, g, l_]),
    (7, 4, [f, j, k]),
    (7, 5, [e, j, k]),
    (7, 6, [i_, k]),
    (4, 2, [d, g]),
    (5, 3, [c, g, e]),
    (6, 3, [c, g, i_]),
    (6, 4, [f, k]),
]


@pytest.mark.parametrize(("index", "size", "proof"), PUBLISHED_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(index, LEAF_HASHES[:size]) == proof
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size])


@pytest.mark.parametrize(("size", "index", "proof"), NODE_INCLUSION)
def test_inclusion_paths_of_proof_test_go(size: int, index: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(index, LEAF_HASHES[:size]) == proof
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size])


def corrupted_inclusion(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """The probes of verify_test.go's corruptInclusionProof."""
    probes = [
        ("index - 1", index - 1, size, proof, root, leaf),
        ("index + 1", index + 1, size, proof, root, leaf),
        ("index ^ 2", index ^ 2, size, proof, root, leaf),
        ("size * 2", index, size * 2, proof, root, leaf),
        ("size / 2", index, size // 2, proof, root, leaf),
        ("wrong leaf", index, size, proof, root, merkle.leaf_hash(b"WrongLeaf")),
        ("empty root", index, size, proof, ROOTS[0], leaf),
        ("random root", index, size, proof, SOME_HASH, leaf),
        ("trailing garbage", index, size, [*proof, SOME_HASH], root, leaf),
        ("trailing root", index, size, [*proof, root], root, leaf),
        ("preceding garbage", index, size, [SOME_HASH, *proof], root, leaf),
        ("preceding root", index, size, [root, *proof], root, leaf),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([flipped[position][0] ^ 8]) + flipped[position][1:]
        probes.append((f"modified proof[{position}]", index, size, flipped, root, leaf))
    if proof:
        probes.append(("removed component", index, size, proof[:-1], root, leaf))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf)
        )
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), PUBLISHED_INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    accepted = [
        desc
        for desc, p_index, p_size, p_proof, p_root, p_leaf in corrupted_inclusion(
            index, size, proof, ROOTS[size], LEAF_HASHES[index]
        )
        if not fails(merkle.verify_inclusion, p_index, p_size, p_leaf, p_proof, p_root)
    ]
    assert accepted == []


def test_inclusion_rejects_impossible_arguments() -> None:
    for index, size in ((0, 0), (1, 0), (2, 1), (1, 1)):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, SOME_HASH, [], SOME_HASH)
    with pytest.raises(ProofError):  # a hash of the wrong size
        merkle.verify_inclusion(0, 1, b"", [], b"")
    for index, size in ((0, 0), (1, 0), (2, 1), (8, 7)):
        with pytest.raises(ProofError):
            merkle.inclusion_proof(index, LEAF_HASHES[:size])


def test_a_single_leaf_is_its_own_root() -> None:
    leaf = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(0, 1, leaf, [], leaf)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(0, 1, leaf, [], merkle.leaf_hash(b"other"))


# -- consistency --------------------------------------------------------------------------------

# proof/verify_test.go consistencyProofs.
PUBLISHED_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# proof/proof_test.go TestConsistency: (size1, size2) -> nodes.
NODE_CONSISTENCY = [
    (1, 2, [b]),
    (1, 4, [b, hh]),
    (1, 6, [b, hh, i_]),
    (2, 3, [c]),
    (2, 8, [hh, NODES[2][1]]),
    (3, 7, [c, d, g, l_]),
    (4, 7, [l_]),
    (5, 7, [e, f, j, k]),
    (6, 7, [i_, j, k]),
    (7, 8, [j, leaf7, i_, k]),
    (2, 4, [hh]),
    (3, 5, [c, d, g, e]),
    (3, 6, [c, d, g, i_]),
    (4, 6, [i_]),
    (1, 7, [b, hh, l_]),
    *((size, size, []) for size in (1, 2, 3, 4, 5, 7, 8)),
]


@pytest.mark.parametrize(("old", "new", "proof"), PUBLISHED_CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(old, LEAF_HASHES[:new]) == proof
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), NODE_CONSISTENCY)
def test_consistency_paths_of_proof_test_go(old: int, new: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(old, LEAF_HASHES[:new]) == proof
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def corrupted_consistency(
    old: int, new: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """The probes of verify_test.go's corruptConsistencyProof."""
    wrong_root = sha256(b"WrongRoot")
    probes = [
        ("old - 1", old - 1, new, root1, root2, proof),
        ("old + 1", old + 1, new, root1, root2, proof),
        ("old ^ 2", old ^ 2, new, root1, root2, proof),
        ("new * 2", old, new * 2, root1, root2, proof),
        ("new / 2", old, new // 2, root1, root2, proof),
        ("wrong root1", old, new, wrong_root, root2, proof),
        ("wrong root2", old, new, root1, wrong_root, proof),
        ("swapped roots", old, new, root2, root1, proof),
        ("empty proof", old, new, root1, root2, []),
        ("trailing garbage", old, new, root1, root2, [*proof, SOME_HASH]),
        ("trailing root1", old, new, root1, root2, [*proof, root1]),
        ("trailing root2", old, new, root1, root2, [*proof, root2]),
        ("preceding garbage", old, new, root1, root2, [SOME_HASH, *proof]),
        ("preceding root1", old, new, root1, root2, [root1, *proof]),
        ("preceding root2", old, new, root1, root2, [root2, *proof]),
        ("preceding proof[0]", old, new, root1, root2, [proof[0], *proof]),
        ("truncated proof", old, new, root1, root2, proof[:-1]),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([flipped[position][0] ^ 16]) + flipped[position][1:]
        probes.append((f"modified proof[{position}]", old, new, root1, root2, flipped))
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), PUBLISHED_CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    accepted = [
        desc
        for desc, p_old, p_new, p_root1, p_root2, p_proof in corrupted_consistency(
            old, new, ROOTS[old], ROOTS[new], proof
        )
        if not fails(merkle.verify_consistency, p_old, p_new, p_root1, p_root2, p_proof)
    ]
    assert accepted == []


def test_consistency_edge_cases() -> None:
    r1, r2 = sha256(b"don't care 1"), sha256(b"don't care 2")
    merkle.verify_consistency(0, 0, ROOTS[0], ROOTS[0], [])
    merkle.verify_consistency(0, 1, ROOTS[0], r2, [])
    merkle.verify_consistency(1, 1, r2, r2, [])
    for old, new, root1, root2, proof in [
        (0, 0, r1, r2, []),  # two roots for one size
        (1, 1, r1, r2, []),
        (1, 0, r1, r2, []),  # time travel to the past
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),  # empty proof
        (0, 1, r1, r2, []),  # a size-0 tree whose root is not the empty root
        (0, 0, ROOTS[0], ROOTS[0], [ROOTS[0]]),  # roots match but the proof is not empty
        (0, 1, ROOTS[0], ROOTS[0], [ROOTS[0]]),
        (1, 1, ROOTS[0], ROOTS[0], [ROOTS[0]]),
    ]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, root1, root2, proof)
    assert merkle.consistency_proof(0, LEAF_HASHES) == []
    with pytest.raises(ProofError):
        merkle.consistency_proof(9, LEAF_HASHES)


# -- properties ---------------------------------------------------------------------------------

leaves = st.lists(st.binary(max_size=16), min_size=1, max_size=70)


def flip(value: bytes, bit: int) -> bytes:
    position = (bit // 8) % len(value)
    return value[:position] + bytes([value[position] ^ (1 << (bit % 8))]) + value[position + 1 :]


@settings(max_examples=200, deadline=None)
@given(data=leaves, pick=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=255))
def test_every_inclusion_proof_verifies_and_any_change_fails(
    data: list[bytes], pick: int, bit: int
) -> None:
    hashes = [merkle.leaf_hash(item) for item in data]
    size = len(hashes)
    index = pick % size
    tree_root = merkle.root(hashes)
    proof = merkle.inclusion_proof(index, hashes)
    merkle.verify_inclusion(index, size, hashes[index], proof, tree_root)

    with pytest.raises(ProofError):  # the leaf's data changed
        merkle.verify_inclusion(index, size, merkle.leaf_hash(data[index] + b"!"), proof, tree_root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, size, hashes[index], proof, flip(tree_root, bit))
    if proof:
        tampered = list(proof)
        tampered[bit % len(proof)] = flip(tampered[bit % len(proof)], bit)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, hashes[index], tampered, tree_root)


@settings(max_examples=200, deadline=None)
@given(
    data=leaves,
    pick=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=255),
)
def test_every_consistency_proof_verifies_and_a_rewritten_history_fails(
    data: list[bytes], pick: int, bit: int
) -> None:
    hashes = [merkle.leaf_hash(item) for item in data]
    new = len(hashes)
    old = pick % (new + 1)
    old_root, new_root = merkle.root(hashes[:old]), merkle.root(hashes)
    proof = merkle.consistency_proof(old, hashes)
    merkle.verify_consistency(old, new, old_root, new_root, proof)

    if 0 < old < new:
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, flip(old_root, bit), new_root, proof)
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, flip(new_root, bit), proof)
        tampered = list(proof)
        tampered[bit % len(proof)] = flip(tampered[bit % len(proof)], bit)
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, tampered)
        # Rewrite one old leaf: the new tree's proof no longer rebuilds the old root.
        rewritten = list(hashes)
        changed = pick % old
        rewritten[changed] = merkle.leaf_hash(data[changed] + b"rewritten")
        with pytest.raises(ProofError):
            merkle.verify_consistency(
                old,
                new,
                old_root,
                merkle.root(rewritten),
                merkle.consistency_proof(old, rewritten),
            )


@settings(max_examples=100, deadline=None)
@given(data=leaves)
def test_the_root_of_a_prefix_is_what_consistency_proofs_rebuild(data: list[bytes]) -> None:
    hashes = [merkle.leaf_hash(item) for item in data]
    for old in range(len(hashes) + 1):
        proof = merkle.consistency_proof(old, hashes)
        merkle.verify_consistency(
            old, len(hashes), merkle.root(hashes[:old]), merkle.root(hashes), proof
        )
