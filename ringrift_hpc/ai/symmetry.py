"""Board symmetries: D4 on square boards, D6 on hex boards, for states, planes and policies.

A `Symmetry` is a linear map of the board's lattice about its centre. Everything else is
derived from two tables: where each cell goes (`cell_perm`) and where each movement
direction goes (`dir_perm`). Encoded planes live on the grid of `encoding.board_grid`;
policy indices are permuted by the action codec's own table (`ActionCodec.symmetry_table`), so
that a direction-carrying or line-anchored slot moves with the geometry it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ringrift_hpc.ai.encoding import board_grid
from ringrift_hpc.rules import GameState, Move, geometry, state_from_json, state_to_json
from ringrift_hpc.rules.geometry import Geometry
from ringrift_hpc.rules.moves import (
    CHOOSE_LINE_OPTION,
    CHOOSE_TERRITORY_OPTION,
    PROCESS_LINE,
    RECOVERY_SLIDE,
)

Matrix = tuple[tuple[int, int], tuple[int, int]]

# Generators as integer matrices on (x, y): a quarter turn and a mirror for squares; on hex
# boards (axial x, y with z = -x-y) a sixth turn (x, y, z) -> (-z, -x, -y) and the x/y swap.
_SQUARE_TURN: Matrix = ((0, -1), (1, 0))
_HEX_TURN: Matrix = ((1, 1), (-1, 0))
_MIRROR: Matrix = ((0, 1), (1, 0))
_IDENTITY: Matrix = ((1, 0), (0, 1))


@dataclass(frozen=True, eq=False)
class Symmetry:
    """One element of the board's symmetry group; index 0 is the identity."""

    board: str
    index: int
    name: str
    matrix: Matrix
    cell_perm: np.ndarray  # [n] int64: cell -> image cell
    dir_perm: tuple[int, ...]  # movement direction index -> image direction index
    grid_src: np.ndarray  # [H*W] int64: output grid position -> input grid position

    def __repr__(self) -> str:
        return f"Symmetry({self.board}, {self.index}: {self.name})"


def _mul(a: Matrix, b: Matrix) -> Matrix:
    (a00, a01), (a10, a11) = a
    (b00, b01), (b10, b11) = b
    return ((a00 * b00 + a01 * b10, a00 * b01 + a01 * b11), (a10 * b00 + a11 * b10, a10 * b01 + a11 * b11))


def _apply(m: Matrix, x: int, y: int) -> tuple[int, int]:
    return m[0][0] * x + m[0][1] * y, m[1][0] * x + m[1][1] * y


def _direction_vectors(g: Geometry) -> list[tuple[int, int]]:
    """Movement direction vectors in the geometry's ray order, read off the rays themselves."""
    out = []
    for d in range(len(g.rays[0])):
        for c in range(g.n):
            ray = g.rays[c][d]
            if ray:
                a, b = g.coords[c], g.coords[ray[0]]
                out.append((b[0] - a[0], b[1] - a[1]))
                break
    return out


@cache
def symmetries(board: str) -> tuple[Symmetry, ...]:
    """The 8 (square) or 12 (hex) symmetries of a board: turn^k for k = 0..K-1, then turn^k
    after the mirror; index 0 is the identity."""
    g = geometry(board)
    grid = board_grid(board)
    turn, order = (_HEX_TURN, 6) if g.is_hex else (_SQUARE_TURN, 4)
    dirs = _direction_vectors(g)
    # Square cells are centred by doubling: X = 2x - (N-1) is symmetric about 0.
    span = 0 if g.is_hex else g.size - 1
    out: list[Symmetry] = []
    for mirrored in (False, True):
        m = _MIRROR if mirrored else _IDENTITY
        for k in range(order):
            perm = np.empty(g.n, dtype=np.int64)
            for c in range(g.n):
                x, y = g.coords[c][0], g.coords[c][1]
                if g.is_hex:
                    nx, ny = _apply(m, x, y)
                else:
                    X, Y = _apply(m, 2 * x - span, 2 * y - span)
                    nx, ny = (X + span) // 2, (Y + span) // 2
                perm[c] = g.index[(nx, ny)]
            dir_perm = tuple(dirs.index(_apply(m, *v)) for v in dirs)
            src = np.arange(grid.height * grid.width, dtype=np.int64)
            src[grid.pos[perm]] = grid.pos
            name = f"{'mirror+' if mirrored else ''}turn{k * (360 // order)}"
            out.append(Symmetry(board, len(out), name, m, perm, dir_perm, src))
            m = _mul(turn, m)
    if len({s.matrix for s in out}) != 2 * order:
        raise AssertionError(f"symmetry generation for {board} produced duplicate elements")
    return tuple(out)


def inverse(sym: Symmetry) -> Symmetry:
    """The symmetry that undoes `sym`."""
    for other in symmetries(sym.board):
        if _mul(other.matrix, sym.matrix) == _IDENTITY:
            return other
    raise AssertionError(f"{sym} has no inverse")


def transform_planes(sym: Symmetry, planes: Any) -> Any:
    """Move every plane's cells to their images: planes [..., C, H, W] (numpy or torch)."""
    shape = planes.shape
    flat = planes.reshape(*shape[:-2], shape[-2] * shape[-1])
    return flat[..., sym.grid_src].reshape(shape)


def transform_move(sym: Symmetry, move: Move) -> Move:
    """The image of a move, written the way the engine writes moves (line cells along the
    board's forward axis direction, region cells ascending)."""
    perm = sym.cell_perm

    def cell(c: int) -> int:
        return int(perm[c]) if c >= 0 else -1

    kind = move.kind
    if kind in (PROCESS_LINE, CHOOSE_LINE_OPTION):
        line = _oriented(move.board, tuple(cell(c) for c in move.cells))
        window = _oriented(move.board, tuple(cell(c) for c in move.collapse))
        return move._replace(to=line[0], cells=line, collapse=window)
    if kind == CHOOSE_TERRITORY_OPTION:
        region = tuple(sorted(cell(c) for c in move.cells))
        return move._replace(to=region[0], cells=region)
    if kind == RECOVERY_SLIDE:
        run = _oriented(move.board, tuple(cell(c) for c in move.cells))
        window = _oriented(move.board, tuple(cell(c) for c in move.collapse))
        return move._replace(
            to=cell(move.to), frm=cell(move.frm), extract=cell(move.extract), cells=run, collapse=window
        )
    return move._replace(to=cell(move.to), frm=cell(move.frm), target=cell(move.target))


def _oriented(board: str, cells: tuple[int, ...]) -> tuple[int, ...]:
    """A run of cells ordered along its axis's forward direction, as the engine orders lines."""
    if len(cells) < 2:
        return cells
    g = geometry(board)
    for fwd, _back in g.line_axes:
        ray = g.rays[cells[0]][fwd]
        if ray and ray[0] == cells[1]:
            return cells
    return cells[::-1]


def transform_state(sym: Symmetry, state: GameState) -> GameState:
    """The image of a position, through the reference JSON format."""
    g = state.geo
    perm = sym.cell_perm
    obj = state_to_json(state)
    key_cell = {k: i for i, k in enumerate(g.keys)}

    def key(k: str) -> str:
        return g.keys[int(perm[key_cell[k]])]

    def pos(p: dict[str, int]) -> dict[str, int]:
        c = g.index[(p["x"], p["y"])]
        x = g.coords[int(perm[c])]
        return dict(zip("xyz", x))

    board = obj["board"]
    board["stacks"] = {key(k): {**v, "position": pos(v["position"])} for k, v in board["stacks"].items()}
    board["markers"] = {key(k): {**v, "position": pos(v["position"])} for k, v in board["markers"].items()}
    board["collapsedSpaces"] = {key(k): v for k, v in board["collapsedSpaces"].items()}
    if "chainCapturePosition" in obj:
        obj["chainCapturePosition"] = pos(obj["chainCapturePosition"])
    if "mustMoveFromStackKey" in obj:
        obj["mustMoveFromStackKey"] = key(obj["mustMoveFromStackKey"])
    return state_from_json(obj)
