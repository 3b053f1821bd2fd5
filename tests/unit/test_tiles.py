"""The log's stored subtrees and its C2SP tlog-tiles, against merkle.py's reference proofs.

The reference (``merkle.inclusion_proof``, ``consistency_proof``, ``root``) hashes every leaf and
is itself checked against published vectors in test_merkle.py; here the O(log n) ways — proofs
from the subtrees a :class:`merkle.Frontier` stores, and proofs a client computes from tiles —
must give the same bytes for every tree size up to 600 (around 768, 1024 and 1100 too, and for
any size to 1100 drawn by hypothesis), at indexes on both sides of every tile boundary. Paths
are checked against the spec's own examples.
"""

from __future__ import annotations

import itertools
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.disclosure import merkle, tiles
from services.disclosure.merkle import Node
from services.disclosure.tiles import Tile, TileError, TilePathError, TreeTiles

MAX_SIZE = 1100


@cache
def leaf_hashes() -> list[bytes]:
    return [merkle.leaf_hash(f"entry {n}".encode()) for n in range(MAX_SIZE)]


@cache
def stored() -> dict[Node, bytes]:
    """Every complete subtree of the largest tree, as the log stores them on append."""
    frontier = merkle.Frontier(0, [])
    found: dict[Node, bytes] = {}
    for value in leaf_hashes():
        for height, index, subtree in frontier.append(value):
            assert (height, index) not in found
            found[height, index] = subtree
    return found


def tile_bytes(tile: Tile) -> bytes:
    """A tile as the server serves it: the stored rows of its height, concatenated."""
    return b"".join(stored()[tile.height, tile.first + k] for k in range(tile.width))


def tree_tiles(size: int, nodes: list[Node]) -> TreeTiles:
    needed = tiles.tiles_for(size, nodes)
    return TreeTiles(size, merkle.root(leaf_hashes()[:size]), {t: tile_bytes(t) for t in needed})


def boundary_indexes(size: int) -> list[int]:
    """Indexes on both sides of each tile boundary, the middle of the tree, and its ends."""
    around = {0, size // 2, size - 1}
    for edge in range(256, size + 1, 256):
        around |= {edge - 1, edge}
    return sorted(i for i in around if 0 <= i < size)


# -- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the spec's example
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_tile_indexes_are_written_in_groups_of_three_digits(index: int, path: str) -> None:
    assert tiles.encode_index(index) == path
    assert tiles.parse_tile_path("0", path) == Tile(0, index)
    assert tiles.parse_entries_path(path) == Tile(0, index)


def test_a_tile_path_names_its_level_index_and_partial_width() -> None:
    assert Tile(2, 1234067).path == "tile/2/x001/x234/067"
    assert Tile(0, 3, 17).path == "tile/0/003.p/17"
    assert Tile(0, 3, 17).entries_path == "tile/entries/003.p/17"
    assert tiles.parse_tile_path("1", "x001/234.p/255") == Tile(1, 1234, 255)
    assert tiles.parse_tile_path("63", "000.p/1") == Tile(63, 0, 1)


@pytest.mark.parametrize(
    ("level", "rest"),
    [
        ("00", "000"),  # leading zero in the level
        ("64", "000"),
        ("-1", "000"),
        ("entries", "000"),
        ("0", "0"),  # not three digits
        ("0", "0000"),
        ("0", "x1/000"),
        ("0", "001/000"),  # an upper group without its x
        ("0", "x000/001"),  # a leading zero group
        ("0", "x001"),  # the last group with an x
        ("0", "000.p/0"),
        ("0", "000.p/256"),  # a full tile has no .p
        ("0", "000.p/07"),
        ("0", "000.p/"),
        ("0", "000/"),
        ("0", ""),
        ("0", "abc"),
    ],
)
def test_paths_outside_the_spec_name_no_tile(level: str, rest: str) -> None:
    with pytest.raises(TilePathError):
        tiles.parse_tile_path(level, rest)


def test_the_tiles_of_a_tree_are_the_spec_s_example() -> None:
    """ "A tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    partial level 2 tile of width 1"; 256 leaves: a full level-0 tile and a level-1 one of 1."""
    assert tiles.right_edge(70_000) == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles.width_in(70_000, 0, 272) == 256
    assert tiles.width_in(70_000, 0, 274) == 0
    assert tiles.width_in(70_000, 1, 0) == 256
    assert tiles.right_edge(256) == [Tile(1, 0, 1)]
    assert tiles.right_edge(0) == []


# -- proofs from stored subtrees and from tiles --------------------------------------------------


def test_the_frontier_stores_each_complete_subtree_once_and_gives_the_root() -> None:
    frontier = merkle.Frontier(0, [])
    for size, value in enumerate(leaf_hashes(), start=1):
        frontier.append(value)
        if size in (1, 2, 3, 255, 256, 257, 1024, MAX_SIZE):
            assert frontier.root() == merkle.root(leaf_hashes()[:size])
    # Restarted from what the log stores, it goes on as if it never stopped.
    nodes = merkle.root_plan(1000)
    again = merkle.Frontier(1000, [stored()[node] for node in nodes])
    completed = [again.append(value) for value in leaf_hashes()[1000:]]
    assert {(h, i): v for h, i, v in itertools.chain(*completed)}.items() <= stored().items()
    assert again.root() == merkle.root(leaf_hashes())
    assert len(stored()) == 2 * MAX_SIZE - bin(MAX_SIZE).count("1")


EVERY_SIZE = [
    *range(1, 600),  # every size across two level-0 tile boundaries
    *(size for edge in (768, 1024) for size in range(edge - 3, edge + 4)),
    MAX_SIZE,
]
"""The reference costs O(n) a proof: beyond 600, the sizes around the next boundaries (and
the property below draws any size up to MAX_SIZE)."""


@pytest.mark.parametrize("size", EVERY_SIZE)
def test_proofs_from_stored_subtrees_and_from_tiles_equal_the_reference(size: int) -> None:
    leaves = leaf_hashes()[:size]
    indexes = boundary_indexes(size)
    inclusions = {index: merkle.inclusion_plan(index, size) for index in indexes}
    consistencies = {old: merkle.consistency_plan(old, size) for old in [*indexes, size]}
    plans = [*inclusions.values(), *consistencies.values()]
    tree = tree_tiles(size, [node for plan in plans for nodes in plan for node in nodes])
    for index, plan in inclusions.items():
        expected = merkle.inclusion_proof(index, leaves)
        assert merkle.proof_from(plan, stored()) == expected, (index, size)
        assert merkle.proof_from(plan, tree.hash) == expected, (index, size)
        assert tree.hash((0, index)) == leaves[index]
    for old, plan in consistencies.items():
        expected = merkle.consistency_proof(old, leaves)
        assert merkle.proof_from(plan, stored()) == expected, (old, size)
        assert merkle.proof_from(plan, tree.hash) == expected, (old, size)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_pair_of_sizes_and_index_gets_the_reference_proofs(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(0, size))
    leaves = leaf_hashes()[:size]
    inclusion = merkle.inclusion_plan(index, size)
    consistency = merkle.consistency_plan(old, size)
    tree = tree_tiles(size, [*itertools.chain(*inclusion), *itertools.chain(*consistency)])
    assert merkle.proof_from(inclusion, tree.hash) == merkle.inclusion_proof(index, leaves)
    assert merkle.proof_from(consistency, tree.hash) == merkle.consistency_proof(old, leaves)
    merkle.verify_inclusion(
        index, size, leaves[index], merkle.proof_from(inclusion, stored()), merkle.root(leaves)
    )


def test_a_proof_reads_a_logarithmic_number_of_subtrees_and_tiles() -> None:
    size = 2**40 + 2**20 + 12_345
    for index in (0, 2**39, size - 1):
        plan = merkle.inclusion_plan(index, size)
        nodes = {*itertools.chain(*plan), *merkle.root_plan(size)}
        assert len(nodes) <= 2 * size.bit_length()
        assert len(tiles.tiles_for(size, nodes)) <= 3 * (size.bit_length() // 8 + 1)


# -- tiles that do not make up the signed tree --------------------------------------------------


def altered(data: bytes, hash_number: int) -> bytes:
    at = hash_number * merkle.HASH_SIZE
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_an_altered_full_tile_is_named_by_its_parent() -> None:
    size = 1000
    nodes = [(0, 300), *itertools.chain(*merkle.inclusion_plan(300, size))]
    needed = tiles.tiles_for(size, nodes)
    assert {Tile(0, 1), Tile(1, 0, 3)} <= needed
    fetched = {t: tile_bytes(t) for t in needed}
    fetched[Tile(0, 1)] = altered(fetched[Tile(0, 1)], 7)
    root = merkle.root(leaf_hashes()[:size])
    with pytest.raises(TileError, match=r"tile tile/0/001 does not hash to entry 1 of tile"):
        TreeTiles(size, root, fetched)


def test_an_altered_partial_tile_does_not_give_the_signed_root() -> None:
    size = 1000
    needed = tiles.tiles_for(size, [(0, 999)])
    fetched = {t: tile_bytes(t) for t in needed}
    fetched[Tile(0, 3, 232)] = altered(fetched[Tile(0, 3, 232)], 0)
    with pytest.raises(TileError, match="do not give the root of the signed tree of size 1000"):
        TreeTiles(size, merkle.root(leaf_hashes()[:size]), fetched)


def test_a_tile_of_the_wrong_length_or_width_is_refused() -> None:
    size = 300
    needed = tiles.tiles_for(size, [(0, 3)])
    fetched = {t: tile_bytes(t) for t in needed}
    root = merkle.root(leaf_hashes()[:size])
    with pytest.raises(TileError, match="is 8160 bytes, not 256 hashes"):
        TreeTiles(size, root, {**fetched, Tile(0, 0): fetched[Tile(0, 0)][:-32]})
    with pytest.raises(TileError, match="not a tile of the tree of size 300"):
        TreeTiles(size, root, {**fetched, Tile(0, 1, 45): tile_bytes(Tile(0, 1, 45))})
    with pytest.raises(TileError, match="not complete"):
        tiles.tiles_for(size, [(9, 0)])


# -- entry bundles ------------------------------------------------------------------------------


def test_an_entry_bundle_is_its_entries_after_big_endian_lengths() -> None:
    entries = [b"", b"a", bytes(300), "Kiến nghị".encode(), bytes(tiles.MAX_ENTRY_BYTES)]
    bundle = tiles.encode_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert bundle[5:7] == b"\x01\x2c"  # 300
    assert tiles.decode_bundle(Tile(0, 0, 5), bundle) == entries
    with pytest.raises(TileError, match="has 5 entries, not 6"):
        tiles.decode_bundle(Tile(0, 0, 6), bundle)
    with pytest.raises(TileError, match="ends inside entry 4"):
        tiles.decode_bundle(Tile(0, 0, 5), bundle[:-1])
    with pytest.raises(tiles.EntryTooLarge, match="entry 1 is 65536 bytes"):
        tiles.encode_bundle([b"x", bytes(tiles.MAX_ENTRY_BYTES + 1)])
