"""Ratings: maximum-likelihood Bradley-Terry (2 players) and Plackett-Luce (3-4 players).

Model. Each participant i has a strength theta_i (natural log units); the anchor, the random
player, is fixed at 0 and reported ratings are `theta * 400 / ln 10` Elo above it.

* 2 players, Bradley-Terry: P(i beats j) = sigmoid(theta_i - theta_j). A draw counts as half a
  win and half a loss, so the sufficient statistics are, per pair, the games and i's points.
* 3-4 players, Plackett-Luce over the final ranking: the winner is drawn from the seats with
  probability proportional to exp(theta), then the next from those left, and so on. Tied
  seats (the rules give a shared rank only when every tiebreak is equal) count as every
  finishing order of the tied seats, each with an equal fractional weight: two tied seats get
  half a win over each other, as a 2-player draw does, and with 2 players this is exactly the
  half-point Bradley-Terry above. The log-likelihood stays a positive sum of concave terms,
  and no tie parameter is needed. Under Plackett-Luce, P(i finishes ahead of j) =
  sigmoid(theta_i - theta_j), so both models share one Elo scale.

Prior. Every non-anchor strength has an independent normal prior N(0, prior_sd^2), default
2000 Elo. With a few hundred games it moves a rating by well under 1 Elo, but it makes the
problem strictly concave: an undefeated participant gets a finite rating with a wide interval
instead of infinity, and a participant with no path of games to the anchor gets 0 +- the prior
(flagged `anchored=False`).

Fit. Newton's method with a backtracking line search on the log-posterior, from the full game
table every time (results never depend on the order games arrived). Intervals are
`rating +- z * stderr` with the covariance the inverse of the negative Hessian at the optimum
(Laplace approximation), in the anchored parameters, so the anchor has no uncertainty and every
other interval is relative to it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from threadpoolctl import threadpool_limits
import numpy.typing as npt

from ringrift_hpc.config.variants import Variant
from ringrift_hpc.rating.participants import RANDOM_KIND
from ringrift_hpc.rating.table import FloatArray, GameTable, IntArray, participant_totals, weighted_bincount

ELO_PER_NAT = 400.0 / math.log(10.0)
DEFAULT_PRIOR_SD_ELO = 2000.0
_MAX_ITERATIONS = 100
# A full Newton step this small (nats; 0.4 Elo) leaves an error of its square, about 1e-6 nats,
# since Newton converges quadratically near the optimum: far below any reported digit.
_STEP_TOLERANCE = 1e-3

BoolArray = npt.NDArray[np.bool_]
Terms = tuple[float, FloatArray, FloatArray]  # log-likelihood, gradient [P], Hessian [P, P]


class RatingFitError(ValueError):
    """The ratings cannot be fitted from these games (no anchor, no games, no convergence)."""


class ZeroPointMissingError(RatingFitError):
    """The player pinned at 0 has no recorded game yet (nothing is wrong; the fit must wait)."""


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Bradley-Terry sufficient statistics: per unordered pair, games and the first one's points."""

    first: IntArray  # [K] participant index, first < second
    second: IntArray  # [K]
    games: FloatArray  # [K]
    points: FloatArray  # [K] points of `first`: wins + draws / 2


@dataclass(frozen=True, eq=False)
class StageBlock:
    """Distinct Plackett-Luce stages with the same number of unranked seats, and their counts.

    A stage is the seats still unranked (`members`) and the one of them ranked next (`chosen`);
    identical stages are merged into `weight` (fractional when ties were expanded).
    """

    members: IntArray  # [S, size] participant index
    chosen: IntArray  # [S] participant index of the member ranked next
    weight: FloatArray  # [S]
    pair_keys: IntArray  # [S * k(k-1)/2] members[a] * P + members[b] for seats a < b (Hessian scatter)


@dataclass(frozen=True, eq=False)
class StageCounts:
    """Plackett-Luce sufficient statistics, one block per stage size (2 to the player count)."""

    participants: int
    blocks: tuple[StageBlock, ...]


def pair_counts(table: GameTable) -> PairCounts:
    """Aggregate a 2-player table into per-pair games and points."""
    if table.players != 2:
        raise RatingFitError(f"{table.variant}: Bradley-Terry counts need 2-player games")
    a, b = table.seats[:, 0], table.seats[:, 1]
    ra, rb = table.ranks[:, 0], table.ranks[:, 1]
    points_a = np.where(ra < rb, 1.0, np.where(ra == rb, 0.5, 0.0))
    keep = a != b  # a participant against itself carries no information
    a, b, points_a = a[keep], b[keep], points_a[keep]
    first = np.minimum(a, b)
    second = np.maximum(a, b)
    points_first = np.where(a == first, points_a, 1.0 - points_a)
    size = len(table.participants)
    key = first * size + second
    games = np.bincount(key, minlength=size * size)
    points = weighted_bincount(key, points_first, size * size)
    used = np.flatnonzero(games)
    return PairCounts(
        first=used // size, second=used % size, games=games[used].astype(np.float64), points=points[used]
    )


def stage_counts(table: GameTable) -> StageCounts:
    """Aggregate a table into distinct Plackett-Luce stages with their (fractional) counts.

    A game whose ranks tie is expanded into every strict finishing order consistent with them,
    each weighted 1 / (number of such orders).
    """
    seats, ranks = table.seats, table.ranks
    n = table.players
    size = len(table.participants)
    orders = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    consistent = np.stack(
        [(np.diff(ranks[:, order], axis=1) >= 0).all(axis=1) for order in orders], axis=1
    )  # [G, n!]: is this order of the seats a finishing order the ranks allow?
    game, which = np.nonzero(consistent)
    finish = seats[game[:, None], orders[which]]  # [E, n] participants from first to last place
    share = (1.0 / consistent.sum(axis=1))[game]
    blocks = []
    for k in range(2, n + 1):
        # The stage with k seats left: members are the last k places, the first of them is chosen.
        codes = finish[:, n - k :] * 2
        codes[:, 0] += 1
        codes.sort(axis=1)  # canonical: the order of the unranked seats is irrelevant
        unique, inverse = _unique_rows(codes, base=2 * size)
        members = unique // 2
        first, second = np.triu_indices(k, 1)
        blocks.append(
            StageBlock(
                members=members,
                chosen=members[np.arange(members.shape[0]), (unique % 2).argmax(axis=1)],
                weight=weighted_bincount(inverse, share, unique.shape[0]),
                pair_keys=(members[:, first] * size + members[:, second]).ravel(),
            )
        )
    return StageCounts(participants=size, blocks=tuple(blocks))


def _unique_rows(codes: IntArray, *, base: int) -> tuple[IntArray, IntArray]:
    """Distinct rows of `codes` (entries below `base`) and, per input row, its distinct row's index."""
    width = codes.shape[1]
    if base**width < 2**63:
        # One integer per row sorts far faster than np.unique(axis=0).
        powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
        keys, inverse = np.unique(codes @ powers, return_inverse=True)
        return (keys[:, None] // powers) % base, inverse.ravel()
    unique, inverse = np.unique(codes, axis=0, return_inverse=True)
    return unique, inverse.ravel()


def _laplacian_hessian(off: FloatArray) -> FloatArray:
    """The Hessian whose off-diagonal part is `off + off.T` ([P, P], pair weights scattered once).

    Both models' Hessians are negative weighted graph Laplacians: entry (i, j) is the weight of
    every pair of seats held by i and j, and each row sums to zero (moving every strength by the
    same amount changes no probability), so the diagonal follows from the rest. That halves the
    scatter, and a pair of seats held by one participant (a repeated lineup) needs no term.
    """
    hess: np.ndarray = off + off.T
    diagonal = np.diag_indices(off.shape[0])
    hess[diagonal] = 0.0
    hess[diagonal] = -hess.sum(axis=1)
    return hess


def _log_sigmoids(diff: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(log sigmoid(d), log sigmoid(-d)) without overflow for any d."""
    shared = -np.log1p(np.exp(-np.abs(diff)))
    return shared - np.maximum(-diff, 0.0), shared - np.maximum(diff, 0.0)


def bradley_terry_terms(theta: FloatArray, pairs: PairCounts) -> Terms:
    """Log-likelihood, gradient and Hessian of Bradley-Terry at `theta`."""
    size = theta.shape[0]
    log_p, log_q = _log_sigmoids(theta[pairs.first] - theta[pairs.second])
    loglik = float(pairs.points @ log_p + (pairs.games - pairs.points) @ log_q)
    p = np.exp(log_p)
    residual = pairs.points - pairs.games * p
    grad = weighted_bincount(pairs.first, residual, size) - weighted_bincount(pairs.second, residual, size)
    off = weighted_bincount(pairs.first * size + pairs.second, pairs.games * p * (1.0 - p), size * size)
    hess = _laplacian_hessian(off.reshape(size, size))
    return loglik, grad, hess


def plackett_luce_terms(theta: FloatArray, stages: StageCounts) -> Terms:
    """Log-likelihood, gradient and Hessian of Plackett-Luce (ties as fractional orders) at `theta`."""
    size = stages.participants
    loglik = 0.0
    grad = np.zeros(size)
    off = np.zeros(size * size)
    # One shift for all stages keeps exp() finite: strengths span far less than 700 nats.
    shift = float(theta.max())
    for block in stages.blocks:
        strength = theta[block.members] - shift
        log_total = np.log(np.exp(strength).sum(axis=1))
        prob = np.exp(strength - log_total[:, None])
        loglik += float(block.weight @ (theta[block.chosen] - shift - log_total))
        grad += weighted_bincount(block.chosen, block.weight, size)
        grad -= weighted_bincount(block.members.ravel(), (block.weight[:, None] * prob).ravel(), size)
        # A stage adds weight * (p p^T - diag(p)); its off-diagonal part is p_a p_b per seat pair.
        first, second = np.triu_indices(block.members.shape[1], 1)
        off += weighted_bincount(
            block.pair_keys, (block.weight[:, None] * prob[:, first] * prob[:, second]).ravel(), size * size
        )
    hess = _laplacian_hessian(off.reshape(size, size))
    return loglik, grad, hess


@dataclass(frozen=True)
class RatingRow:
    """One participant's rating (Elo above the anchor) with its interval."""

    participant: str
    rating: float
    lower: float
    upper: float
    stderr: float  # Elo
    games: int
    score: float  # mean seat score: share of opponents' seats finished ahead of, ties half
    anchored: bool  # connected to the anchor through games; if not, the rating is the prior's


@dataclass(frozen=True, eq=False)
class Ratings:
    """A full refit of one variant's ratings."""

    variant: Variant
    model: str  # "bradley-terry" or "plackett-luce"
    anchor: str
    confidence: float
    prior_sd_elo: float
    games: int
    iterations: int
    rows: tuple[RatingRow, ...]  # best first
    covariance_ids: tuple[str, ...]  # order of `covariance`: every participant but the anchor
    covariance: FloatArray  # [P-1, P-1] Elo^2

    def row(self, participant: str) -> RatingRow:
        for row in self.rows:
            if row.participant == participant:
                return row
        raise KeyError(f"{self.variant}: no rating for participant {participant!r}")

    def difference(self, a: str, b: str) -> tuple[float, float]:
        """(rating of a minus rating of b, its standard error), using the covariance."""
        var = 0.0
        for sign, pid in ((1.0, a), (-1.0, b)):
            if pid != self.anchor:
                k = self.covariance_ids.index(pid)
                var += self.covariance[k, k]
        if a != self.anchor and b != self.anchor and a != b:
            var -= 2.0 * self.covariance[self.covariance_ids.index(a), self.covariance_ids.index(b)]
        return self.row(a).rating - self.row(b).rating, math.sqrt(max(var, 0.0))


def _maximize(
    terms: Callable[[FloatArray], Terms], size: int, anchor: int, prior_sd: float
) -> tuple[FloatArray, FloatArray, int]:
    """Newton ascent of log-likelihood + normal prior with theta[anchor] pinned at 0.

    Returns theta [P], the covariance of the free parameters [P-1, P-1] and the iterations used.
    """
    free = np.flatnonzero(np.arange(size) != anchor)
    precision = 1.0 / prior_sd**2

    def objective(theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        loglik, grad, hess = terms(theta)
        x = theta[free]
        value = loglik - 0.5 * precision * float(x @ x)
        g = grad[free] - precision * x
        h = hess[np.ix_(free, free)] - precision * np.eye(free.size)
        return value, g, h

    theta = np.zeros(size)
    value, grad, hess = objective(theta)
    for iteration in range(1, _MAX_ITERATIONS + 1):
        step = np.linalg.solve(-hess, grad)
        scale = 1.0
        while True:
            trial = theta.copy()
            trial[free] += scale * step
            trial_value, trial_grad, trial_hess = objective(trial)
            # Concave objective: a Newton direction ascends for a small enough step.
            if trial_value >= value - 1e-12 * abs(value) or scale < 1e-10:
                break
            scale *= 0.5
        theta, value, grad, hess = trial, trial_value, trial_grad, trial_hess
        if scale == 1.0 and float(np.max(np.abs(step), initial=0.0)) < _STEP_TOLERANCE:
            return theta, np.asarray(np.linalg.inv(-hess), dtype=np.float64), iteration
    raise RatingFitError(
        f"the rating fit did not converge in {_MAX_ITERATIONS} Newton steps; this should not happen "
        "for a concave objective: report the match files that cause it"
    )


def _anchored(size: int, anchor: int, edges: tuple[IntArray, IntArray]) -> BoolArray:
    """Which participants are connected to the anchor through games (label propagation)."""
    a, b = edges
    label = np.arange(size)
    while True:
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # jump to the label's label: converges in logarithmically many rounds
        if np.array_equal(new, label):
            return np.asarray(label == label[anchor])
        label = new


def fit_ratings(
    table: GameTable,
    *,
    anchor: str = RANDOM_KIND,
    confidence: float = 0.95,
    prior_sd_elo: float = DEFAULT_PRIOR_SD_ELO,
) -> Ratings:
    """Refit every rating of `table` (Bradley-Terry for 2 players, Plackett-Luce for 3-4)."""
    # The fit is a few dense N x N solves. Multi-threaded BLAS on a busy login node (or a 2-core
    # machine shared with jobs) made one 999 x 999 solve 6-16x slower than a single thread.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(table, anchor=anchor, confidence=confidence, prior_sd_elo=prior_sd_elo)


def _fit(table: GameTable, *, anchor: str, confidence: float, prior_sd_elo: float) -> Ratings:
    if table.games == 0:
        raise RatingFitError(f"{table.variant}: no recorded games to rate; play a tournament first")
    if not 0.0 < confidence < 1.0:
        raise RatingFitError(f"confidence {confidence} must lie strictly between 0 and 1, e.g. 0.95")
    if not prior_sd_elo > 0.0:
        raise RatingFitError(f"prior_sd_elo {prior_sd_elo} must be positive, e.g. {DEFAULT_PRIOR_SD_ELO:g}")
    if anchor not in table.participants:
        raise ZeroPointMissingError(
            f"{table.variant}: the anchor {anchor!r} played no recorded game, so ratings have no "
            f"zero point; include the {anchor} player in the tournament"
        )
    size = len(table.participants)
    anchor_index = table.participants.index(anchor)
    prior_sd = prior_sd_elo / ELO_PER_NAT
    if table.players == 2:
        model = "bradley-terry"
        pairs = pair_counts(table)
        theta, cov, iterations = _maximize(
            lambda t: bradley_terry_terms(t, pairs), size, anchor_index, prior_sd
        )
        edges = (pairs.first, pairs.second)
    else:
        model = "plackett-luce"
        stages = stage_counts(table)
        theta, cov, iterations = _maximize(
            lambda t: plackett_luce_terms(t, stages), size, anchor_index, prior_sd
        )
        edges = (
            np.concatenate([np.repeat(b.members[:, 0], b.members.shape[1] - 1) for b in stages.blocks]),
            np.concatenate([b.members[:, 1:].ravel() for b in stages.blocks]),
        )
    connected = _anchored(size, anchor_index, edges)
    free = [k for k in range(size) if k != anchor_index]
    variance = np.zeros(size)
    variance[free] = np.diag(cov)
    stderr = np.sqrt(np.maximum(variance, 0.0)) * ELO_PER_NAT
    rating = theta * ELO_PER_NAT
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    games, score = participant_totals(table)
    rows = [
        RatingRow(
            participant=pid,
            rating=float(rating[k]),
            lower=float(rating[k] - z * stderr[k]),
            upper=float(rating[k] + z * stderr[k]),
            stderr=float(stderr[k]),
            games=int(games[k]),
            score=float(score[k]),
            anchored=bool(connected[k]),
        )
        for k, pid in enumerate(table.participants)
    ]
    rows.sort(key=lambda row: (-row.rating, row.participant))
    return Ratings(
        variant=table.variant,
        model=model,
        anchor=anchor,
        confidence=confidence,
        prior_sd_elo=prior_sd_elo,
        games=table.games,
        iterations=iterations,
        rows=tuple(rows),
        covariance_ids=tuple(table.participants[k] for k in free),
        covariance=cov * ELO_PER_NAT**2,
    )
