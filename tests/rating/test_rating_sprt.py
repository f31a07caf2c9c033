"""The SPRT: decisions on hand-made score sequences, and error rates measured by simulation.

The simulations are seeded, so the measured rates are fixed numbers; the tolerances say how far
from the configured alpha and beta a correct test may land (the Wald bounds are approximate:
overshooting them makes a sequential test err less often than nominal, never much more).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rating_helpers import net, pair, rotated_group

from ringrift_hpc.config import load_config
from ringrift_hpc.config.gating import SprtSection
from ringrift_hpc.rating.participants import random_player
from ringrift_hpc.rating.sprt import SprtError, SprtParams, expected_score, group_score, sprt_test
from ringrift_hpc.rating.sprt_sim import measure_error_rates, simulate_group_scores, simulate_sprt

PARAMS = SprtParams(elo0=0.0, elo1=60.0, alpha=0.05, beta=0.1, min_groups=20, max_groups=800)


def test_params_come_from_the_config_section() -> None:
    section = SprtSection(elo0=0, elo1=20, alpha=0.05, beta=0.05, min_groups=30, max_groups=600)
    params = SprtParams.from_section(section)
    assert (params.elo1, params.min_groups, params.max_groups) == (20, 30, 600)
    assert params.upper_bound == pytest.approx(2.944, abs=1e-3)  # fishtest's +-2.94 at 5%/5%
    assert params.lower_bound == pytest.approx(-2.944, abs=1e-3)


def test_nothing_is_decided_before_min_groups() -> None:
    assert sprt_test([1.0] * 19, PARAMS).status == "continue"
    accepted = sprt_test([1.0] * 20, PARAMS)
    assert accepted.status == "accept" and accepted.llr >= accepted.upper_bound
    assert sprt_test([0.0] * 20, PARAMS).status == "reject"


def test_an_even_score_drifts_to_rejection_and_the_cap_rejects() -> None:
    even = [0.25, 0.75] * 10
    assert sprt_test(even, PARAMS).status == "continue"
    decided = sprt_test([0.25, 0.75] * 60, PARAMS)
    assert decided.status == "reject" and not decided.capped and decided.llr <= decided.lower_bound
    # Slightly better than elo0 but far from elo1: undecided at the cap, which rejects.
    capped_params = SprtParams(elo0=0.0, elo1=60.0, alpha=0.05, beta=0.1, min_groups=20, max_groups=40)
    score = expected_score(30.0)
    capped = sprt_test([score - 0.25, score + 0.25] * 20, capped_params)
    assert capped.status == "reject" and capped.capped
    assert capped.lower_bound < capped.llr < capped.upper_bound


def test_zero_groups_and_impossible_scores_fail_loudly() -> None:
    with pytest.raises(SprtError, match="zero game groups"):
        sprt_test([], PARAMS)
    with pytest.raises(SprtError, match=r"\[0, 1\]"):
        sprt_test([0.5, 1.5], PARAMS)
    with pytest.raises(SprtError, match="elo1"):
        SprtParams(elo0=10, elo1=10, alpha=0.05, beta=0.1, min_groups=1, max_groups=2)


def test_group_score_is_the_pentanomial_pair_score_and_its_rotation_analogue() -> None:
    v = "square8_2p"
    a, b = net(v, "a"), net(v, "b")
    assert group_score(pair(v, a, b, (1, 0.5)), a.id, b.id) == 0.75
    assert group_score(pair(v, a, b, (0, 0.5)), b.id, a.id) == 0.75
    v4 = "hex8_4p"
    cand, best = net(v4, "c"), net(v4, "b")
    group = rotated_group([cand, best, best, best], [[1, 2, 3, 4], [4, 1, 2, 3], [2, 1, 3, 4], [1, 2, 2, 4]])
    assert group_score(group, cand.id, best.id) == pytest.approx(8 / 12)
    with pytest.raises(SprtError, match="does not seat both"):
        group_score(group, cand.id, random_player(v4).id)


@pytest.mark.parametrize(
    ("players", "draw_rate", "seat_elo", "runs"),
    [(2, 0.0, 0.0, 4000), (2, 0.3, 40.0, 4000), (3, 0.0, 30.0, 1000), (4, 0.0, 30.0, 600)],
    ids=["2p", "2p-draws-first-move-bonus", "3p", "4p"],
)
def test_simulated_error_rates_match_alpha_and_beta(
    players: int, draw_rate: float, seat_elo: float, runs: int
) -> None:
    rates = measure_error_rates(
        PARAMS, runs=runs, seed=17, players=players, draw_rate=draw_rate, seat_elo=seat_elo
    )
    assert rates.at_elo1.capped_rate < 0.01  # the cap is far away: the test itself decides
    if players == 2:
        assert abs(rates.false_accept - PARAMS.alpha) <= 0.02, rates
        assert abs(rates.false_reject - PARAMS.beta) <= 0.03, rates
    else:
        # Rotated groups of 3-4 games vary less than pairs, so the LLR overshoots the bounds
        # further and the test errs less than nominal; it must never err more.
        assert 0.005 <= rates.false_accept <= PARAMS.alpha + 0.02, rates
        assert 0.01 <= rates.false_reject <= PARAMS.beta + 0.03, rates


def test_groups_to_decide_match_walds_approximation() -> None:
    s0, s1 = expected_score(PARAMS.elo0), expected_score(PARAMS.elo1)
    for true_elo, accept_share in ((PARAMS.elo1, 1 - PARAMS.beta), (PARAMS.elo0, PARAMS.alpha)):
        scores = simulate_group_scores(np.random.default_rng(0), true_elo, 1, 200_000, draw_rate=0.3)
        mean, var = float(scores.mean()), float(scores.var())
        drift = (s1 - s0) * (2 * mean - s0 - s1) / (2 * var)  # expected LLR gained per group
        wald = (accept_share * PARAMS.upper_bound + (1 - accept_share) * PARAMS.lower_bound) / drift
        report = simulate_sprt(PARAMS, true_elo, runs=2000, seed=3, draw_rate=0.3)
        assert 0.9 * wald <= report.mean_groups <= 1.4 * wald, (true_elo, wald, report)


def test_the_configured_default_cap_keeps_the_promised_error_rates() -> None:
    # With elo1 = 30 a cap of 400 groups rejected 22% of real +30 Elo candidates (beta is 0.1);
    # the default cap is sized so that the cap rule costs almost no power.
    params = SprtParams.from_section(SprtSection())
    report = simulate_sprt(params, params.elo1, runs=2000, seed=5, draw_rate=0.3)
    assert report.reject_rate <= params.beta + 0.03, report
    null = simulate_sprt(params, params.elo0, runs=2000, seed=6, draw_rate=0.3)
    assert null.accept_rate <= params.alpha + 0.03, null


def test_the_embedded_defaults_fast_test_keeps_the_recorded_error_rates() -> None:
    # config/unified_loop.yaml looks for +120 Elo so that the demo decides in ~21 groups; its
    # error rates must stay within those recorded for the slow test in docs/benchmarks.md
    # (2 players, no draws: false accept 0.060, false reject 0.094).
    shipped = Path(__file__).resolve().parents[2] / "config" / "unified_loop.yaml"
    params = SprtParams.from_section(load_config(shipped).promotion.sprt)
    rates = measure_error_rates(params, runs=2000, seed=17)
    assert rates.false_accept <= 0.060 and rates.false_reject <= 0.094, rates
    assert rates.at_elo1.mean_groups <= 25, rates
