"""Ring placement (rules.md 5): legality per count, no-dead-placement, skip rules."""

from __future__ import annotations

from ringrift_hpc.rules.capture import can_capture, has_capture
from ringrift_hpc.rules.geometry import toward
from ringrift_hpc.rules.movement import can_move_stack
from ringrift_hpc.rules.moves import (
    NO_PLACEMENT_ACTION,
    SKIP_PLACEMENT,
    SWAP_SIDES,
    Move,
    tables,
)
from ringrift_hpc.rules.recovery import recovery_eligible
from ringrift_hpc.rules.state import GameState, cap_height, set_stack


def _move_reach(s: GameState) -> list[int]:
    """reach[k] (k = 1..3): bitboard of cells from which the next k cells in some direction
    are free, so a stack of height k there has a non-capture move (rules.md 6.1). The cell's
    own content does not matter.

    Memoised on the state: it depends only on the board, which is final when asked.
    """
    reach = s._reach
    if reach is not None:
        return reach
    g = s.geo
    free = g.valid & ~s.control[0] & ~s.collapsed[0]
    reach = [0, 0, 0, 0]
    for sh in g.move_shifts:
        run = g.valid
        for k in (1, 2, 3):
            run &= toward(free, sh * k)
            if not run:
                break
            reach[k] |= run
    s._reach = reach
    return reach


def supply(s: GameState, player: int) -> int:
    """Rings the player may still place: hand, capped by rings of its colour not on the board."""
    return min(s.hand[player], s.params.rings_per_player - s.on_board[player])


def add_placements(s: GameState, player: int, out: list[Move]) -> None:
    """Append every legal place_ring: counts 1-3 on empty cells, 1 on stacks, each count
    checked on its own against no-dead-placement (D7, D8)."""
    avail = supply(s, player)
    if avail <= 0:
        return
    kmax = min(3, avail)
    g = s.geo
    t = tables(g.board, g.n)
    place = t.place[player]
    reach = _move_reach(s)
    empty = g.valid & ~s.control[0] & ~s.collapsed[0] & ~s.markers[0]
    # Cells where every count can simply move: whole runs of moves come from per-byte tables.
    chunks = t.place_chunks[player][kmax]
    if chunks is None:
        chunks = t.place_chunks[player][kmax] = [None] * (256 * g.nbytes)
    slot = 0
    for v in (empty & reach[kmax]).to_bytes(g.nbytes, "little"):
        if v:
            moves = chunks[slot + v]
            if moves is None:
                moves = chunks[slot + v] = tuple(
                    place[c * 3 + k - 1] for c in g._byte_cells(slot + v) for k in range(1, kmax + 1)
                )
            out.extend(moves)
        slot += 256
    for c in g.cells_of(empty & ~reach[kmax]):
        low = g.bit[c]
        for k in range(1, kmax):
            if reach[k] & low or can_capture(s, c, k, k):
                out.append(place[c * 3 + k - 1])
        if can_capture(s, c, kmax, kmax):
            out.append(place[c * 3 + kmax - 1])
    stacks = s.stacks
    for c in g.cells_of(s.control[0]):
        st = stacks[c]
        h = len(st) + 1
        if h <= 3 and reach[h] & g.bit[c]:
            out.append(place[c * 3])
            continue
        cap = cap_height(st) + 1 if st[-1] == player else 1
        # No-dead-placement for the stack the ring would make.
        if can_move_stack(s, c, h) or can_capture(s, c, h, cap):
            out.append(place[c * 3])


def has_placement(s: GameState, player: int) -> bool:
    if supply(s, player) <= 0:
        return False
    g = s.geo
    empty = g.valid & ~s.control[0] & ~s.collapsed[0] & ~s.markers[0]
    if empty & _move_reach(s)[1]:
        return True
    out: list[Move] = []
    add_placements(s, player, out)
    return bool(out)


def stack_can_act(s: GameState, c: int) -> bool:
    return can_move_stack(s, c, len(s.stacks[c])) or has_capture(s, c)


def any_stack_can_act(s: GameState, player: int) -> bool:
    return any(stack_can_act(s, c) for c in s.geo.cells_of(s.control[player]))


def placement_phase_moves(s: GameState, player: int) -> list[Move]:
    t = tables(s.geo.board, s.geo.n)
    out: list[Move] = []
    if swap_available(s):
        out.append(t.bookkeeping(SWAP_SIDES, player))
    if s.hand[player] <= 0:
        out.append(t.bookkeeping(NO_PLACEMENT_ACTION, player))
        return out
    add_placements(s, player, out)
    if s.control[player]:
        if any_stack_can_act(s, player):
            out.append(t.bookkeeping(SKIP_PLACEMENT, player))
    elif recovery_eligible(s, player):
        out.append(t.bookkeeping(SKIP_PLACEMENT, player))
    if not out:
        out.append(t.bookkeeping(NO_PLACEMENT_ACTION, player))
    return out


def swap_available(s: GameState) -> bool:
    """Pie rule (rules.md 14): seat 2's first turn, before it has done anything, once."""
    return (
        s.params.swap_enabled
        and not s.swapped
        and s.current == 2
        and s.turn_number == 2
        and not s.turn_changed
    )


def apply_place(s: GameState, player: int, c: int, count: int) -> None:
    st = s.stacks[c]
    set_stack(s, c, st + (player,) * count)
    s.hand[player] -= count
    s.on_board[player] += count
