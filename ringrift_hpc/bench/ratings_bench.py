"""Rating-fit speed: a full refit over a large synthetic game history.

The games are generated from known true ratings (participants drawn uniformly per game) before
the clock starts; the timed part is exactly what the controller does on every refit: aggregate
the game table and fit every rating with its interval. The fit's error against the true ratings
is reported too, so a fast wrong answer cannot pass for a result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ringrift_hpc.rating.fit import fit_ratings
from ringrift_hpc.rating.synthetic import synthetic_table

TARGET_SECONDS = 2.0  # issue 6: 1,000 participants over 1,000,000 games
SPREAD_ELO = 1500.0


@dataclass(frozen=True)
class RatingsBenchResult:
    """One timed refit."""

    participants: int
    games: int
    players: int
    seconds: float  # best of `repeats` refits
    iterations: int  # Newton steps of the fit
    rmse_elo: float  # fitted against true ratings
    median_stderr_elo: float  # reported uncertainty, to compare with the rmse
    target_seconds: float = TARGET_SECONDS

    @property
    def ratio(self) -> float:
        """Time over the target: below 1 meets it."""
        return self.seconds / self.target_seconds


def run_ratings_bench(
    *, participants: int = 1000, games: int = 1_000_000, players: int = 2, repeats: int = 1, seed: int = 0
) -> RatingsBenchResult:
    """Time `repeats` refits of `games` synthetic games among `participants` (the random anchor included)."""
    if participants < players:
        raise ValueError(f"{participants} participants cannot fill a {players}-player game")
    if not 2 <= players <= 4:
        raise ValueError(f"players is {players}; RingRift has 2, 3 or 4 players")
    rng = np.random.default_rng(seed)
    true_elo = np.concatenate([[0.0], rng.uniform(-SPREAD_ELO / 4, SPREAD_ELO, participants - 1)])
    table = synthetic_table(true_elo, games, players, rng, draw_rate=0.2 if players == 2 else 0.0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ratings = fit_ratings(table)
        best = min(best, time.perf_counter() - start)
    rows = [ratings.row(pid) for pid in table.participants[1:]]
    estimate = np.array([row.rating for row in rows])
    return RatingsBenchResult(
        participants=participants,
        games=games,
        players=players,
        seconds=best,
        iterations=ratings.iterations,
        rmse_elo=float(np.sqrt(np.mean((estimate - true_elo[1:]) ** 2))),
        median_stderr_elo=float(np.median([row.stderr for row in rows])),
    )
