"""Ring placement (rules.md 5): legality per count, no-dead-placement, skip rules."""

from __future__ import annotations

from ringrift_hpc.rules.capture import can_capture, has_capture
from ringrift_hpc.rules.movement import has_stack_move
from ringrift_hpc.rules.moves import NO_PLACEMENT_ACTION, SKIP_PLACEMENT, SWAP_SIDES, tables
from ringrift_hpc.rules.recovery import recovery_eligible
from ringrift_hpc.rules.state import GameState, cap_height, set_stack


def _alive_counts(s: GameState, c: int, kmax: int) -> int:
    """Bit k set iff a new k-ring stack on the empty cell c could move or capture (k <= kmax)."""
    stacks = s.stacks
    cells = s.cells
    full = (1 << (kmax + 1)) - 2
    res = 0
    for ray in s.geo.rays[c]:
        f = 0
        for idx, t in enumerate(ray):
            if cells[t] < 0:
                break
            st = stacks[t]
            if st is not None:
                ct = cap_height(st)
                if ct <= kmax:
                    dt = idx + 1
                    g = 0
                    for land in ray[dt : dt + kmax]:
                        if cells[land] < 0 or stacks[land] is not None:
                            break
                        g += 1
                    for k in range(ct, kmax + 1):
                        if g >= max(1, k - dt):
                            res |= 1 << k
                break
            f += 1
            if f >= kmax:
                break
        if f:
            res |= (1 << (min(f, kmax) + 1)) - 2
        if res == full:
            break
    return res


def _alive(s: GameState, c: int, h: int, cap: int) -> bool:
    """No-dead-placement for a hypothetical stack of height h and cap `cap` on c."""
    stacks = s.stacks
    cells = s.cells
    for ray in s.geo.rays[c]:
        if len(ray) < h:
            continue
        for t in ray[:h]:
            if cells[t] < 0 or stacks[t] is not None:
                break
        else:
            return True
    return can_capture(s, c, h, cap)


def supply(s: GameState, player: int) -> int:
    """Rings the player may still place: hand, capped by rings of its colour not on the board."""
    return min(s.hand[player], s.params.rings_per_player - s.on_board[player])


def add_placements(s: GameState, player: int, out: list) -> None:
    avail = supply(s, player)
    if avail <= 0:
        return
    kmax = min(3, avail)
    place = tables(s.geo.board, s.geo.n).place[player]
    stacks = s.stacks
    cells = s.cells
    for c in range(s.geo.n):
        if cells[c]:
            continue
        st = stacks[c]
        if st is None:
            alive = _alive_counts(s, c, kmax)
            if alive:
                base = c * 4
                for k in range(1, kmax + 1):
                    if alive >> k & 1:
                        out.append(place[base + k])
        else:
            cap = cap_height(st) + 1 if st[-1] == player else 1
            if _alive(s, c, len(st) + 1, cap):
                out.append(place[c * 4 + 1])


def has_placement(s: GameState, player: int) -> bool:
    if supply(s, player) <= 0:
        return False
    out: list = []
    add_placements(s, player, out)
    return bool(out)


def stack_can_act(s: GameState, c: int) -> bool:
    return has_stack_move(s, c) or has_capture(s, c)


def any_stack_can_act(s: GameState, player: int) -> bool:
    return any(stack_can_act(s, c) for c in s.geo.cells_of(s.control[player]))


def placement_phase_moves(s: GameState, player: int) -> list:
    t = tables(s.geo.board, s.geo.n)
    out: list = []
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
    st = s.stacks[c] or ()
    set_stack(s, c, st + (player,) * count)
    s.hand[player] -= count
    s.on_board[player] += count
