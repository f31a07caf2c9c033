"""Board geometry: integer cell indices and the tables every rule walks.

Cells are numbered in the reference engines' enumeration order (square: x outer, y inner;
hex: x outer, y inner with z = -x-y), so "first eligible cell" tie-breaks match them.
Each board also gets a bitboard embedding (one bit per cell in a grid one column wider
than the board) used by the flood fills of territory detection and the line pre-check:
the spare column stops horizontal and diagonal shifts from wrapping across rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

BOARDS: tuple[str, ...] = ("square8", "square19", "hex8", "hexagonal")

_SQUARE_SIZES = {"square8": 8, "square19": 19}
_HEX_RADII = {"hex8": 4, "hexagonal": 12}
_RINGS_PER_PLAYER = {"square8": 18, "square19": 72, "hex8": 18, "hexagonal": 96}

_SQUARE_DIRS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
_SQUARE_LINE_AXES = ((1, 0), (1, 1), (0, 1), (1, -1))
_SQUARE_TERRITORY = ((0, 1), (1, 0), (0, -1), (-1, 0))
# Hex directions in (dx, dy); dz = -dx-dy.
_HEX_DIRS = ((1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1))
_HEX_LINE_AXES = ((1, 0), (1, -1), (0, -1))
# The reference grows border-marker clusters with these eight x/y offsets on every board
# but `hexagonal` (rules.md 9.3, D12); on hex8 that includes two distance-2 cells.
_MOORE_XY = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))


@dataclass(frozen=True, eq=False)
class Geometry:
    """Everything about one board that does not change during a game."""

    board: str
    is_hex: bool
    size: int  # canonical serialized size: 8, 19, 9 (hex8), 25 (hexagonal)
    radius: int  # hex radius; 0 on square boards
    n: int  # number of cells
    rings_per_player: int
    coords: tuple[tuple[int, ...], ...]  # (x, y) or (x, y, z) per cell
    keys: tuple[str, ...]  # "x,y" or "x,y,z" per cell
    index: dict[tuple[int, ...], int]  # coords (and (x, y) on hex) -> cell
    rays: tuple[tuple[tuple[int, ...], ...], ...]  # [cell][direction] -> cells outward
    line_axes: tuple[tuple[int, int], ...]  # (forward dir, backward dir) indices into rays
    neighbours: tuple[tuple[int, ...], ...]  # [cell] -> movement-adjacent cells
    territory_neighbours: tuple[tuple[int, ...], ...]
    bit: tuple[int, ...]  # [cell] -> 1 << bit position
    cell_of_bitpos: tuple[int, ...]  # bit position -> cell, -1 for padding
    valid: int  # bitboard of all cells
    territory_shifts: tuple[int, ...]
    territory_steps: tuple[tuple[int, ...], tuple[int, ...]]  # (left shifts, right shifts)
    moore_shifts: tuple[int, ...]  # border-marker growth shifts; empty = no growth
    moore_steps: tuple[tuple[int, ...], tuple[int, ...]]
    line_shifts: tuple[int, ...]  # one shift per line axis
    move_shifts: tuple[int, ...]  # one shift per movement direction
    nbytes: int  # bytes of a bitboard
    byte_cells: list[tuple[int, ...] | None]  # [byte index * 256 + byte value] -> cells of those bits (filled lazily)

    def cells_of(self, bits: int) -> list[int]:
        """Cells of a bitboard, in ascending bit order."""
        out: list[int] = []
        table = self.byte_cells
        base = 0
        for v in bits.to_bytes(self.nbytes, "little"):
            if v:
                cells = table[base + v]
                if cells is None:
                    cells = table[base + v] = self._byte_cells(base + v)
                out.extend(cells)
            base += 256
        return out

    def _byte_cells(self, slot: int) -> tuple[int, ...]:
        first = (slot >> 8) * 8
        v = slot & 255
        return tuple(self.cell_of_bitpos[first + i] for i in range(8) if v >> i & 1)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Pickle by name: states sent between processes share the cached tables.
        return geometry, (self.board,)

    def bits_of(self, cells: Iterable[int]) -> int:
        b = 0
        bit = self.bit
        for c in cells:
            b |= bit[c]
        return b


def rings_per_player(board: str) -> int:
    return _RINGS_PER_PLAYER[board]


@cache
def geometry(board: str) -> Geometry:
    """The (cached) geometry of a board name from `BOARDS`."""
    if board in _SQUARE_SIZES:
        return _build(board, False, _SQUARE_SIZES[board])
    if board in _HEX_RADII:
        return _build(board, True, _HEX_RADII[board])
    raise ValueError(f"unknown board {board!r}; expected one of {', '.join(BOARDS)}")


def _build(board: str, is_hex: bool, extent: int) -> Geometry:
    coords: tuple[tuple[int, ...], ...]
    dirs: tuple[tuple[int, int], ...]
    axes: tuple[tuple[int, int], ...]
    terr: tuple[tuple[int, int], ...]
    if is_hex:
        r = extent
        xy = [(x, y) for x in range(-r, r + 1) for y in range(max(-r, -x - r), min(r, -x + r) + 1)]
        coords = tuple((x, y, -x - y) for x, y in xy)
        keys = tuple(f"{x},{y},{z}" for x, y, z in coords)
        width, off, size = 2 * r + 1, r, 2 * r + 1
        dirs, axes, terr = _HEX_DIRS, _HEX_LINE_AXES, _HEX_DIRS
    else:
        r = 0
        xy = [(x, y) for x in range(extent) for y in range(extent)]
        coords = tuple(xy)
        keys = tuple(f"{x},{y}" for x, y in xy)
        width, off, size = extent, 0, extent
        dirs, axes, terr = _SQUARE_DIRS, _SQUARE_LINE_AXES, _SQUARE_TERRITORY
    by_xy = {p: i for i, p in enumerate(xy)}
    index: dict[tuple[int, ...], int] = {p: i for p, i in by_xy.items()}
    if is_hex:
        index.update({c: i for i, c in enumerate(coords)})

    def walk(i: int, d: tuple[int, int]) -> tuple[int, ...]:
        x, y = xy[i]
        out: list[int] = []
        while True:
            x, y = x + d[0], y + d[1]
            j = by_xy.get((x, y))
            if j is None:
                return tuple(out)
            out.append(j)

    rays = tuple(tuple(walk(i, d) for d in dirs) for i in range(len(xy)))
    neighbours = tuple(tuple(ray[0] for ray in rays[i] if ray) for i in range(len(xy)))
    territory_neighbours = tuple(
        tuple(by_xy[(xy[i][0] + dx, xy[i][1] + dy)] for dx, dy in terr if (xy[i][0] + dx, xy[i][1] + dy) in by_xy)
        for i in range(len(xy))
    )
    line_axes = tuple((dirs.index(a), dirs.index((-a[0], -a[1]))) for a in axes)

    stride = width + 1
    pos = [(y + off) * stride + (x + off) for x, y in xy]
    cell_of_bitpos = [-1] * (stride * width + 8)
    for i, p in enumerate(pos):
        cell_of_bitpos[p] = i
    bit = tuple(1 << p for p in pos)
    valid = 0
    for b in bit:
        valid |= b

    def shift(d: tuple[int, int]) -> int:
        return d[1] * stride + d[0]

    moore = () if board == "hexagonal" else tuple(shift(d) for d in _MOORE_XY)

    return Geometry(
        board=board,
        is_hex=is_hex,
        size=size,
        radius=r,
        n=len(xy),
        rings_per_player=_RINGS_PER_PLAYER[board],
        coords=coords,
        keys=keys,
        index=index,
        rays=rays,
        line_axes=line_axes,
        neighbours=neighbours,
        territory_neighbours=territory_neighbours,
        bit=bit,
        cell_of_bitpos=tuple(cell_of_bitpos),
        valid=valid,
        territory_shifts=tuple(shift(d) for d in terr),
        territory_steps=_steps(tuple(shift(d) for d in terr)),
        moore_shifts=moore,
        moore_steps=_steps(moore),
        line_shifts=tuple(shift(a) for a in axes),
        move_shifts=tuple(shift(d) for d in dirs),
        nbytes=(len(cell_of_bitpos) + 7) // 8,
        byte_cells=[None] * (256 * ((len(cell_of_bitpos) + 7) // 8)),
    )


def expand(bits: int, shifts: tuple[int, ...]) -> int:
    """`bits` plus every cell one shift away (not masked to the board)."""
    out = bits
    for s in shifts:
        out |= (bits << s) if s > 0 else (bits >> -s)
    return out


def _steps(shifts: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    up = tuple(sorted(s for s in shifts if s > 0))
    down = tuple(sorted(-s for s in shifts if s < 0))
    return up, down


def flood(seed: int, open_bits: int, steps: tuple[tuple[int, ...], tuple[int, ...]]) -> int:
    """The component of `open_bits` reachable from `seed` (seed must lie inside);
    `steps` is a geometry's (left shifts, right shifts) pair for one adjacency."""
    up, down = steps
    # Every adjacency here is symmetric (up == down), so the hot cases are unrolled:
    # square territory (2 shifts each way) and hex territory (3).
    if len(up) == 2 and up == down:
        a, b = up
        while True:
            grown = (seed | seed << a | seed >> a | seed << b | seed >> b) & open_bits
            if grown == seed:
                return seed
            seed = grown
    if len(up) == 3 and up == down:
        a, b, c = up
        while True:
            grown = (seed | seed << a | seed >> a | seed << b | seed >> b | seed << c | seed >> c) & open_bits
            if grown == seed:
                return seed
            seed = grown
    while True:
        grown = seed
        for s in up:
            grown |= seed << s
        for s in down:
            grown |= seed >> s
        grown &= open_bits
        if grown == seed:
            return seed
        seed = grown


def toward(bits: int, shift: int) -> int:
    """Bitboard whose cell c is set iff cell c + shift is set in `bits`."""
    return bits >> shift if shift > 0 else bits << -shift
