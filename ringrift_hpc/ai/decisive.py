"""Decisive moves: a move with which the seat to move wins the game outright within its own turn.

Teytaud & Teytaud (2010), "On the huge benefit of decisive moves in Monte-Carlo Tree Search":
a search that plays a decisive move when it has one, and treats a position where the opponent
has one as lost, stops losing to one-move tactics its prior does not see. In RingRift these
are mostly region collapses that hand one seat most of the board, often after a choice or two
of its own in the territory or line processing that follows the move.

The check is exact where it answers: a line it finds ends the game with the mover alone in
first place. It is not complete: the mover's own follow-up decisions are tried only
`MAX_FOLLOW_UPS` deep and within `MAX_MOVES_TRIED` moves tried per check, so a longer win is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringrift_hpc.ai.turns import FOLLOW_UP_PHASES, play_forced
from ringrift_hpc.rules import GameState, apply_move_unchecked, is_terminal, legal_moves, ranking

# Own decisions after the move that the check looks through: a collapse that wins is often
# followed by 4-6 choices of regions and eliminations (docs/benchmarks.md, "decisive moves").
MAX_FOLLOW_UPS = 8
# Moves one check may try (forced moves follow free); a capture chain can branch widely, and the
# check must stay cheap next to the network calls it saves the search from wasting. Most
# positions need a few dozen: a check averaged 0.75 ms on square8 at this bound, against 1.3 ms
# for a heuristic move.
MAX_MOVES_TRIED = 1000


@dataclass(frozen=True)
class Decisive:
    """A winning move: its index in `legal_moves(state)` and the final position of its line."""

    move_index: int
    final: GameState


def wins_alone(state: GameState, seat: int) -> bool:
    """Whether the finished game `state` ranks `seat` (1-based) first and alone."""
    ranks = ranking(state)
    return ranks[seat - 1] == 1 and ranks.count(1) == 1


def _finishes(state: GameState, seat: int, depth: int, budget: list[int]) -> GameState | None:
    """The final position of a win for `seat` from `state` by its own decisions alone, if found."""
    if is_terminal(state):
        return state if wins_alone(state, seat) else None
    if depth == 0 or state.current != seat or state.phase not in FOLLOW_UP_PHASES:
        return None
    for move in legal_moves(state):
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        found = _finishes(play_forced(apply_move_unchecked(state, move)), seat, depth - 1, budget)
        if found is not None:
            return found
    return None


def decisive_move(state: GameState) -> Decisive | None:
    """A move of the seat to move that wins the game within its turn, or None (see module doc).

    Every legal move is first tried alone (with its forced moves), so a win in one move is never
    missed; follow-up decisions are then searched within the budget.
    """
    seat = state.current
    moves = legal_moves(state)  # none in a finished game
    budget = [MAX_MOVES_TRIED - len(moves)]
    after = [play_forced(apply_move_unchecked(state, m)) for m in moves]
    for index, nxt in enumerate(after):
        if is_terminal(nxt) and wins_alone(nxt, seat):
            return Decisive(index, nxt)
    for index, nxt in enumerate(after):
        found = _finishes(nxt, seat, MAX_FOLLOW_UPS, budget)
        if found is not None:
            return Decisive(index, found)
        if budget[0] <= 0:
            return None
    return None
