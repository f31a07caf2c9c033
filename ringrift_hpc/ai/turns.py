"""What one seat's turn is made of, for players that look through it: forced moves, and the
follow-up phases in which the same seat decides again within one action."""

from __future__ import annotations

from ringrift_hpc.rules import GameState, apply_move_unchecked, is_terminal, legal_moves

FOLLOW_UP_PHASES = frozenset(
    {"capture", "chain_capture", "line_processing", "territory_processing", "forced_elimination"}
)


def play_forced(state: GameState) -> GameState:
    """Apply single legal moves until a choice or the end of the game."""
    while not is_terminal(state):
        moves = legal_moves(state)
        if len(moves) != 1:
            break
        state = apply_move_unchecked(state, moves[0])
    return state
