"""Territory (rules.md 9): region detection, who may process a region, and its effect.

Regions are bitboards over the board's embedding (`geometry.Geometry.bit`).
"""

from __future__ import annotations

from ringrift_hpc.rules.geometry import expand, flood
from ringrift_hpc.rules.moves import CHOOSE_TERRITORY_OPTION, Move
from ringrift_hpc.rules.state import GameState, buried_bits, collapse, set_stack

_new = tuple.__new__


def find_regions(s: GameState) -> list[int]:
    """Disconnected regions, deduplicated by cell set, in detection order (rules.md 9.1).

    Memoised on the state: callers only ask once the board of the state is final.
    """
    cached = s._regions
    if cached is None:
        cached = s._regions = _detect(s)
    return cached


def _detect(s: GameState) -> list[int]:
    n = s.num_players
    on_board = s.on_board
    control = s.control
    active = [p for p in range(1, n + 1) if on_board[p] > 0]
    n_active = len(active)
    if not n_active:
        return []
    g = s.geo
    steps = g.territory_steps
    open_all = g.valid & ~s.collapsed[0]
    found: list[int] = []
    for colour in range(1, n + 1):
        walls = s.markers[colour]
        if not walls:
            continue
        open_bits = open_all & ~walls
        rest = open_bits
        while rest:
            comp = flood(rest & -rest, open_bits, steps)
            rest &= ~comp
            represented = 0
            for p in active:
                if comp & control[p]:
                    represented += 1
            if represented < n_active and comp not in found:
                found.append(comp)
    if n_active >= 2:
        rest = open_all
        while rest:
            # Without collapsed cells the board is one component: no flood needed.
            comp = open_all if not s.collapsed[0] else flood(rest & -rest, open_all, steps)
            rest &= ~comp
            owners = 0
            for p in active:
                if comp & control[p]:
                    owners += 1
                    if owners > 1:
                        break
            if owners == 1 and comp not in found:
                found.append(comp)
    return found


def processable_regions(s: GameState, player: int) -> list[int]:
    """Regions the player can pay for from outside (rules.md 9.2)."""
    regions = find_regions(s)
    if not regions:
        return regions
    if s.turn_recovery:
        payers = buried_bits(s, player)
    else:
        payers = s.control[player]
    return [r for r in regions if payers & ~r]


def region_moves(s: GameState, player: int) -> list[Move]:
    g = s.geo
    board = g.board
    out = []
    for r in processable_regions(s, player):
        cells = tuple(sorted(g.cells_of(r)))
        out.append(_new(Move, (CHOOSE_TERRITORY_OPTION, player, board, cells[0], -1, -1, 0, cells, (), "", 0, -1)))
    return out


def border_markers(s: GameState, region: int) -> int:
    """Markers collapsed with a region: touching markers, grown through Moore-adjacent markers (D12)."""
    g = s.geo
    markers = s.markers[0] & ~region
    seeds = expand(region, g.territory_shifts) & markers
    if not g.moore_shifts or not seeds:
        return seeds
    return flood(seeds, markers, g.moore_steps)


def apply_region(s: GameState, player: int, cells: tuple[int, ...]) -> None:
    """Collapse the region and its border markers to the player; its stacks are eliminated."""
    g = s.geo
    region = g.bits_of(cells)
    border = border_markers(s, region)
    stacks = s.stacks
    on_board = s.on_board
    removed = 0
    for c in g.cells_of(region & s.control[0]):
        rings = stacks[c]
        for owner in rings:
            on_board[owner] -= 1
        removed += len(rings)
        set_stack(s, c, ())
    s.eliminated[player] += removed
    for c in cells:
        collapse(s, c, player)
    for c in g.cells_of(border):
        collapse(s, c, player)
    s.pending_region = True
