"""The contract between search and whatever judges positions (a network, a scripted test double).

Values are per seat in ABSOLUTE seat order (index 0 = seat 1) on the scale [-1, 1]: a seat's
outcome score, +1 for first place and -1 for last (see `outcome_values`). Priors are given over
`legal_moves(state)` in exactly that order, so search never needs the action codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ringrift_hpc.rules import GameState, ranking


@dataclass(frozen=True)
class Evaluation:
    """A judgement of one non-terminal position."""

    priors: np.ndarray  # [len(legal_moves(state))] float32, sums to 1
    values: np.ndarray  # [num_players] float32 in [-1, 1], absolute seat order


class Evaluator(Protocol):
    """Judges many positions in one call; search makes one such call per simulation step."""

    def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]: ...


def rank_score(rank: int, num_players: int) -> float:
    """+1 for rank 1, -1 for rank N, evenly spaced between."""
    return 1.0 - 2.0 * (rank - 1) / (num_players - 1)


def outcome_values(state: GameState) -> np.ndarray:
    """Per-seat outcome scores from the final ranking; ties share the mean of the ranks they span.

    A 2-player win is (+1, -1), a draw (0, 0); 4 players ranked 1-2-2-4 get (1, 0, 0, -1).
    """
    ranks = ranking(state)
    n = state.num_players
    values = np.empty(n, dtype=np.float32)
    for seat, rank in enumerate(ranks):
        tied = sum(1 for other in ranks if other == rank)
        values[seat] = np.mean([rank_score(r, n) for r in range(rank, rank + tied)])
    return values
