"""Simulation harness for the SPRT: measured error rates and groups needed to decide.

Each run plays up to `max_groups` synthetic game groups of a candidate whose true strength is
`true_elo` above the baseline and feeds them, in order, to the same statistic and decision rule
as `sprt_test` (`llr_from_sums`, `decision_codes`). Group scores are sampled like real groups:
2 players as a colour-swapped pair with draws and a first-move bonus; 3-4 players as
Plackett-Luce rankings of the candidate against copies of the baseline in every seat rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ringrift_hpc.rating.fit import ELO_PER_NAT
from ringrift_hpc.rating.sprt import FloatArray, SprtParams, decision_codes, expected_score, llr_from_sums


@dataclass(frozen=True)
class SimulationReport:
    """Outcome frequencies of `runs` simulated tests at one true Elo difference."""

    true_elo: float
    runs: int
    accept_rate: float
    reject_rate: float  # includes the capped runs
    capped_rate: float  # rejected because max_groups was reached
    mean_groups: float  # groups played until the decision


@dataclass(frozen=True)
class ErrorRates:
    """False-accept rate at elo0 and false-reject rate at elo1, with the runs behind them."""

    params: SprtParams
    at_elo0: SimulationReport
    at_elo1: SimulationReport

    @property
    def false_accept(self) -> float:
        return self.at_elo0.accept_rate

    @property
    def false_reject(self) -> float:
        return self.at_elo1.reject_rate


def simulate_group_scores(
    rng: np.random.Generator,
    true_elo: float,
    runs: int,
    groups: int,
    *,
    players: int = 2,
    draw_rate: float = 0.0,
    seat_elo: float = 0.0,
) -> FloatArray:
    """[runs, groups] candidate group scores.

    `draw_rate` is the draw share between equals (2 players; expected scores stay logistic);
    `seat_elo` is the strength bonus of seat 0, which the rotation cancels.
    """
    if players == 2:
        total = np.zeros((runs, groups))
        for first in (True, False):
            elo = true_elo + (seat_elo if first else -seat_elo)
            p = expected_score(elo)
            draw = 4.0 * draw_rate * p * (1.0 - p)
            u = rng.random((runs, groups))
            total += np.where(u < p - draw / 2.0, 1.0, np.where(u < p + draw / 2.0, 0.5, 0.0))
        return total / 2.0
    total = np.zeros((runs, groups))
    for seat in range(players):
        theta = np.zeros(players)
        theta[0] += seat_elo / ELO_PER_NAT
        theta[seat] += true_elo / ELO_PER_NAT
        keys = theta + rng.gumbel(size=(runs, groups, players))
        beaten = (keys < keys[:, :, seat : seat + 1]).sum(axis=2)
        total += beaten / (players - 1)
    return total / players


def simulate_sprt(
    params: SprtParams,
    true_elo: float,
    *,
    runs: int,
    seed: int,
    players: int = 2,
    draw_rate: float = 0.0,
    seat_elo: float = 0.0,
) -> SimulationReport:
    """Run `runs` independent tests against a candidate `true_elo` above the baseline."""
    rng = np.random.default_rng(seed)
    scores = simulate_group_scores(
        rng, true_elo, runs, params.max_groups, players=players, draw_rate=draw_rate, seat_elo=seat_elo
    )
    n = np.arange(1, params.max_groups + 1, dtype=np.float64)
    llr, _, _ = llr_from_sums(
        n,
        scores.cumsum(axis=1),
        (scores * scores).cumsum(axis=1),
        expected_score(params.elo0),
        expected_score(params.elo1),
    )
    codes = decision_codes(llr, n, params)
    decided_at = (codes != 0).argmax(axis=1)  # every run decides by max_groups
    final = codes[np.arange(runs), decided_at]
    final_llr = llr[np.arange(runs), decided_at]
    accepted = final == 1
    capped = ~accepted & (final_llr > params.lower_bound)
    return SimulationReport(
        true_elo=true_elo,
        runs=runs,
        accept_rate=float(accepted.mean()),
        reject_rate=float((~accepted).mean()),
        capped_rate=float(capped.mean()),
        mean_groups=float((decided_at + 1).mean()),
    )


def measure_error_rates(
    params: SprtParams,
    *,
    runs: int,
    seed: int,
    players: int = 2,
    draw_rate: float = 0.0,
    seat_elo: float = 0.0,
) -> ErrorRates:
    """False-accept (true Elo = elo0) and false-reject (true Elo = elo1) rates."""
    common = {"runs": runs, "players": players, "draw_rate": draw_rate, "seat_elo": seat_elo}
    return ErrorRates(
        params=params,
        at_elo0=simulate_sprt(params, params.elo0, seed=seed, **common),  # type: ignore[arg-type]
        at_elo1=simulate_sprt(params, params.elo1, seed=seed + 1, **common),  # type: ignore[arg-type]
    )
