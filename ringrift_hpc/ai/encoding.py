"""The state encoder: one layout for every board, relative to the player to move.

Planes are [C, H, W] over a square grid that embeds the board (`board_grid`): square cell
(x, y) sits at row y, column x; hex cell (x, y, z) at row y + R, column x + R, so the six hex
neighbours are six fixed grid offsets and a 3x3 convolution sees them. Seat blocks are in
turn order from the player to move (me, next, next+1, ...), four blocks always, zero for
seats the game does not have. Every plane and scalar is listed in docs/encoding.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from ringrift_hpc.rules import GameState, geometry, legal_moves
from ringrift_hpc.rules.moves import (
    CHOOSE_LINE_OPTION,
    CHOOSE_TERRITORY_OPTION,
    PROCESS_LINE,
)
from ringrift_hpc.rules.state import LINE_PROCESSING, PHASES, TERRITORY_PROCESSING

MAX_SEATS = 4
HEIGHT_SCALE = 8.0  # stack heights, caps and buried counts are divided by this

SEAT_PLANES = ("stack", "height", "cap", "buried", "marker", "collapsed")
GLOBAL_PLANES = ("valid", "must_move", "chain_capture", "line_awaiting", "region_offered")
PLANE_NAMES: tuple[str, ...] = (
    tuple(f"seat{k}.{name}" for k in range(MAX_SEATS) for name in SEAT_PLANES) + GLOBAL_PLANES
)

FLAG_SCALARS = (
    "pending_line_cost",
    "pending_region_cost",
    "turn_changed",
    "turn_recovery",
    "swap_rule",
    "swapped",
)
SEAT_SCALARS = (
    "present",
    "hand",
    "on_board",
    "eliminated",
    "territory",
    "lps_acted",
    "lps_idle",
    "lps_leader",
    "lps_round_opener",
    "out",
)
SCALAR_NAMES: tuple[str, ...] = (
    tuple(f"phase.{p}" for p in PHASES)
    + FLAG_SCALARS
    + tuple(f"players.{n}" for n in (2, 3, 4))
    + tuple(f"seat{k}.{name}" for k in range(MAX_SEATS) for name in SEAT_SCALARS)
    + ("lps_rounds",)
)

NUM_PLANES = len(PLANE_NAMES)
NUM_SCALARS = len(SCALAR_NAMES)
_SEAT_BLOCK = len(SEAT_PLANES)
_P_STACK, _P_HEIGHT, _P_CAP, _P_BURIED, _P_MARKER, _P_COLLAPSED = range(_SEAT_BLOCK)
_G = MAX_SEATS * _SEAT_BLOCK
_P_VALID, _P_MUST, _P_CHAIN, _P_LINE, _P_REGION = range(_G, _G + len(GLOBAL_PLANES))
_S_PHASE = 0
_S_FLAGS = len(PHASES)
_S_PLAYERS = _S_FLAGS + len(FLAG_SCALARS)
_S_SEATS = _S_PLAYERS + 3
_S_LPS = _S_SEATS + MAX_SEATS * len(SEAT_SCALARS)
_PHASE_INDEX = {p: i for i, p in enumerate(PHASES)}

# Bump the revision when a plane's meaning changes without a name change; the digest covers names.
_REVISION = 1
_LAYOUT = repr(
    (_REVISION, PLANE_NAMES, SCALAR_NAMES, HEIGHT_SCALE, "grid: square row=y col=x; hex row=y+R col=x+R")
)
ENCODER_VERSION = f"enc{_REVISION}-{hashlib.sha256(_LAYOUT.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class EncoderShape:
    planes: int
    height: int
    width: int
    scalars: int


@dataclass(frozen=True, eq=False)
class BoardGrid:
    """Where a board's cells sit in the H x W grid."""

    board: str
    height: int
    width: int
    pos: np.ndarray  # [n] int64: cell -> row * width + col
    row: np.ndarray  # [n] int64
    col: np.ndarray  # [n] int64
    valid: np.ndarray  # [H*W] bool
    bitpos: np.ndarray  # [n] int64: cell -> bit position in the engine's bitboards
    nbytes: int


@cache
def board_grid(board: str) -> BoardGrid:
    """The (cached) grid embedding of a board."""
    g = geometry(board)
    size = g.size
    xs = np.array([c[0] for c in g.coords], dtype=np.int64)
    ys = np.array([c[1] for c in g.coords], dtype=np.int64)
    row, col = (ys + g.radius, xs + g.radius) if g.is_hex else (ys, xs)
    pos = row * size + col
    valid = np.zeros(size * size, dtype=bool)
    valid[pos] = True
    bitpos = np.array([b.bit_length() - 1 for b in g.bit], dtype=np.int64)
    return BoardGrid(board, size, size, pos, row, col, valid, bitpos, g.nbytes)


def encoder_shape(board: str, num_players: int) -> EncoderShape:
    """Shape of one encoded state; the same for every player count of a board."""
    if num_players not in (2, 3, 4):
        raise ValueError(f"num_players: {num_players} is not supported; use 2, 3 or 4")
    grid = board_grid(board)
    return EncoderShape(NUM_PLANES, grid.height, grid.width, NUM_SCALARS)


def relative_seats(state: GameState) -> list[int]:
    """Seats in turn order from the player to move, padded with 0 to MAX_SEATS."""
    n = state.num_players
    cur = state.current
    return [(cur - 1 + k) % n + 1 if k < n else 0 for k in range(MAX_SEATS)]


def encode_states(states: Sequence[GameState]) -> tuple[np.ndarray, np.ndarray]:
    """Planes [B, C, H, W] and scalars [B, S] (float32) for states of one board."""
    if not states:
        raise ValueError("encode_states: no states given; pass at least one")
    board = states[0].geo.board
    grid = board_grid(board)
    hw = grid.height * grid.width
    batch = len(states)
    planes = np.zeros((batch, NUM_PLANES, hw), dtype=np.float32)
    rows: list[list[float]] = []
    flat = planes.reshape(-1)
    nbytes = grid.nbytes
    bitboards: list[bytes] = []
    idx: list[int] = []
    val: list[float] = []
    ones: list[int] = []
    for b, s in enumerate(states):
        if s.geo.board != board:
            raise ValueError(
                f"encode_states: state {b} is on {s.geo.board}, state 0 on {board}; encode one board per call"
            )
        order = relative_seats(s)
        for seat in order:
            bitboards.append(s.markers[seat].to_bytes(nbytes, "little") if seat else bytes(nbytes))
            bitboards.append(s.collapsed[seat].to_bytes(nbytes, "little") if seat else bytes(nbytes))
        _stack_entries(s, order, grid, b * NUM_PLANES * hw, hw, idx, val)
        _decision_entries(s, grid, b * NUM_PLANES * hw, hw, ones)
        rows.append(_scalars(s, order))
    flat[np.asarray(idx, dtype=np.int64)] = np.asarray(val, dtype=np.float32)
    flat[np.asarray(ones, dtype=np.int64)] = 1.0
    bits = np.unpackbits(np.frombuffer(b"".join(bitboards), dtype=np.uint8), bitorder="little")
    bits = bits.reshape(batch, MAX_SEATS, 2, nbytes * 8)[..., grid.bitpos]
    seat_view = planes[:, :_G].reshape(batch, MAX_SEATS, _SEAT_BLOCK, hw)
    seat_view[:, :, _P_MARKER, grid.pos] = bits[:, :, 0]
    seat_view[:, :, _P_COLLAPSED, grid.pos] = bits[:, :, 1]
    planes[:, _P_VALID, grid.pos] = 1.0
    return planes.reshape(batch, NUM_PLANES, grid.height, grid.width), np.array(rows, dtype=np.float32)


def _stack_entries(
    s: GameState, order: list[int], grid: BoardGrid, base: int, hw: int, idx: list[int], val: list[float]
) -> None:
    """Flat indices and values of the stack planes (presence, height, cap, buried counts)."""
    rel = [0] * (s.num_players + 1)
    for k, seat in enumerate(order):
        if seat:
            rel[seat] = k
    pos = _positions(grid.board)
    stacks = s.stacks
    block = _SEAT_BLOCK * hw
    o_height, o_cap, o_buried = _P_HEIGHT * hw, _P_CAP * hw, _P_BURIED * hw
    for c in s.geo.cells_of(s.control[0]):
        top, height, cap, buried = _stack_summary(stacks[c])
        p = pos[c]
        at = base + rel[top] * block + p
        idx += (at, at + o_height, at + o_cap)
        val += (1.0, height, cap)
        for owner, count in buried:
            idx.append(base + rel[owner] * block + o_buried + p)
            val.append(count)


@cache
def _positions(board: str) -> list[int]:
    pos: list[int] = board_grid(board).pos.tolist()
    return pos


@lru_cache(maxsize=1 << 16)
def _stack_summary(rings: tuple[int, ...]) -> tuple[int, float, float, tuple[tuple[int, float], ...]]:
    """Controller, scaled height, scaled cap, and scaled counts of each seat's rings below the cap."""
    h = len(rings)
    top = rings[-1]
    cap = 1
    while cap < h and rings[h - 1 - cap] == top:
        cap += 1
    counts: dict[int, int] = {}
    for owner in rings[: h - cap]:
        counts[owner] = counts.get(owner, 0) + 1
    buried = tuple((owner, k / HEIGHT_SCALE) for owner, k in sorted(counts.items()))
    return top, h / HEIGHT_SCALE, cap / HEIGHT_SCALE, buried


def _decision_entries(s: GameState, grid: BoardGrid, base: int, hw: int, idx: list[int]) -> None:
    """Flat indices of the pending-decision planes, whose entries are all 1."""
    pos = _positions(grid.board)
    extra: list[int] = []
    if s.must_move >= 0:
        extra.append(base + _P_MUST * hw + pos[s.must_move])
    if s.chain_pos >= 0:
        extra.append(base + _P_CHAIN * hw + pos[s.chain_pos])
    if s.phase == LINE_PROCESSING and not s.pending_line:
        cells = {c for m in legal_moves(s) if m.kind in (PROCESS_LINE, CHOOSE_LINE_OPTION) for c in m.cells}
        extra += [base + _P_LINE * hw + pos[c] for c in cells]
    elif s.phase == TERRITORY_PROCESSING and not s.pending_region:
        cells = {c for m in legal_moves(s) if m.kind == CHOOSE_TERRITORY_OPTION for c in m.cells}
        extra += [base + _P_REGION * hw + pos[c] for c in cells]
    idx.extend(extra)


def _scalars(s: GameState, order: list[int]) -> list[float]:
    p = s.params
    out = [0.0] * NUM_SCALARS
    out[_S_PHASE + _PHASE_INDEX[s.phase]] = 1.0
    out[_S_FLAGS : _S_FLAGS + len(FLAG_SCALARS)] = (
        s.pending_line,
        s.pending_region,
        s.turn_changed,
        s.turn_recovery,
        p.swap_enabled,
        s.swapped,
    )
    out[_S_PLAYERS + s.num_players - 2] = 1.0
    rings = p.rings_per_player
    width = len(SEAT_SCALARS)
    for k, seat in enumerate(order):
        if not seat:
            continue
        hand, on_board = s.hand[seat], s.on_board[seat]
        mask = s.lps_mask[seat]
        at = _S_SEATS + k * width
        out[at : at + width] = (
            1.0,
            hand / rings,
            on_board / rings,
            s.eliminated[seat] / p.victory_rings,
            s.collapsed[seat].bit_count() / p.territory_minimum,
            mask == 1,
            mask == 0,
            s.lps_player == seat,
            s.lps_first == seat,
            hand + on_board == 0,
        )
    out[_S_LPS] = s.lps_count / p.lps_rounds
    return out
