"""Players behind one interface: legal, seeded choices, batched evaluator use, participant ids."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
from test_search import RefusingEvaluator, ScriptedEvaluator, random_positions, seeded

from ringrift_hpc.ai.players import (
    HeuristicPlayer,
    PolicyPlayer,
    RandomPlayer,
    SearchPlayer,
    play_games,
)
from ringrift_hpc.ai.search import SearchConfig, search
from ringrift_hpc.bench.search_bench import SMALL_NET, seeded_evaluator
from ringrift_hpc.rules import GameState, Move, initial_state, is_terminal, legal_moves

MODEL = "ab" * 32
TINY_NET = dataclasses.replace(SMALL_NET, channels=8, blocks=1, gpool_every=1)


def positions(n: int) -> list[GameState]:
    return [s for i, s in enumerate(random_positions("square8", 2, range(3))) if i % 23 == 4][:n]


def test_random_and_heuristic_choose_legal_moves_reproducibly() -> None:
    states = positions(8)
    for player in (RandomPlayer(), HeuristicPlayer()):
        first = player.choose(states, seeded(8))
        assert first == player.choose(states, seeded(8))
        assert all(m in legal_moves(s) for s, m in zip(states, first))


def test_policy_player_takes_the_top_prior_in_one_call() -> None:
    states = [s for s in positions(12) if len(legal_moves(s)) > 1][:6]
    evaluator = ScriptedEvaluator(priors=lambda s, n: np.arange(1, n + 1) / (n * (n + 1) / 2))
    moves = PolicyPlayer(evaluator).choose(states, seeded(len(states)))
    assert moves == [legal_moves(s)[-1] for s in states]
    assert evaluator.batches == [len(states)]


def test_policy_player_samples_the_prior() -> None:
    state = next(s for s in positions(20) if len(legal_moves(s)) > 3)
    n = len(legal_moves(state))
    prior = np.zeros(n)
    prior[[0, 2]] = [0.25, 0.75]
    player = PolicyPlayer(ScriptedEvaluator(priors=lambda s, k: prior), sample=True)
    chosen = player.choose([state] * 800, seeded(800))
    share = sum(m == legal_moves(state)[2] for m in chosen) / 800
    assert set(chosen) == {legal_moves(state)[0], legal_moves(state)[2]}
    assert abs(share - 0.75) < 0.05


def test_forced_positions_do_not_ask_the_network() -> None:
    forced = [s for s in random_positions("square8", 2, range(1)) if len(legal_moves(s)) == 1][:4]
    assert PolicyPlayer(RefusingEvaluator()).choose(forced, seeded(4)) == [legal_moves(s)[0] for s in forced]
    player = SearchPlayer(RefusingEvaluator(), SearchConfig(simulations=8))
    assert player.choose(forced, seeded(4)) == [legal_moves(s)[0] for s in forced]


def test_search_player_plays_the_search_result() -> None:
    states = [s for s in positions(10) if len(legal_moves(s)) > 1][:4]
    config = SearchConfig(simulations=12, gumbel_actions=4)
    player = SearchPlayer(ScriptedEvaluator(), config, MODEL)
    expected = [r.move for r in search(states, ScriptedEvaluator(), config, seeded(4, 9))]
    assert player.choose(states, seeded(4, 9)) == expected


class SeatRecorder:
    """A random player that records which seats it was asked to move for."""

    kind = "recorder"
    budget = 0
    model_id = None

    def __init__(self) -> None:
        self.seats: set[int] = set()
        self.batches: list[int] = []

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        self.seats |= {s.current for s in states}
        self.batches.append(len(states))
        return RandomPlayer().choose(states, rngs)


def test_play_games_gives_each_seat_its_player_and_batches_them() -> None:
    recorders = [SeatRecorder() for _ in range(3)]
    finals = play_games(recorders, [initial_state("square8", 3)] * 5, seeded(5))
    assert all(is_terminal(f) for f in finals)
    assert [r.seats for r in recorders] == [{1}, {2}, {3}]
    assert max(recorders[0].batches) == 5
    with pytest.raises(ValueError, match="has 2 seats but 3 players"):
        play_games(recorders, [initial_state("square8", 2)], seeded(1))


def test_network_players_play_whole_games_through_the_real_evaluator() -> None:
    evaluator = seeded_evaluator("hex8", 2, TINY_NET, device="cpu", max_batch=64, seed=3)
    gumbel = SearchPlayer(evaluator, SearchConfig(simulations=4, gumbel_actions=4), MODEL)
    policy = PolicyPlayer(evaluator, MODEL, sample=True)
    # play_games applies every move through the validating apply_move.
    finals = play_games([gumbel, policy], [initial_state("hex8", 2)] * 2, seeded(2))
    assert all(is_terminal(f) for f in finals)
