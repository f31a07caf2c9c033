"""Exceptions for bad moves and bad serialized input."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringrift_hpc.rules.moves import Move
    from ringrift_hpc.rules.state import GameState


class RulesError(ValueError):
    """Base class of the rules engine's errors."""


class StateFormatError(RulesError):
    """A serialized state or move does not follow the reference format."""


class IllegalMoveError(RulesError):
    """A move that is not legal in the given state; the message says why."""

    def __init__(self, move: Move, state: GameState, reason: str) -> None:
        self.move = move
        self.state = state
        self.reason = reason
        super().__init__(f"illegal move {move!r} in {state!r}: {reason}")


def explain_illegal(state: GameState, move: Move) -> str:
    """A human reason why `move` is not among the legal moves of `state`."""
    from ringrift_hpc.rules.legal import legal_moves

    if state.status != "active":
        return f"the game is over (status {state.status})"
    if move.board != state.geo.board:
        return f"the move is for board {move.board}, the state is {state.geo.board}"
    if move.player != state.current:
        return f"it is seat {state.current}'s turn, not seat {move.player}'s"
    legal = legal_moves(state)
    kinds = sorted({m.kind for m in legal})
    if move.kind not in kinds:
        return f"phase {state.phase} allows only {', '.join(kinds)}"
    same = [m for m in legal if m.kind == move.kind]
    if move.frm >= 0 and not any(m.frm == move.frm for m in same):
        return f"no legal {move.kind} starts from cell {state.geo.keys[move.frm]}"
    if move.to >= 0 and not any(m.to == move.to for m in same):
        return f"no legal {move.kind} reaches cell {state.geo.keys[move.to]}"
    return f"none of the {len(same)} legal {move.kind} moves has these details (placement count, target, cells, mode, option or extraction stack)"
