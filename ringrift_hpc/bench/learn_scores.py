"""How the learn bench scores a model: seat rotation, first places and ranks, intervals, and the
summary over seeds. Pure functions, apart from the bench (which imports torch).

Scoring, per game, from the final ranking (`ringrift_hpc.rules.ranking`: 1 = best, ties share
the better rank):

* a win: the model alone at rank 1; a draw: the model at rank 1 together with k-1 >= 1 others;
* first-place points: 1 per win; a draw earns 1/k with 3 or 4 players (the k tied seats split
  the first place, so a player no better than its opponents expects 1/N), and 0 with 2 players,
  which keeps the 2-player win rate (wins / games) that the recorded results use;
* the score is points / games, with a 95% Wilson interval; the mean rank is the model's rank
  averaged over the games (chance: (N+1)/2 without ties).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

WILSON_Z = 1.959964  # two-sided 95%


@dataclass(frozen=True)
class Score:
    """The model's results over `games` seat-rotated games against `opponent`."""

    opponent: str
    wins: int  # alone at rank 1
    draws: int  # rank 1 shared
    points: float  # wins plus the draws' first-place credit
    rank_sum: int
    games: int
    low: float  # 95% Wilson interval of the score
    high: float

    @property
    def rate(self) -> float:
        """First-place share; with 2 players, the win rate."""
        return self.points / self.games

    @property
    def mean_rank(self) -> float:
        return self.rank_sum / self.games


@dataclass(frozen=True)
class SeedSummary:
    """The final scores against one opponent over independent seeds."""

    opponent: str
    seeds: int
    median: float
    low: float  # the lowest seed's score
    high: float  # the highest seed's score
    median_mean_rank: float


def wilson_interval(successes: float, games: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (`successes` may hold draw shares)."""
    if games < 1:
        raise ValueError(f"wilson_interval: games must be at least 1, got {games}")
    p = successes / games
    denominator = 1 + z * z / games
    centre = (p + z * z / (2 * games)) / denominator
    half = z * math.sqrt(p * (1 - p) / games + z * z / (4 * games * games)) / denominator
    # The interval always holds p; clamping to it removes rounding (4 of 4 gives high < 1.0 otherwise).
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def chance(players: int) -> float:
    """The first-place share of a player no better than its opponents."""
    return 1 / players


def model_seats(games: int, players: int) -> tuple[int, ...]:
    """The model's seat (0-based) in each game: game k at seat k mod `players`, so each seat is
    taken games / players times; `games` must be a positive multiple of `players`."""
    if games < players or games % players:
        raise ValueError(
            f"{games} games cannot give each of {players} seats the same number of games; "
            f"use a positive multiple of {players}"
        )
    return tuple(k % players for k in range(games))


def seat_rotated_games(games: int, players: int) -> int:
    """The least multiple of `players` that is at least `games`."""
    return -(-games // players) * players


def first_place_credit(ranks: Sequence[int], seat: int) -> float:
    """The first-place points of the player at `seat` (0-based) in a game ranked `ranks`."""
    if ranks[seat] != 1:
        return 0.0
    shared = ranks.count(1)
    if shared == 1:
        return 1.0
    return 0.0 if len(ranks) == 2 else 1 / shared


def score_games(opponent: str, rankings: Sequence[Sequence[int]], seats: Sequence[int]) -> Score:
    """The model's Score over games ranked `rankings`, the model at `seats[k]` in game k."""
    if len(rankings) != len(seats) or not seats:
        raise ValueError(f"score_games: {len(rankings)} rankings for {len(seats)} seats")
    wins = sum(1 for r, s in zip(rankings, seats, strict=True) if r[s] == 1 and r.count(1) == 1)
    draws = sum(1 for r, s in zip(rankings, seats, strict=True) if r[s] == 1 and r.count(1) > 1)
    points = sum(first_place_credit(r, s) for r, s in zip(rankings, seats, strict=True))
    rank_sum = sum(r[s] for r, s in zip(rankings, seats, strict=True))
    games = len(seats)
    return Score(opponent, wins, draws, points, rank_sum, games, *wilson_interval(points, games))


def significantly_above_chance(score: Score, players: int) -> bool:
    """Whether the 95% interval of the score lies above chance (50% with 2 players)."""
    return score.low > chance(players)


def summarize_seeds(finals: Sequence[Sequence[Score]]) -> tuple[SeedSummary, ...]:
    """Per opponent, the median and range of the final score over runs (one Score tuple per seed,
    the same opponents in the same order) and the median mean rank."""
    if not finals:
        raise ValueError("summarize_seeds: no runs to summarize")
    opponents = [s.opponent for s in finals[0]]
    if any([s.opponent for s in run] != opponents for run in finals):
        raise ValueError("summarize_seeds: the runs were scored against different opponents")
    summaries = []
    for k, opponent in enumerate(opponents):
        rates = [run[k].rate for run in finals]
        ranks = [run[k].mean_rank for run in finals]
        summaries.append(
            SeedSummary(
                opponent,
                len(finals),
                statistics.median(rates),
                min(rates),
                max(rates),
                statistics.median(ranks),
            )
        )
    return tuple(summaries)
