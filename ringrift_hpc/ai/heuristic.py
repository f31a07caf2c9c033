"""The heuristic anchor: a one-ply lookahead over a hand-written evaluation of positions.

Evaluation. Each seat `p` gets a material score, each term scaled so that one unit is roughly
"one ring's worth":

=================  ======  =====================================================================
term               weight  what it counts for seat p
=================  ======  =====================================================================
eliminated         1.0     rings credited to p as eliminated, times 18 / victory_rings (so one
                           ring is worth ~1 on every board; 18 eliminated rings win on square8)
territory          0.6     cells collapsed to p, times 33 / territory_minimum
stacks             0.5     stacks p controls (each can move, capture and claim lines)
controlled rings   0.15    rings in the stacks p controls, of any colour (capture material)
cap                0.2     p's rings at the top of p's stacks (the cap pays line/territory costs)
rings in play      0.3     p's rings still in hand or on the board (zero means out of the game)
mobility           0.05    non-collapsed cells next to p's stacks (room to move)
markers            0.08    p's markers (line potential and stalemate tie-break)
=================  ======  =====================================================================

The evaluation of a position for seat p is p's score minus the best opponent score (max-n
style: "am I ahead of whoever leads the rest"). A finished game scores `WIN_SCORE` times the
outcome value of p (+1 first, -1 last; `evaluation.outcome_values`).

Move choice. For each legal move the player plays it, then the forced single moves after it,
and then, while the same seat is still to move in a follow-up phase of the SAME action (capture,
chain capture, line and territory processing, forced elimination), it greedily takes the
follow-up that evaluates best (at most `MAX_FOLLOW_UPS` steps). Placement and the movement that
follows it are separate decisions, each looked at one ply deep. The move whose line ends best
for the mover is played; ties are broken at random.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ringrift_hpc.ai.evaluation import outcome_values
from ringrift_hpc.ai.turns import FOLLOW_UP_PHASES, play_forced
from ringrift_hpc.rules import GameState, Move, apply_move_unchecked, is_terminal, legal_moves

WIN_SCORE = 1000.0
MAX_FOLLOW_UPS = 8

W_ELIMINATED = 1.0
W_TERRITORY = 0.6
W_STACKS = 0.5
W_CONTROLLED_RINGS = 0.15
W_CAP = 0.2
W_RINGS_IN_PLAY = 0.3
W_MOBILITY = 0.05
W_MARKERS = 0.08


def seat_scores(state: GameState) -> np.ndarray:
    """Material score per seat, absolute seat order ([num_players])."""
    geo = state.geo
    params = state.params
    elim_unit = 18.0 / params.victory_rings
    terr_unit = 33.0 / params.territory_minimum
    stacks = state.stacks
    cells = state.cells
    neighbours = geo.neighbours
    scores = np.zeros(state.num_players)
    for p in range(1, state.num_players + 1):
        owned = geo.cells_of(state.control[p])
        rings = cap = room = 0
        for c in owned:
            stack = stacks[c]
            rings += len(stack)
            i = len(stack) - 1
            while i >= 0 and stack[i] == p:
                cap += 1
                i -= 1
            room += sum(1 for n in neighbours[c] if cells[n] >= 0)
        scores[p - 1] = (
            W_ELIMINATED * elim_unit * state.eliminated[p]
            + W_TERRITORY * terr_unit * state.collapsed[p].bit_count()
            + W_STACKS * len(owned)
            + W_CONTROLLED_RINGS * rings
            + W_CAP * cap
            + W_RINGS_IN_PLAY * (state.hand[p] + state.on_board[p])
            + W_MOBILITY * room
            + W_MARKERS * state.markers[p].bit_count()
        )
    return scores


def evaluate(state: GameState, seat: int) -> float:
    """The evaluation for `seat` (1-based): its score minus the best opponent's."""
    if is_terminal(state):
        return WIN_SCORE * float(outcome_values(state)[seat - 1])
    scores = seat_scores(state)
    mine = scores[seat - 1]
    return float(mine - np.delete(scores, seat - 1).max())


def line_value(state: GameState, move: Move) -> float:
    """The mover's evaluation after `move`, its forced moves and its greedy follow-ups."""
    seat = state.current
    nxt = play_forced(apply_move_unchecked(state, move))
    for _ in range(MAX_FOLLOW_UPS):
        if is_terminal(nxt) or nxt.current != seat or nxt.phase not in FOLLOW_UP_PHASES:
            break
        options = [play_forced(apply_move_unchecked(nxt, m)) for m in legal_moves(nxt)]
        nxt = max(options, key=lambda s: evaluate(s, seat))
    return evaluate(nxt, seat)


def choose_move(state: GameState, rng: np.random.Generator) -> Move:
    """The heuristic's move: the best one-ply line for the mover, ties broken by `rng`."""
    moves = legal_moves(state)
    if len(moves) == 1:
        return moves[0]
    values = np.array([line_value(state, m) for m in moves])
    best = np.flatnonzero(values >= values.max() - 1e-9)
    return moves[int(best[rng.integers(len(best))])]


def choose_moves(states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
    """`choose_move` for each position with its own generator."""
    return [choose_move(s, r) for s, r in zip(states, rngs, strict=True)]
