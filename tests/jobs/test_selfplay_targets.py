"""Selfplay training targets: playout cap randomization and value targets mixed with search values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.evaluation import Evaluation, outcome_values
from ringrift_hpc.ai.net import relative_values
from ringrift_hpc.ai.search import SearchConfig
from ringrift_hpc.data.shards import GameRecord
from ringrift_hpc.jobs.seeds import game_rng
from ringrift_hpc.jobs.selfplay_games import Sample, SearchMover, game_record, play_selfplay
from ringrift_hpc.rules import GameState, apply_move_unchecked, initial_state, is_terminal, legal_moves

FULL = SearchConfig(simulations=4, gumbel_actions=4)
FAST = SearchConfig(simulations=2, gumbel_actions=2)


class Uniform:
    """Uniform priors; seat 1 looks ahead by 0.5. Counts the positions it judged."""

    def __init__(self) -> None:
        self.judged = 0

    def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]:
        self.judged += len(states)
        return [
            Evaluation(
                priors=np.full(len(legal_moves(s)), 1.0 / len(legal_moves(s)), dtype=np.float32),
                values=np.array([0.5] + [-0.5] * (s.num_players - 1), dtype=np.float32),
            )
            for s in states
        ]


def _play(mover: SearchMover, seeds: Sequence[int], weight: float = 0.0) -> list[GameRecord]:
    records: list[GameRecord] = []
    play_selfplay(
        mover,
        lambda: initial_state("square8", 2),
        seeds,
        ActionCodec.for_board("square8", 2),
        concurrent=len(seeds),
        on_game=records.append,
        hard_stop=lambda: None,
        soft_stop=lambda: False,
        value_search_weight=weight,
    )
    return sorted(records, key=lambda r: r.seed)


def _choices(record: GameRecord) -> int:
    """The game's samples."""
    return len(record.plies)


def test_every_searched_choice_is_a_sample_without_playout_cap() -> None:
    (record,) = _play(SearchMover(Uniform(), FULL), [3])
    state, rng, choices = initial_state("square8", 2), game_rng(3), 0
    mover = SearchMover(Uniform(), FULL)
    while not is_terminal(state):
        decision = mover.decide([state], [rng])[0]
        choices += decision.target is not None
        state = apply_move_unchecked(state, decision.move)
    assert _choices(record) == choices > 0


def test_playout_cap_keeps_only_the_full_searches_as_samples() -> None:
    seeds = [5, 6, 7, 8]
    full = _play(SearchMover(Uniform(), FULL, FAST, 1.0), seeds)
    capped = _play(SearchMover(Uniform(), FULL, FAST, 0.25), seeds)
    length = sum(r.length for r in capped)
    samples = sum(_choices(r) for r in capped)
    # About a quarter of the moves with a choice are full searches; forced moves are never samples.
    assert 0 < samples < 0.5 * length
    assert sum(_choices(r) for r in full) > 2 * samples


def test_playout_cap_choices_come_from_each_games_own_generator() -> None:
    mover = SearchMover(Uniform(), FULL, FAST, 0.5)
    together = _play(mover, [11, 12, 13])
    alone = [_play(mover, [seed])[0] for seed in (11, 12, 13)]
    for a, b in zip(together, alone, strict=True):
        assert a.length == b.length
        np.testing.assert_array_equal(a.plies, b.plies)
        np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_value_target_mixes_the_outcome_with_the_searched_value(weight: float) -> None:
    state = initial_state("square8", 2)
    rng = game_rng(1)
    samples: list[Sample] = []
    while not is_terminal(state):
        moves = tuple(legal_moves(state))
        if len(moves) > 1:
            searched = np.array([0.2, -0.2] if len(samples) % 2 else [-0.6, 0.6], dtype=np.float32)
            target = np.full(len(moves), 1.0 / len(moves), dtype=np.float32)
            samples.append(
                Sample(state, len(samples), moves, target, searched if len(samples) != 3 else None)
            )
        state = apply_move_unchecked(state, moves[int(rng.integers(len(moves)))])
    record = game_record(ActionCodec.for_board("square8", 2), 1, state, 0, samples, weight)
    outcome = outcome_values(state)
    for row, sample in zip(record.values, samples, strict=True):
        mixed = outcome if sample.searched is None else (1 - weight) * outcome + weight * sample.searched
        expected = relative_values(mixed[None, :], np.array([sample.state.current]))[0]
        np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)
