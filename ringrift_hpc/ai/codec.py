"""The action codec: every legal move of a board <-> one policy index.

Layout (docs/action-space.md has the full table and the injectivity argument): spatial
families of planes over the encoder's grid, index = plane * H * W + row * W + col, then a
non-spatial tail with one index per bookkeeping move type. A move's slot is a function of
the move and the state alone; `symmetry_table` gives the permutation of all indices under a
board symmetry, built from what each slot stands for geometrically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ringrift_hpc.ai.encoding import board_grid, relative_seats
from ringrift_hpc.rules import GameState, Move, geometry, legal_moves
from ringrift_hpc.rules.geometry import expand
from ringrift_hpc.rules.moves import (
    CHOOSE_LINE_OPTION,
    CHOOSE_TERRITORY_OPTION,
    CONTEXT_LINE,
    CONTEXT_RECOVERY,
    CONTEXT_TERRITORY,
    CONTINUE_CAPTURE_SEGMENT,
    ELIMINATE_RINGS_FROM_STACK,
    FORCED_ELIMINATION,
    MOVE_STACK,
    NO_LINE_ACTION,
    NO_MOVEMENT_ACTION,
    NO_PLACEMENT_ACTION,
    NO_TERRITORY_ACTION,
    OVERTAKING_CAPTURE,
    PLACE_RING,
    PROCESS_LINE,
    RECOVERY_LINE,
    RECOVERY_SLIDE,
    RESIGN,
    SKIP_CAPTURE,
    SKIP_PLACEMENT,
    SKIP_RECOVERY,
    SKIP_TERRITORY_PROCESSING,
    SWAP_SIDES,
    TIMEOUT,
)
from ringrift_hpc.rules.recovery import extraction_stacks

if TYPE_CHECKING:
    from ringrift_hpc.ai.symmetry import Symmetry

MAX_SEATS = 4
# Recovery slides name their extraction stack by its rank among the mover's extraction
# stacks, nearest to the landing cell first (`extraction_rank`). Ranks with a slot, per board:
# on the small boards every ring of a seat (18 by default), so no default game can exceed
# them; on the big boards a bound (random play reached 17 on hexagonal). A slide beyond its
# board's slots raises CodecError.
EXTRACTION_SLOTS: dict[str, int] = {"square8": 18, "hex8": 18, "square19": 32, "hexagonal": 32}
# Option-2 recovery windows are named from the landing cell: centred on it, or reaching 2 or 3
# cells beyond it toward one direction (the longer side). Lines are 3 or 4 long, so that is all.
WINDOW_REACHES = (2, 3)
CONTEXTS = (CONTEXT_LINE, CONTEXT_TERRITORY, CONTEXT_RECOVERY)
TAIL_KINDS = (
    SWAP_SIDES,
    SKIP_PLACEMENT,
    NO_PLACEMENT_ACTION,
    SKIP_CAPTURE,
    SKIP_RECOVERY,
    NO_MOVEMENT_ACTION,
    NO_LINE_ACTION,
    SKIP_TERRITORY_PROCESSING,
    NO_TERRITORY_ACTION,
    RESIGN,
    TIMEOUT,
)
_MOVING = frozenset({MOVE_STACK, OVERTAKING_CAPTURE, CONTINUE_CAPTURE_SEGMENT})
_LINES = frozenset({PROCESS_LINE, CHOOSE_LINE_OPTION})
_TAIL = {kind: i for i, kind in enumerate(TAIL_KINDS)}
# Move types whose slot depends on the state as well (region wall, extraction rank).
_STATE_DEPENDENT = frozenset({CHOOSE_TERRITORY_OPTION, RECOVERY_SLIDE})
# Moves whose slot `indices` remembers per codec; beyond this many, misses are not stored.
INDEX_CACHE_LIMIT = 1 << 17

_REVISION = 1
_LAYOUT = repr(
    (
        _REVISION,
        (
            "place(count) move(dir,dist) line_all(axis,parity) line_window(axis,parity) "
            "eliminate(context) forced "
            "region(wall) recovery(dir,extract) recovery_window(dir,toward,reach|centred) | tail"
        ),
        sorted(EXTRACTION_SLOTS.items()),
        WINDOW_REACHES,
        CONTEXTS,
        TAIL_KINDS,
    )
)
CODEC_VERSION = f"codec{_REVISION}-{hashlib.sha256(_LAYOUT.encode()).hexdigest()[:12]}"


class CodecError(ValueError):
    """A move or index the codec cannot map."""


@dataclass(frozen=True)
class Family:
    """A block of consecutive spatial planes."""

    name: str
    first: int  # first plane
    planes: int


class ActionCodec:
    """Policy indices for one board (the layout does not depend on the player count)."""

    def __init__(self, board: str, num_players: int) -> None:
        if num_players not in (2, 3, 4):
            raise ValueError(f"num_players: {num_players} is not supported; use 2, 3 or 4")
        g = geometry(board)
        grid = board_grid(board)
        self.board = board
        self.num_players = num_players
        self.height = grid.height
        self.width = grid.width
        self._geo = g
        self._pos = grid.pos
        self.directions = len(g.rays[0])
        self.axes = len(g.line_axes)
        self.max_distance = max(len(ray) for rays in g.rays for ray in rays)
        self.extraction_slots = EXTRACTION_SLOTS[board]
        # Per slide direction: (toward direction, reach) pairs, then one plane for centred windows.
        self._window_planes = self.directions * len(WINDOW_REACHES) + 1
        sizes = (
            ("place", 3),
            ("move", self.directions * self.max_distance),
            ("line_all", self.axes * 2),
            ("line_window", self.axes * 2),
            ("eliminate", len(CONTEXTS)),
            ("forced", 1),
            ("region", MAX_SEATS + 1),
            ("recovery", self.directions * (self.extraction_slots + 1)),
            ("recovery_window", self.directions * self._window_planes),
        )
        families = []
        first = 0
        for name, count in sizes:
            families.append(Family(name, first, count))
            first += count
        self.families = tuple(families)
        self._family = {f.name: f for f in families}
        self.spatial_planes = first
        self.hw = self.height * self.width
        self.num_nonspatial = len(TAIL_KINDS)
        self.tail_start = self.spatial_planes * self.hw
        self.size = self.tail_start + self.num_nonspatial
        self._build_tables()

    @staticmethod
    @cache
    def for_board(board: str, num_players: int) -> ActionCodec:
        """The (cached) codec of a variant."""
        return ActionCodec(board, num_players)

    def __repr__(self) -> str:
        return (
            f"ActionCodec({self.board}, {self.num_players}p, {self.spatial_planes} planes, size {self.size})"
        )

    # ------------------------------------------------------------------ tables

    def _build_tables(self) -> None:
        g = self._geo
        n = g.n
        # direction[a, b] / distance[a, b]: b lies `distance` steps from a along `direction`.
        self._direction = np.full((n, n), -1, dtype=np.int64)
        self._distance = np.zeros((n, n), dtype=np.int64)
        for a in range(n):
            for d, ray in enumerate(g.rays[a]):
                for i, b in enumerate(ray):
                    self._direction[a, b] = d
                    self._distance[a, b] = i + 1
        # axis_of[d] = (axis, reversed): d is the axis's forward (False) or backward (True) direction
        self._axis_of = [(-1, False)] * self.directions
        self._opposite = [-1] * self.directions
        for a, (fwd, back) in enumerate(g.line_axes):
            self._axis_of[fwd] = (a, False)
            self._axis_of[back] = (a, True)
            self._opposite[fwd], self._opposite[back] = back, fwd
        pos = self._pos
        place = np.full((n, 4), -1, dtype=np.int64)
        for k in (1, 2, 3):
            place[:, k] = (self._family["place"].first + k - 1) * self.hw + pos
        self._place = place
        move_plane = self._family["move"].first + self._direction * self.max_distance + self._distance - 1
        self._move = np.where(self._direction >= 0, move_plane * self.hw + pos[:, None], -1)
        # Python lists: per-move lookups in `indices` are faster on lists than on arrays.
        self._place_list = self._place.tolist()
        self._move_list = self._move.tolist()
        self._tables: dict[int, np.ndarray] = {}
        # move -> slot for the moves whose slot is a function of the move alone: the engine
        # hands out the same few thousand moves again and again, and a dict lookup is the
        # cheapest way from a move to its slot.
        self._known: dict[Move, int] = {}

    def _at(self, family: str, plane: int, cell: int) -> int:
        return (self._family[family].first + plane) * self.hw + int(self._pos[cell])

    # ------------------------------------------------------------------ moves -> indices

    def index(self, state: GameState, move: Move) -> int:
        """The policy index of a move of `state`."""
        kind = move.kind
        if kind == PLACE_RING:
            return int(self._place[move.to, move.placement_count])
        if kind in _MOVING:
            i = int(self._move[move.frm, move.to])
            if i < 0:
                raise CodecError(f"{move!r}: from and to are not on one movement ray")
            return i
        tail = _TAIL.get(kind)
        if tail is not None:
            return self.tail_start + tail
        if kind in _LINES:
            if move.option == 2:
                return self._line_index("line_window", move.collapse)
            return self._line_index("line_all", move.cells)
        if kind == ELIMINATE_RINGS_FROM_STACK:
            return self._at("eliminate", CONTEXTS.index(move.mode), move.to)
        if kind == FORCED_ELIMINATION:
            return self._at("forced", 0, move.to)
        if kind == CHOOSE_TERRITORY_OPTION:
            return self._region_index(state, move)
        if kind == RECOVERY_SLIDE:
            return self._recovery_index(state, move)
        raise CodecError(f"{move!r}: move type {kind!r} has no policy slot")

    def indices(self, state: GameState, moves: Sequence[Move]) -> np.ndarray:
        """Policy indices of moves of `state`, in order (int64)."""
        known = self._known
        try:
            return np.fromiter(map(known.__getitem__, moves), dtype=np.int64, count=len(moves))
        except KeyError:
            pass
        out: list[int] = []
        for m in moves:
            i = known.get(m)
            if i is None:
                i = self.index(state, m)
                if m.kind not in _STATE_DEPENDENT and len(known) < INDEX_CACHE_LIMIT:
                    known[m] = i
            out.append(i)
        return np.array(out, dtype=np.int64)

    def legal_indices(self, state: GameState) -> np.ndarray:
        """Policy indices of `legal_moves(state)`, aligned with it."""
        return self.indices(state, legal_moves(state))

    def move(self, state: GameState, index: int) -> Move:
        """The legal move of `state` with this policy index."""
        moves = legal_moves(state)
        hits = np.flatnonzero(self.legal_indices(state) == index)
        if len(hits) == 0:
            raise CodecError(f"index {index} ({self.describe(index)}) is not a legal move of {state!r}")
        return moves[int(hits[0])]

    def describe(self, index: int) -> str:
        """Family, plane and anchor cell (or tail move type) of an index, for messages."""
        if not 0 <= index < self.size:
            return f"out of range 0..{self.size - 1}"
        if index >= self.tail_start:
            return f"tail {TAIL_KINDS[index - self.tail_start]}"
        plane, rest = divmod(index, self.hw)
        row, col = divmod(rest, self.width)
        for f in self.families:
            if f.first <= plane < f.first + f.planes:
                return f"{f.name} plane {plane - f.first} at row {row}, col {col}"
        raise AssertionError(index)

    def _line_index(self, family: str, cells: tuple[int, ...]) -> int:
        axis, reverse = self._axis_of[int(self._direction[cells[0], cells[1]])]
        run = cells[::-1] if reverse else cells
        return self._at(family, axis * 2 + (len(run) + 1) % 2, run[(len(run) - 1) // 2])

    def _recovery_index(self, state: GameState, move: Move) -> int:
        d = int(self._direction[move.frm, move.to])
        if d < 0 or self._distance[move.frm, move.to] != 1:
            raise CodecError(f"{move!r}: a recovery slide goes to a neighbouring cell")
        if move.mode == RECOVERY_LINE and move.option == 2:
            return self._at("recovery_window", d * self._window_planes + self._window_plane(move), move.frm)
        slots = self.extraction_slots
        if move.extract < 0:
            rank = slots
        else:
            rank = extraction_rank(state, move)[0]
            if rank >= slots:
                raise CodecError(
                    f"{move!r}: extraction stack rank {rank} exceeds the {slots} slots of {self.board} "
                    "(EXTRACTION_SLOTS in ringrift_hpc/ai/codec.py)"
                )
        return self._at("recovery", d * (slots + 1) + rank, move.frm)

    def _window_plane(self, move: Move) -> int:
        """Plane of an option-2 window within its slide direction's block (the run's axis is
        fixed by the state, so the direction toward the window's longer side names it)."""
        window = move.collapse
        along = int(self._direction[window[0], window[1]])
        before = window.index(move.to)
        after = len(window) - 1 - before
        if before == after:
            return self._window_planes - 1
        toward, reach = (along, after) if after > before else (self._opposite[along], before)
        if reach not in WINDOW_REACHES:
            raise CodecError(f"{move!r}: a window reaching {reach} cells past the landing has no slot")
        return toward * len(WINDOW_REACHES) + WINDOW_REACHES.index(reach)

    def _region_index(self, state: GameState, move: Move) -> int:
        wall = region_wall(state, move.cells)
        return self._at("region", wall, region_anchor(self.board, tuple(sorted(move.cells)))[0])

    # ------------------------------------------------------------------ symmetries

    def symmetry_table(self, sym_index: int) -> np.ndarray:
        """perm[i] = the index of the image, under symmetry `sym_index`, of what index i stands for."""
        table = self._tables.get(sym_index)
        if table is None:
            from ringrift_hpc.ai.symmetry import symmetries

            table = self._tables[sym_index] = self._permutation(symmetries(self.board)[sym_index])
        return table

    def _permutation(self, sym: Symmetry) -> np.ndarray:
        g = self._geo
        hw = self.hw
        pos = self._pos
        cells = np.arange(g.n)
        image = pos[sym.cell_perm]
        dperm = sym.dir_perm
        perm = np.arange(self.size, dtype=np.int64)

        def put(family: str, plane: int, plane_to: int, src_cells: np.ndarray, dst_pos: np.ndarray) -> None:
            f = self._family[family].first
            perm[(f + plane) * hw + pos[src_cells]] = (f + plane_to) * hw + dst_pos

        for k in range(3):
            put("place", k, k, cells, image)
        for d in range(self.directions):
            for dist in range(self.max_distance):
                p = d * self.max_distance + dist
                put("move", p, dperm[d] * self.max_distance + dist, cells, image)
        for c in range(len(CONTEXTS)):
            put("eliminate", c, c, cells, image)
        put("forced", 0, 0, cells, image)
        for w in range(MAX_SEATS + 1):
            put("region", w, w, cells, image)
        ranks = self.extraction_slots + 1
        for d in range(self.directions):
            for r in range(ranks):
                put("recovery", d * ranks + r, dperm[d] * ranks + r, cells, image)
        for a, (fwd, _back) in enumerate(g.line_axes):
            a2, reverse = self._axis_of[dperm[fwd]]
            for family in ("line_all", "line_window"):
                put(family, a * 2, a2 * 2, cells, image)
                # Even runs are anchored on the back cell of their middle pair; a reversal
                # makes the image of the front cell the new anchor.
                has_next = np.array([bool(g.rays[c][fwd]) for c in range(g.n)])
                src = cells[has_next]
                front = np.array([g.rays[c][fwd][0] for c in src], dtype=np.int64)
                dst = pos[sym.cell_perm[front]] if reverse else image[has_next]
                put(family, a * 2 + 1, a2 * 2 + 1, src, dst)
        block, reaches = self._window_planes, len(WINDOW_REACHES)
        for d in range(self.directions):
            put("recovery_window", d * block + block - 1, dperm[d] * block + block - 1, cells, image)
            for u in range(self.directions):
                for r in range(reaches):
                    put(
                        "recovery_window",
                        d * block + u * reaches + r,
                        dperm[d] * block + dperm[u] * reaches + r,
                        cells,
                        image,
                    )
        if not np.array_equal(np.sort(perm), np.arange(self.size)):
            raise AssertionError(f"{self!r}: symmetry {sym.index} does not permute the policy indices")
        return perm


def extraction_rank(state: GameState, move: Move) -> tuple[int, bool]:
    """Rank of a recovery slide's extraction stack among the mover's extraction stacks, and
    whether that rank commutes with every symmetry.

    Stacks are ordered by squared lattice distance to the landing cell, then to the origin
    (both unchanged by any symmetry), then by cell index. Only the last tie-break is not
    symmetric: it decides between stacks mirrored across the line of the slide.
    """
    stacks = extraction_stacks(state, move.player)
    if move.extract not in stacks:
        raise CodecError(f"{move!r}: the extraction stack holds no buried ring of seat {move.player}")
    dist = _squared_distances(state.geo.board)
    keys = {e: (int(dist[move.to, e]), int(dist[move.frm, e])) for e in stacks}
    mine = keys[move.extract]
    rank = sum(1 for e, k in keys.items() if k < mine or (k == mine and e < move.extract))
    tied = sum(1 for k in keys.values() if k == mine) > 1
    return rank, not tied


@cache
def _squared_distances(board: str) -> np.ndarray:
    """[n, n] squared Euclidean distances of the board's lattice (hex: x^2 + xy + y^2 in axial units)."""
    g = geometry(board)
    x = np.array([c[0] for c in g.coords], dtype=np.int64)
    y = np.array([c[1] for c in g.coords], dtype=np.int64)
    dx = x[:, None] - x[None, :]
    dy = y[:, None] - y[None, :]
    return dx * dx + dx * dy + dy * dy if g.is_hex else dx * dx + dy * dy


def region_wall(state: GameState, cells: tuple[int, ...]) -> int:
    """Which wall a region is a connected component behind: the first seat in turn order from
    the mover whose markers (with collapsed cells and the edge) enclose it, or MAX_SEATS when
    nothing but collapsed cells and the edge does. Regions behind one wall are disjoint."""
    g = state.geo
    region = g.bits_of(cells)
    open_cells = g.valid & ~state.collapsed[0]
    border = expand(region, g.territory_shifts) & open_cells & ~region
    for k, seat in enumerate(relative_seats(state)):
        if seat and not region & state.markers[seat] and not border & ~state.markers[seat]:
            return k
    if not border:
        return MAX_SEATS
    raise CodecError(f"region {list(cells)} of {state!r} is not enclosed by one colour's markers")


@lru_cache(maxsize=65536)
def region_anchor(board: str, cells: tuple[int, ...]) -> tuple[int, bool]:
    """The cell a region's slot is anchored on, and whether that choice commutes with every
    symmetry.

    The region is moved to its canonical image (the lexicographically smallest sorted cell
    list over the group); there the anchor is the smallest cell fixed by every symmetry that
    maps the region onto itself, carried back to the region. Without such a cell (a region
    mirrored onto itself across a line between cells) the smallest cell of the canonical image
    is used and the choice is not symmetric (documented in docs/action-space.md).
    """
    from ringrift_hpc.ai.symmetry import symmetries

    syms = symmetries(board)
    perms = np.stack([s.cell_perm for s in syms])
    images = np.sort(perms[:, np.asarray(cells, dtype=np.int64)], axis=1)
    best = int(np.lexsort(images.T[::-1])[0])
    canon = images[best]
    stabiliser = [i for i in range(len(syms)) if np.array_equal(np.sort(perms[i][canon]), canon)]
    fixed = [int(c) for c in canon if all(perms[i][c] == c for i in stabiliser)]
    anchor = fixed[0] if fixed else int(canon[0])
    back = int(np.flatnonzero(perms[best] == anchor)[0])
    return back, bool(fixed)
