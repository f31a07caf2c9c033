"""Ring eliminations paid as costs (rules.md 8.2, 9.3, 11, 12)."""

from __future__ import annotations

from ringrift_hpc.rules.moves import (
    CONTEXT_LINE,
    CONTEXT_RECOVERY,
    ELIMINATE_RINGS_FROM_STACK,
    FORCED_ELIMINATION,
    Move,
)
from ringrift_hpc.rules.recovery import extract_ring, extraction_stacks
from ringrift_hpc.rules.state import GameState, cap_height, set_stack

_new = tuple.__new__


def cost_moves(s: GameState, player: int, context: str) -> list[Move]:
    """One `eliminate_rings_from_stack` per eligible stack for the given context."""
    g = s.geo
    board = g.board
    if context == CONTEXT_RECOVERY:
        targets = extraction_stacks(s, player)
    else:
        targets = g.cells_of(s.control[player])
    return [_new(Move, (ELIMINATE_RINGS_FROM_STACK, player, board, c, -1, -1, 0, (), (), context, 0, -1)) for c in sorted(targets)]


def forced_moves(s: GameState, player: int) -> list[Move]:
    g = s.geo
    board = g.board
    return [
        _new(Move, (FORCED_ELIMINATION, player, board, c, -1, -1, 0, (), (), "", 0, -1))
        for c in sorted(g.cells_of(s.control[player]))
    ]


def remove_top(s: GameState, player: int, c: int) -> None:
    """Eliminate the top ring of the stack on c, credited to the player."""
    rings = s.stacks[c]
    s.on_board[rings[-1]] -= 1
    s.eliminated[player] += 1
    set_stack(s, c, rings[:-1])


def remove_cap(s: GameState, player: int, c: int) -> None:
    """Eliminate the whole cap of the stack on c, credited to the player."""
    rings = s.stacks[c]
    cap = cap_height(rings)
    s.on_board[rings[-1]] -= cap
    s.eliminated[player] += cap
    set_stack(s, c, rings[:-cap])


def apply_cost(s: GameState, m: Move) -> None:
    if m.mode == CONTEXT_LINE:
        remove_top(s, m.player, m.to)
    elif m.mode == CONTEXT_RECOVERY:
        extract_ring(s, m.player, m.to)
    else:
        remove_cap(s, m.player, m.to)
