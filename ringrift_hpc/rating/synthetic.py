"""Synthetic games from known true ratings, for the rating benchmark and the recovery tests.

Outcomes follow the fitted models exactly: a 2-player game is won with probability
sigmoid(delta) less half the draw probability, the draw probability being
`4 * draw_rate * p * (1 - p)` (so `draw_rate` draws at equal strength and the expected score is
still sigmoid(delta)); 3-4 player rankings are Plackett-Luce samples (Gumbel keys) whose last two places tie
with probability `4 * tie_rate * p * (1 - p)`, p being the chance of their sampled order.
"""

from __future__ import annotations

import numpy as np

from ringrift_hpc.rating.fit import ELO_PER_NAT
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.rating.participants import RANDOM_KIND
from ringrift_hpc.rating.table import FloatArray, GameTable, IntArray


def synthetic_ids(count: int) -> tuple[str, ...]:
    """The random anchor and `count - 1` numbered participants (ids sort in this order)."""
    return (RANDOM_KIND, *(f"sim@{k:06d}" for k in range(1, count)))


def sample_outcomes(
    true_elo: FloatArray,
    seats: IntArray,
    rng: np.random.Generator,
    *,
    draw_rate: float = 0.0,
    tie_rate: float = 0.0,
) -> IntArray:
    """[G, n] competition ranks for the given seatings under the true ratings."""
    theta = true_elo[seats] / ELO_PER_NAT
    games, n = seats.shape
    if n == 2:
        p = 1.0 / (1.0 + np.exp(theta[:, 1] - theta[:, 0]))
        draw = 4.0 * draw_rate * p * (1.0 - p)
        u = rng.random(games)
        first_wins = u < p - draw / 2.0
        drawn = (u >= p - draw / 2.0) & (u < p + draw / 2.0)
        ranks = np.where(first_wins[:, None], [1, 2], [2, 1])
        return np.where(drawn[:, None], 1, ranks).astype(np.int64)
    keys = theta + rng.gumbel(size=theta.shape)
    order = np.argsort(-keys, axis=1)
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.broadcast_to(np.arange(1, n + 1), order.shape), axis=1)
    # The last two places tie with probability 2 * tie_rate * P(the other order), which keeps
    # each one's expected pairwise score at sigmoid(delta), as half points assume.
    ahead, behind = order[:, n - 2], order[:, n - 1]
    rows = np.arange(games)
    p_other = 1.0 / (1.0 + np.exp(theta[rows, ahead] - theta[rows, behind]))
    tie = rng.random(games) < 2.0 * tie_rate * p_other
    return np.where(tie[:, None] & (place >= n - 1), n - 1, place).astype(np.int64)


def synthetic_table(
    true_elo: FloatArray,
    games: int,
    players: int,
    rng: np.random.Generator,
    *,
    draw_rate: float = 0.0,
    tie_rate: float = 0.0,
) -> GameTable:
    """`games` games among participants drawn uniformly (distinct within a game).

    `true_elo[0]` must be 0: participant 0 is the random anchor.
    """
    count = true_elo.shape[0]
    if count < players:
        raise ValueError(f"{count} participants cannot fill {players} seats")
    if true_elo[0] != 0.0:
        raise ValueError("true_elo[0] is the random anchor's rating and must be 0")
    # Distinct seats per game: the first `players` columns of a random permutation key.
    seats = (
        np.argsort(rng.random((games, count)), axis=1)[:, :players]
        if count <= 64
        else _distinct(rng, games, count, players)
    )
    ranks = sample_outcomes(true_elo, seats, rng, draw_rate=draw_rate, tie_rate=tie_rate)
    variant = Variant(board="square8", players=players)
    return GameTable(variant=variant, participants=synthetic_ids(count), seats=seats, ranks=ranks)


def _distinct(rng: np.random.Generator, games: int, count: int, players: int) -> IntArray:
    """Uniform seatings of distinct participants without a [games, count] temporary."""
    seats = rng.integers(0, count, size=(games, players))
    while True:
        clash = np.zeros(games, dtype=bool)
        for a in range(players):
            for b in range(a + 1, players):
                clash |= seats[:, a] == seats[:, b]
        if not clash.any():
            return seats
        seats[clash] = rng.integers(0, count, size=(int(clash.sum()), players))
