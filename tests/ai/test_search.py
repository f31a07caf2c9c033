"""Gumbel search with scripted evaluators (no network).

Checks that the search finds a one-move win, avoids a one-move loss, follows the prior when
values are flat, judges each node from its own seat to move for 3-4 players, batches games
without changing any game's result, makes one evaluator call per simulation step, plays forced
positions without searching, and is reproducible from its seeds. Positions come from seeded
random play, found at run time by the property each test needs.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from ringrift_hpc import rules
from ringrift_hpc.ai.evaluation import Evaluation
from ringrift_hpc.ai.search import (
    Node,
    SearchConfig,
    SearchTimings,
    completed_q,
    halving_schedule,
    improved_policy,
    play_forced,
    search,
    select_nonroot,
    sigma_scale,
)
from ringrift_hpc.rules import GameState, Move


class ScriptedEvaluator:
    """Priors and values from functions of the state; records every call's batch size."""

    def __init__(
        self,
        priors: Callable[[GameState, int], np.ndarray] | None = None,
        values: Callable[[GameState], np.ndarray] | None = None,
    ) -> None:
        self.priors = priors or (lambda state, n: np.full(n, 1.0 / n))
        self.values = values or (lambda state: np.zeros(state.num_players))
        self.batches: list[int] = []

    def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]:
        self.batches.append(len(states))
        out = []
        for state in states:
            n = len(rules.legal_moves(state))
            out.append(
                Evaluation(
                    priors=np.asarray(self.priors(state, n), dtype=np.float32),
                    values=np.asarray(self.values(state), dtype=np.float32),
                )
            )
        return out


class RefusingEvaluator:
    def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]:
        raise AssertionError(f"the evaluator was called for {len(states)} positions")


def hashed_evaluator() -> ScriptedEvaluator:
    """Priors and values that vary with the position, the same for the same position."""

    def rng_of(state: GameState) -> np.random.Generator:
        return np.random.default_rng(int(rules.fingerprint(state).hash, 16))

    def priors(state: GameState, n: int) -> np.ndarray:
        p = rng_of(state).random(n) + 0.05
        return p / p.sum()

    def values(state: GameState) -> np.ndarray:
        return rng_of(state).uniform(-1, 1, state.num_players + 1)[1:]

    return ScriptedEvaluator(priors, values)


def after(state: GameState, move: Move) -> GameState:
    return play_forced(rules.apply_move_unchecked(state, move))


def random_positions(board: str, players: int, seeds: range) -> Iterator[GameState]:
    """Every non-terminal position of seeded uniformly random games."""
    for seed in seeds:
        rng = random.Random(seed)
        state = rules.initial_state(board, players)
        while not rules.is_terminal(state):
            yield state
            state = rules.apply_move_unchecked(state, rng.choice(rules.legal_moves(state)))


def wins_now(state: GameState, move: Move) -> bool:
    nxt = after(state, move)
    return rules.is_terminal(nxt) and nxt.winner == state.current


def one_move_wins(limit: int) -> list[tuple[GameState, Move]]:
    """Positions with exactly one move that ends the game, and it wins for the mover."""
    found = []
    for state in random_positions("square8", 2, range(40)):
        moves = rules.legal_moves(state)
        if not 2 <= len(moves) <= 12:
            continue
        ending = [m for m in moves if rules.is_terminal(after(state, m))]
        if len(ending) == 1 and wins_now(state, ending[0]):
            found.append((state, ending[0]))
            if len(found) == limit:
                break
    return found


def one_move_losses(limit: int) -> list[tuple[GameState, set[Move]]]:
    """Positions where some moves let the next seat win at once and others do not."""
    found = []
    for state in random_positions("square8", 2, range(40)):
        moves = rules.legal_moves(state)
        if not 2 <= len(moves) <= 10:
            continue
        losing = set()
        safe = False
        for move in moves:
            nxt = after(state, move)
            if rules.is_terminal(nxt):
                break
            replies = rules.legal_moves(nxt)
            if nxt.current != state.current and len(replies) <= 10 and any(wins_now(nxt, r) for r in replies):
                losing.add(move)
            elif nxt.current != state.current or len(replies) <= 10:
                safe = True
        else:
            if losing and safe:
                found.append((state, losing))
                if len(found) == limit:
                    break
    return found


def seeded(n: int, base: int = 0) -> list[np.random.Generator]:
    return [np.random.default_rng(base + i) for i in range(n)]


def assert_same(a: object, b: object) -> None:
    assert a.move == b.move  # type: ignore[attr-defined]
    np.testing.assert_array_equal(a.visits, b.visits)  # type: ignore[attr-defined]
    np.testing.assert_allclose(a.policy, b.policy, rtol=0, atol=1e-7)  # type: ignore[attr-defined]
    np.testing.assert_allclose(a.root_value, b.root_value, rtol=0, atol=1e-7)  # type: ignore[attr-defined]


def test_finds_a_one_move_win() -> None:
    cases = one_move_wins(4)
    assert len(cases) == 4
    config = SearchConfig(simulations=32, gumbel_actions=16)
    results = search([s for s, _ in cases], ScriptedEvaluator(), config, seeded(len(cases)))
    for (state, winning), result in zip(cases, results):
        assert result.move == winning, state
        assert result.moves[int(np.argmax(result.policy))] == winning
        assert result.root_value is not None and result.root_value[state.current - 1] > 0


def test_avoids_a_one_move_loss() -> None:
    cases = one_move_losses(3)
    assert len(cases) == 3
    config = SearchConfig(simulations=200, gumbel_actions=16)
    for seed in range(3):
        results = search([s for s, _ in cases], ScriptedEvaluator(), config, seeded(len(cases), 10 * seed))
        for (state, losing), result in zip(cases, results):
            assert result.move not in losing, state
            lost = [i for i, m in enumerate(result.moves) if m in losing]
            assert result.policy[lost].max() < result.policy.max()


def test_flat_values_give_back_the_prior() -> None:
    state = next(s for s in random_positions("square8", 2, range(5)) if len(rules.legal_moves(s)) == 4)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    evaluator = ScriptedEvaluator(priors=lambda s, n: prior if n == 4 else np.full(n, 1.0 / n))
    games = 1500
    results = search([state] * games, evaluator, SearchConfig(simulations=8), seeded(games))
    np.testing.assert_allclose(results[0].policy, prior, atol=1e-6)
    moves = rules.legal_moves(state)
    chosen = np.bincount([moves.index(r.move) for r in results], minlength=4) / games
    # Gumbel-max: with nothing learned from values, the move played is a sample of the prior.
    np.testing.assert_allclose(chosen, prior, atol=0.04)


def test_interior_visits_follow_the_prior_when_values_are_flat() -> None:
    state = next(s for s in random_positions("square8", 2, range(5)) if len(rules.legal_moves(s)) == 5)
    node = Node(state)
    prior = np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    node.expand(Evaluation(priors=prior.astype(np.float32), values=np.zeros(2, dtype=np.float32)))
    config = SearchConfig()
    for _ in range(100):
        node.record(select_nonroot(node, config), np.zeros(2))
    np.testing.assert_allclose(node.child_visits / 100, prior, atol=0.011)
    np.testing.assert_allclose(improved_policy(node, config), prior, atol=1e-9)


@pytest.mark.parametrize("players", [2, 3])
def test_interior_choice_is_the_argmax_of_the_improved_policy_minus_visit_share(players: int) -> None:
    """select_nonroot against its definition, argmax(π' - N / (1 + ΣN)), over random priors
    (some tied, some zero) and random backed-up values, at every step of 60 visits."""
    states = [s for s in random_positions("square8", players, range(3)) if len(rules.legal_moves(s)) >= 3]
    rng = np.random.default_rng(players)
    checked = 0
    for state in states[:40]:
        node = Node(state)
        n = len(node.moves)
        prior = rng.choice([0.0, 0.5, 1.0, 2.0], size=n) + rng.random(n) * rng.integers(0, 2)
        prior[rng.integers(n)] += 1.0
        values = np.zeros(players, np.float32)
        values[state.current - 1] = rng.uniform(-1, 1)
        node.expand(Evaluation(priors=(prior / prior.sum()).astype(np.float32), values=values))
        config = SearchConfig(c_visit=float(rng.choice([0.5, 50.0])))
        for _ in range(60):
            score = improved_policy(node, config) - node.child_visits / (1.0 + node.total)
            chosen = select_nonroot(node, config)
            ranked = np.sort(score)
            if ranked[-1] - ranked[-2] > 1e-9:
                assert chosen == int(np.argmax(score))
                checked += 1
            else:
                assert score[chosen] >= ranked[-1] - 1e-9
            node.record(chosen, rng.uniform(-1, 1, players) * rng.integers(0, 2))
    assert checked > 1000


def test_interior_choice_with_every_move_visited_ignores_a_mixed_value_above_all_q() -> None:
    """With no unvisited move the mixed value is not among the bounds; a nearly flat, low Q
    under a high network value once overflowed exp(scale * (mixed - hi))."""
    state = next(s for s in random_positions("square8", 2, range(5)) if len(rules.legal_moves(s)) == 2)
    node = Node(state)
    values = np.zeros(2, np.float32)
    values[state.current - 1] = 1.0
    node.expand(Evaluation(priors=np.array([0.6, 0.4], np.float32), values=values))
    seat = np.eye(2)[state.current - 1]
    node.record(0, -0.5 * seat)
    node.record(1, (-0.5 + 1e-7) * seat)
    assert node.mixed_value() > -0.4 and sigma_scale(node.max_visits, SearchConfig(), -0.5, -0.5 + 1e-7) > 1e5
    score = improved_policy(node, SearchConfig()) - node.child_visits / (1.0 + node.total)
    assert select_nonroot(node, SearchConfig()) == int(np.argmax(score))


def test_the_cyclic_collector_is_paused_during_a_search_and_restored_after() -> None:
    states = [s for s in random_positions("square8", 2, range(2)) if len(rules.legal_moves(s)) > 1][:3]
    seen: list[bool] = []

    class Watching(ScriptedEvaluator):
        def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]:
            seen.append(gc.isenabled())
            if len(seen) == 3 and failing:
                raise RuntimeError("evaluator failed")
            return super().evaluate(states)

    assert gc.isenabled()
    failing = False
    search(states, Watching(), SearchConfig(simulations=4), seeded(3))
    assert seen and not any(seen) and gc.isenabled()
    failing = True
    seen.clear()
    with pytest.raises(RuntimeError, match="evaluator failed"):
        search(states, Watching(), SearchConfig(simulations=4), seeded(3))
    assert gc.isenabled()
    gc.disable()
    try:
        search(states, Watching(), SearchConfig(simulations=4), seeded(3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_completed_q_mixes_the_network_value_into_unvisited_moves() -> None:
    state = next(s for s in random_positions("square8", 2, range(5)) if len(rules.legal_moves(s)) == 3)
    node = Node(state)
    node.expand(Evaluation(priors=np.array([0.5, 0.3, 0.2], np.float32), values=np.zeros(2, np.float32)))
    node.net_value[state.current - 1] = 0.3
    seat = np.eye(2)[state.current - 1]
    for action, value in ((0, -0.2), (0, -0.8), (1, 0.8)):
        node.record(action, value * seat)
    q = completed_q(node)
    visited_mean = (0.5 * -0.5 + 0.3 * 0.8) / 0.8
    np.testing.assert_allclose(q, [-0.5, 0.8, (0.3 + 3 * visited_mean) / 4], atol=1e-6)


def test_interior_nodes_prefer_the_move_best_for_their_own_seat() -> None:
    state = next(
        s
        for s in random_positions("square8", 3, range(5))
        if s.current == 2 and len(rules.legal_moves(s)) >= 3
    )
    node = Node(state)
    n = len(node.moves)
    node.expand(Evaluation(priors=np.full(n, 1.0 / n, np.float32), values=np.zeros(3, np.float32)))
    # Move 0 is best for seat 1, move 1 for seat 2 (to move here), move 2 for seat 3.
    for action, value in ((0, [1.0, -1.0, 0.0]), (1, [-1.0, 0.5, -1.0]), (2, [0.0, 0.0, 1.0])):
        node.record(action, np.array(value))
    policy = improved_policy(node, SearchConfig())
    assert int(np.argmax(policy)) == 1 and policy[1] > 0.9
    assert select_nonroot(node, SearchConfig()) == 1


@pytest.mark.parametrize(("players", "seat"), [(3, 2), (4, 3)])
def test_multiplayer_search_maximizes_the_seat_to_move(players: int, seat: int) -> None:
    state = next(
        s
        for s in random_positions("square8", players, range(20))
        if s.current == seat and s.phase == "ring_placement" and len(rules.legal_moves(s)) > 20
    )
    moves = rules.legal_moves(state)

    def board(s: GameState) -> tuple:
        return (tuple(s.stacks), tuple(s.cells))

    mine, first_seat, others = (board(rules.apply_move_unchecked(state, m)) for m in moves[3:6])
    table = {}
    # Best for the seat to move; best for seat 1; best for everybody else together.
    table[mine] = [-1.0] * players
    table[mine][seat - 1] = 0.5
    table[first_seat] = [1.0] * players
    table[first_seat][seat - 1] = -0.5
    table[others] = [1.0] * players
    table[others][seat - 1] = 0.0
    evaluator = ScriptedEvaluator(values=lambda s: np.array(table.get(board(s), [0.0] * players)))
    config = SearchConfig(simulations=len(moves), gumbel_actions=len(moves))
    for result in search([state] * 5, evaluator, config, seeded(5)):
        assert result.move == moves[3]
        assert int(np.argmax(result.policy)) == 3


def test_batched_games_match_games_searched_alone() -> None:
    states = [
        s
        for i, s in enumerate(random_positions("square8", 2, range(2)))
        if i % 37 == 5 and len(rules.legal_moves(s)) > 1
    ][:4]
    states += [
        s
        for i, s in enumerate(random_positions("hex8", 3, range(1)))
        if i % 41 == 7 and len(rules.legal_moves(s)) > 1
    ][:3]
    config = SearchConfig(simulations=24, gumbel_actions=8)
    together = search(states, hashed_evaluator(), config, seeded(len(states), 100))
    for i, state in enumerate(states):
        alone = search([state], hashed_evaluator(), config, seeded(1, 100 + i))[0]
        assert_same(together[i], alone)


def test_one_evaluator_call_per_simulation_step() -> None:
    states = [s for i, s in enumerate(random_positions("square8", 2, range(3))) if i % 20 == 3]
    states = [s for s in states if s.move_count < 60 and len(rules.legal_moves(s)) > 1]
    evaluator = hashed_evaluator()
    timings = SearchTimings()
    config = SearchConfig(simulations=16, gumbel_actions=4)
    search(states, evaluator, config, seeded(len(states)), timings=timings)
    assert len(states) >= 4
    assert len(evaluator.batches) == 1 + config.simulations == timings.calls
    assert evaluator.batches[0] == len(states)
    assert all(b <= len(states) for b in evaluator.batches)
    assert sum(evaluator.batches) == timings.evaluations


def test_forced_positions_are_played_without_search() -> None:
    forced = [s for s in random_positions("square8", 2, range(1)) if len(rules.legal_moves(s)) == 1][:3]
    assert len(forced) == 3
    results = search(forced, RefusingEvaluator(), SearchConfig(), seeded(3))
    for state, result in zip(forced, results):
        assert result.forced and result.move == rules.legal_moves(state)[0]
        assert result.root_value is None
        np.testing.assert_array_equal(result.policy, [1.0])

    chosen = next(s for s in random_positions("square8", 2, range(1)) if len(rules.legal_moves(s)) > 1)
    evaluator = ScriptedEvaluator()
    mixed = search([forced[0], chosen, forced[1]], evaluator, SearchConfig(simulations=4), seeded(3))
    assert [r.forced for r in mixed] == [True, False, True]
    assert set(evaluator.batches) == {1}


def test_reproducible_from_the_seed() -> None:
    state = rules.initial_state("square8", 2)
    config = SearchConfig(simulations=16)
    first = search([state], hashed_evaluator(), config, seeded(1, 7))[0]
    again = search([state], hashed_evaluator(), config, seeded(1, 7))[0]
    assert_same(first, again)
    others = {search([state], hashed_evaluator(), config, seeded(1, s))[0].move for s in range(8)}
    assert len(others) > 1


def test_opening_moves_are_sampled_from_the_improved_policy() -> None:
    state = rules.initial_state("square8", 2)
    sampled = search(
        [state], ScriptedEvaluator(), SearchConfig(simulations=4, opening_sample_moves=1), seeded(1)
    )
    played = search([state], ScriptedEvaluator(), SearchConfig(simulations=4), seeded(1))
    assert sampled[0].sampled and not played[0].sampled
    # Sampled moves need not have been visited; halving only plays a visited move.
    assert played[0].visits[played[0].moves.index(played[0].move)] > 0


def test_halving_schedule() -> None:
    assert halving_schedule(4, 8) == [0, 0, 0, 0, 1, 1, 2, 2]
    assert halving_schedule(1, 3) == [0, 1, 2]
    schedule = halving_schedule(16, 64)
    assert len(schedule) == 64 and schedule[:16] == [0] * 16


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="simulations = 0 must be at least 1"):
        SearchConfig(simulations=0)
    with pytest.raises(ValueError, match="c_visit"):
        SearchConfig(c_visit=0.0)


def test_errors_name_the_problem() -> None:
    state = rules.initial_state("square8", 2)
    with pytest.raises(ValueError, match="one per state"):
        search([state], ScriptedEvaluator(), SearchConfig(), [])
    bad = ScriptedEvaluator(priors=lambda s, n: np.full(n + 1, 1.0 / (n + 1)))
    with pytest.raises(ValueError, match="must follow legal_moves"):
        search([state], bad, SearchConfig(), seeded(1))
    finished = next(s for s in random_positions("square8", 2, range(1)) if s.move_count > 10)
    while not rules.is_terminal(finished):
        finished = rules.apply_move_unchecked(finished, rules.legal_moves(finished)[0])
    with pytest.raises(ValueError, match="is finished"):
        search([finished], ScriptedEvaluator(), SearchConfig(), seeded(1))
