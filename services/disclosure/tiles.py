"""The transparency log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): pure, no I/O.

A tile is a run of up to 256 consecutive hashes of the Merkle tree at one height: at level ``L``,
tile ``N`` holds the hashes of the complete subtrees of height ``8L`` (:data:`merkle.Node`)
``256N`` to ``256N + 255``: leaf hashes at level 0, at level 1 the roots of full level-0 tiles,
and so on. The rightmost tile of a level is *partial* (``W`` of 256 hashes) until it fills up.
Entry bundles carry the entries of level 0's tiles themselves, each prefixed by its length as a
big-endian uint16. The paths, under the log's prefix::

    tile/<L>/<N>[.p/<W>]        tile/entries/<N>[.p/<W>]

``N`` in zero-padded groups of three digits, all but the last prefixed by ``x`` (1234067 is
``x001/x234/067``); ``.p/<W>`` only for a partial tile (1 to 255, no leading zeroes).

A client holding a signed checkpoint reads the tiles it needs (:func:`tiles_for`), checks them
against the signed root (:class:`TreeTiles`) and computes any proof itself
(:func:`merkle.proof_from`): the server only hands out stored bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from services.disclosure import merkle
from services.disclosure.merkle import HASH_SIZE, Node

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
MAX_LEVEL: Final = 63
MAX_ENTRY_BYTES: Final = 0xFFFF
"""An entry's length is a uint16 in a bundle."""

_GROUP = re.compile(r"[0-9]{3}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


class TilePathError(ValueError):
    """A path that names no tile or entry bundle."""


class TileError(ValueError):
    """Tiles that do not make up the tree a checkpoint signed (or are not tiles at all)."""


@dataclass(frozen=True, order=True)
class Tile:
    """Tile ``index`` of ``level``, ``width`` hashes wide (256: full)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL:
            raise TilePathError(f"a tile level is between 0 and {MAX_LEVEL}")
        if self.index < 0:
            raise TilePathError("a tile index is not negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TilePathError(f"a tile is 1 to {TILE_WIDTH} hashes wide")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def height(self) -> int:
        """The height of the subtrees whose hashes the tile holds."""
        return self.level * TILE_HEIGHT

    @property
    def first(self) -> int:
        """The index, at :attr:`height`, of the tile's first hash."""
        return self.index * TILE_WIDTH

    @property
    def path(self) -> str:
        return f"tile/{self.level}/{encode_index(self.index)}{_width_suffix(self.width)}"

    @property
    def entries_path(self) -> str:
        """The path of the entry bundle of a level-0 tile."""
        return f"tile/entries/{encode_index(self.index)}{_width_suffix(self.width)}"


def _width_suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def encode_index(index: int) -> str:
    """``N`` as the spec writes it: 1234067 → ``x001/x234/067``, 5 → ``005``."""
    if index < 0:
        raise TilePathError("a tile index is not negative")
    groups = []
    while True:
        index, group = divmod(index, 1000)
        groups.append(f"{group:03d}")
        if not index:
            break
    return "/".join([f"x{group}" for group in reversed(groups[1:])] + [groups[0]])


def _parse_index_and_width(text: str) -> tuple[int, int]:
    elements = text.split("/")
    width = TILE_WIDTH
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        if not _WIDTH.fullmatch(elements[-1]) or int(elements[-1]) >= TILE_WIDTH:
            raise TilePathError(f"the width {elements[-1]!r} is not 1 to 255, without leading 0")
        width = int(elements[-1])
        elements = [*elements[:-2], elements[-2].removesuffix(".p")]
    *upper, last = elements
    if not _GROUP.fullmatch(last) or not all(
        e.startswith("x") and _GROUP.fullmatch(e[1:]) for e in upper
    ):
        raise TilePathError(
            f"{text!r} is not a tile index: groups of three digits, all but the last after an x"
        )
    if upper and upper[0] == "x000":
        raise TilePathError(f"{text!r} is not a tile index: its first group is x000")
    index = 0
    for element in [*upper, last]:
        index = index * 1000 + int(element.removeprefix("x"))
    return index, width


def parse_tile_path(level: str, rest: str) -> Tile:
    """The tile at ``tile/<level>/<rest>``."""
    if not _LEVEL.fullmatch(level) or int(level) > MAX_LEVEL:
        raise TilePathError(f"the level {level!r} is not 0 to {MAX_LEVEL}, without leading 0")
    index, width = _parse_index_and_width(rest)
    return Tile(int(level), index, width)


def parse_entries_path(rest: str) -> Tile:
    """The level-0 tile whose entries ``tile/entries/<rest>`` bundles."""
    index, width = _parse_index_and_width(rest)
    return Tile(0, index, width)


def width_in(size: int, level: int, index: int) -> int:
    """How many hashes tile ``index`` of ``level`` has in the tree of ``size`` leaves (0: none,
    the tile is beyond the tree)."""
    return max(0, min(TILE_WIDTH, (size >> (level * TILE_HEIGHT)) - index * TILE_WIDTH))


def in_tree(tile: Tile, size: int) -> bool:
    """Whether the tree of ``size`` leaves has every hash of ``tile``."""
    return width_in(size, tile.level, tile.index) >= tile.width


def tile_of(node: Node, size: int) -> Tile:
    """The tile, as it is in the tree of ``size`` leaves, that ``node`` is computed from."""
    height, index = node
    level, above = divmod(height, TILE_HEIGHT)
    tile_index = (index << above) // TILE_WIDTH
    width = width_in(size, level, tile_index)
    if not width or (index + 1) << height > size:
        raise TileError(f"the subtree {node} is not complete in a tree of size {size}")
    return Tile(level, tile_index, width)


def right_edge(size: int) -> list[Tile]:
    """The partial tiles of the tree of ``size`` leaves, one per level that has one."""
    edge = []
    level = 0
    while size >> (level * TILE_HEIGHT):
        width = (size >> (level * TILE_HEIGHT)) % TILE_WIDTH
        if width:
            edge.append(Tile(level, size >> ((level + 1) * TILE_HEIGHT), width))
        level += 1
    return edge


def _parent(tile: Tile, size: int) -> Tile:
    index = tile.index // TILE_WIDTH
    return Tile(tile.level + 1, index, width_in(size, tile.level + 1, index))


def tiles_for(size: int, nodes: Iterable[Node]) -> set[Tile]:
    """The tiles to read to have ``nodes`` in the tree of ``size`` leaves and to check them
    against its root: theirs, the full tiles' parents up to the right edge, and the edge."""
    needed = set(right_edge(size))
    for node in nodes:
        tile = tile_of(node, size)
        while tile not in needed:
            needed.add(tile)
            if not tile.full:
                break
            tile = _parent(tile, size)
    return needed


def _split_hashes(tile: Tile, data: bytes) -> list[bytes]:
    if len(data) != tile.width * HASH_SIZE:
        raise TileError(
            f"tile {tile.path} is {len(data)} bytes, not {tile.width} hashes"
            f" ({tile.width * HASH_SIZE} bytes)"
        )
    return [data[at : at + HASH_SIZE] for at in range(0, len(data), HASH_SIZE)]


def _complete_root(hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of hashes."""
    level = list(hashes)
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TreeTiles:
    """Tiles of the tree of ``size`` leaves, checked against its signed ``root``: every tile of
    the right edge by the root itself, every full tile by the entry its parent holds for it
    (parents first, so that an altered tile is the one named). Then :meth:`hash` gives any
    complete subtree the tiles cover. Raises :class:`TileError`."""

    def __init__(self, size: int, root: bytes, tiles: Mapping[Tile, bytes]) -> None:
        self.size = size
        self._hashes: dict[Tile, list[bytes]] = {}
        for tile, data in tiles.items():
            if not in_tree(tile, size) or (
                tile.width < TILE_WIDTH and tile not in right_edge(size)
            ):
                raise TileError(f"tile {tile.path} is not a tile of the tree of size {size}")
            self._hashes[tile] = _split_hashes(tile, data)
        edge = right_edge(size)
        missing = [tile.path for tile in edge if tile not in self._hashes]
        if missing:
            raise TileError(f"the tiles {', '.join(missing)} of the tree's right edge are missing")
        if merkle.subtrees_root([self.hash(n) for n in merkle.root_plan(size)]) != root:
            raise TileError(
                f"the tiles {', '.join(t.path for t in edge)} do not give the root of the signed"
                f" tree of size {size}: the log's tiles were altered"
            )
        for tile in sorted(self._hashes, key=lambda t: (-t.level, t.index)):
            if not tile.full:
                continue
            parent = _parent(tile, size)
            if parent not in self._hashes:
                raise TileError(f"tile {tile.path} came without its parent {parent.path}")
            expected = self._hashes[parent][tile.index % TILE_WIDTH]
            if _complete_root(self._hashes[tile]) != expected:
                raise TileError(
                    f"tile {tile.path} does not hash to entry {tile.index % TILE_WIDTH} of tile"
                    f" {parent.path}, which the signed root vouches for: the log's tiles were"
                    " altered"
                )

    def hash(self, node: Node) -> bytes:
        """The hash of a complete subtree, from the tile it lies in."""
        tile = tile_of(node, self.size)
        if tile not in self._hashes:
            raise TileError(f"tile {tile.path} was not read")
        height, index = node
        span = 1 << (height - tile.height)
        offset = (index * span) % TILE_WIDTH
        return _complete_root(self._hashes[tile][offset : offset + span])


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries, each after its big-endian uint16 length."""
    parts = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise EntryTooLarge(position, len(entry))
        parts += [len(entry).to_bytes(2, "big"), entry]
    return b"".join(parts)


def decode_bundle(tile: Tile, data: bytes) -> list[bytes]:
    """The entries of the bundle of level-0 ``tile``; exactly its width of them."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"entry bundle {tile.entries_path} ends inside a length")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise TileError(f"entry bundle {tile.entries_path} ends inside entry {len(entries)}")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    if len(entries) != tile.width:
        raise TileError(
            f"entry bundle {tile.entries_path} has {len(entries)} entries, not {tile.width}"
        )
    return entries


class EntryTooLarge(ValueError):
    """An entry longer than a bundle's uint16 length prefix can say (the spec's open question)."""

    def __init__(self, position: int, length: int) -> None:
        super().__init__(f"entry {position} is {length} bytes, more than {MAX_ENTRY_BYTES}")
        self.position = position
        self.length = length
