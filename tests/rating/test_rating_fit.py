"""Bradley-Terry / Plackett-Luce fits recover known ratings within their reported intervals.

Coverage is checked over many seeds and participants, not one lucky draw: with 95% intervals
the share of true ratings inside must be near 0.95 (draws and half points make the 2-player
intervals somewhat conservative, hence the asymmetric tolerance).
"""

from __future__ import annotations

import numpy as np
import pytest
from rating_helpers import heuristic, net, pair, rotated_group

from ringrift_hpc.config import Variant
from ringrift_hpc.rating.fit import (
    RatingFitError,
    ZeroPointMissingError,
    Ratings,
    bradley_terry_terms,
    fit_ratings,
    pair_counts,
    plackett_luce_terms,
    stage_counts,
)
from ringrift_hpc.rating.participants import random_player
from ringrift_hpc.rating.synthetic import synthetic_table
from ringrift_hpc.rating.table import GameTable, table_from_groups

SEEDS = range(24)
PARTICIPANTS = 8


def _estimates(ratings: Ratings, table: GameTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [ratings.row(pid) for pid in table.participants]
    return (
        np.array([r.rating for r in rows]),
        np.array([r.lower for r in rows]),
        np.array([r.upper for r in rows]),
    )


@pytest.mark.parametrize(
    ("players", "draw_rate", "tie_rate"),
    [(2, 0.0, 0.0), (2, 0.3, 0.0), (3, 0.0, 0.3), (4, 0.0, 0.3)],
    ids=["2p", "2p-draws", "3p-ties", "4p-ties"],
)
def test_true_ratings_lie_inside_the_reported_intervals(
    players: int, draw_rate: float, tie_rate: float
) -> None:
    inside: list[bool] = []
    z_scores: list[float] = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        true = np.concatenate([[0.0], rng.uniform(-150.0, 900.0, PARTICIPANTS - 1)])
        table = synthetic_table(true, 2500, players, rng, draw_rate=draw_rate, tie_rate=tie_rate)
        ratings = fit_ratings(table)
        estimate, lower, upper = _estimates(ratings, table)
        assert estimate[0] == 0.0 and lower[0] == upper[0] == 0.0  # the anchor is pinned
        inside.extend(((lower <= true) & (true <= upper))[1:])
        stderr = (upper - lower)[1:] / (2 * 1.959964)
        z_scores.extend((estimate - true)[1:] / stderr)
    coverage = float(np.mean(inside))
    assert 0.91 <= coverage <= 0.995, coverage
    assert abs(float(np.mean(z_scores))) < 0.3  # no systematic bias


def test_intervals_shrink_with_more_games() -> None:
    rng = np.random.default_rng(3)
    true = np.array([0.0, 200.0, 400.0])
    narrow = fit_ratings(synthetic_table(true, 20_000, 2, rng))
    wide = fit_ratings(synthetic_table(true, 500, 2, rng))
    for pid in ("sim@000001", "sim@000002"):
        assert narrow.row(pid).stderr < wide.row(pid).stderr / 4


def test_plackett_luce_on_two_player_games_equals_bradley_terry_with_half_point_draws() -> None:
    rng = np.random.default_rng(5)
    table = synthetic_table(np.array([0.0, 150.0, 300.0, 420.0]), 3000, 2, rng, draw_rate=0.3)
    theta = rng.normal(size=4)
    bt = bradley_terry_terms(theta, pair_counts(table))
    pl = plackett_luce_terms(theta, stage_counts(table))
    assert bt[0] == pytest.approx(pl[0], rel=1e-12)
    np.testing.assert_allclose(bt[1], pl[1], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(bt[2], pl[2], rtol=1e-10, atol=1e-9)


def test_a_tie_counts_as_half_a_win_each_way() -> None:
    variant = "square8_3p"
    a, b, r = net(variant, "a"), net(variant, "b"), random_player(variant)
    # a and b always share first place over r: they must come out equal, both above r.
    groups = [rotated_group([a, b, r], [[1, 1, 3]] * 3, opening_seed=s) for s in range(10)]
    ratings = fit_ratings(table_from_groups(Variant.model_validate(variant), groups))
    assert ratings.model == "plackett-luce"
    assert ratings.row(a.id).rating == pytest.approx(ratings.row(b.id).rating, abs=1e-6)
    assert ratings.row(a.id).rating > 300
    assert ratings.row(a.id).score == pytest.approx(0.75)


def test_an_undefeated_participant_gets_a_finite_rating_with_a_wide_interval() -> None:
    a, r = net("square8_2p", "a"), random_player("square8_2p")
    groups = [pair("square8_2p", a, r, (1, 1), seed=s) for s in range(10)]
    row = fit_ratings(table_from_groups(Variant.model_validate("square8_2p"), groups)).row(a.id)
    assert np.isfinite(row.rating) and 200 < row.rating < 3000
    assert row.upper - row.lower > 1000
    assert row.games == 20 and row.score == 1.0


def test_the_fit_does_not_depend_on_the_order_of_games() -> None:
    rng = np.random.default_rng(11)
    table = synthetic_table(np.array([0.0, 100.0, 250.0, 600.0, 610.0]), 4000, 4, rng, tie_rate=0.2)
    order = rng.permutation(table.games)
    shuffled = GameTable(table.variant, table.participants, table.seats[order], table.ranks[order])
    first, second = fit_ratings(table), fit_ratings(shuffled)
    for row in first.rows:
        assert second.row(row.participant).rating == pytest.approx(row.rating, abs=1e-9)
        assert second.row(row.participant).stderr == pytest.approx(row.stderr, abs=1e-9)


def test_a_participant_without_games_linking_it_to_the_anchor_is_flagged() -> None:
    v = "square8_2p"
    a, b, c, r = net(v, "a"), net(v, "b"), net(v, "c"), random_player(v)
    groups = [pair(v, a, r, (1, 0.5)), pair(v, b, c, (1, 0))]
    ratings = fit_ratings(table_from_groups(Variant.model_validate(v), groups))
    assert ratings.row(a.id).anchored
    assert not ratings.row(b.id).anchored and not ratings.row(c.id).anchored


def test_the_difference_uses_the_covariance() -> None:
    rng = np.random.default_rng(2)
    ratings = fit_ratings(synthetic_table(np.array([0.0, 500.0, 520.0]), 6000, 2, rng))
    diff, stderr = ratings.difference("sim@000002", "sim@000001")
    a, b = ratings.row("sim@000002"), ratings.row("sim@000001")
    assert diff == pytest.approx(a.rating - b.rating)
    # Both are measured against the same anchor games, so their errors are positively correlated.
    assert stderr < np.hypot(a.stderr, b.stderr)
    assert ratings.difference("sim@000001", "random")[1] == pytest.approx(b.stderr)


def test_no_games_or_no_anchor_fail_loudly() -> None:
    v = "square8_2p"
    no_games = np.zeros((0, 2), dtype=np.int64)
    empty = GameTable(Variant.model_validate(v), ("random",), no_games, no_games)
    with pytest.raises(RatingFitError, match="no recorded games"):
        fit_ratings(empty)
    groups = [pair(v, net(v, "a"), net(v, "b"), (1, 0))]
    with pytest.raises(ZeroPointMissingError, match="the anchor 'random' played no recorded game"):
        fit_ratings(table_from_groups(Variant.model_validate(v), groups))
    with pytest.raises(ZeroPointMissingError, match="include the heuristic player"):
        fit_ratings(table_from_groups(Variant.model_validate(v), groups), anchor="heuristic")


def test_a_model_that_always_beats_random_is_measured_against_the_heuristic() -> None:
    """The demo's first model: 20 groups won against random, 15 of 20 against the heuristic."""
    v = "square8_2p"
    model, h, r = net(v, "m"), heuristic(v), random_player(v)
    groups = [pair(v, model, r, (1, 1), seed=s) for s in range(20)]
    groups += [pair(v, model, h, (1, 1) if s < 15 else (0, 0), seed=100 + s) for s in range(20)]
    table = table_from_groups(Variant.model_validate(v), groups)
    above_random = fit_ratings(table).row(model.id)
    above_heuristic = fit_ratings(table, anchor="heuristic").row(model.id)
    # Above random the interval is as wide as the prior lets it be; above the heuristic it is
    # what 40 games at 75% measure (about +-135 Elo at 95%).
    assert above_random.upper - above_random.lower > 1000
    assert above_heuristic.upper - above_heuristic.lower < 300
    assert above_heuristic.lower > 0
