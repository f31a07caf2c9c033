"""Decisive moves: every line found is a real win; wins in one move are never missed; the search
plays them unsearched and never walks into an opponent's, even where its budget is tiny."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from test_search import RefusingEvaluator, ScriptedEvaluator, after, one_move_losses, random_positions, seeded

from ringrift_hpc import rules
from ringrift_hpc.ai.decisive import decisive_move, wins_alone
from ringrift_hpc.ai.search import SearchConfig, search
from ringrift_hpc.rules import GameState


def positions(board: str, players: int, seeds: range) -> Iterator[GameState]:
    """Every position with a choice in seeded uniformly random games."""
    return (s for s in random_positions(board, players, seeds) if len(rules.legal_moves(s)) > 1)


@pytest.mark.parametrize(("board", "players"), [("square8", 2), ("hex8", 3)])
def test_every_line_found_ends_in_a_win_of_the_mover_and_one_move_wins_are_found(
    board: str, players: int
) -> None:
    found = 0
    for state in positions(board, players, range(12)):
        moves = rules.legal_moves(state)
        decisive = decisive_move(state)
        wins_now = [
            m for m in moves if rules.is_terminal(a := after(state, m)) and wins_alone(a, state.current)
        ]
        if decisive is None:
            assert not wins_now, state
            continue
        found += 1
        assert rules.is_terminal(decisive.final) and wins_alone(decisive.final, state.current)
        assert decisive.final.winner == state.current
        if wins_now:
            assert moves[decisive.move_index] in wins_now
    assert found > 0


def test_the_search_plays_a_decisive_move_without_judging_anything() -> None:
    cases = [(s, d) for s in positions("square8", 2, range(20)) if (d := decisive_move(s)) is not None][:4]
    assert len(cases) == 4
    config = SearchConfig(simulations=16, gumbel_actions=4, decisive_moves=True)
    results = search([s for s, _ in cases], RefusingEvaluator(), config, seeded(len(cases)))
    for (state, decisive), result in zip(cases, results, strict=True):
        assert result.move == rules.legal_moves(state)[decisive.move_index]
        assert result.policy[decisive.move_index] == 1.0 and not result.forced
        assert result.root_value is not None and result.root_value[state.current - 1] == 1.0


def test_the_search_does_not_walk_into_a_decisive_reply_even_on_a_tiny_budget() -> None:
    cases = one_move_losses(3)
    assert len(cases) == 3
    # Two simulations over two considered moves: the plain search cannot see the reply.
    config = SearchConfig(simulations=2, gumbel_actions=2, decisive_moves=True)
    for seed in range(8):
        results = search([s for s, _ in cases], ScriptedEvaluator(), config, seeded(len(cases), 10 * seed))
        for (state, losing), result in zip(cases, results, strict=True):
            assert result.move not in losing, state
    plain = SearchConfig(simulations=2, gumbel_actions=2)
    walked_in = sum(
        result.move in losing
        for seed in range(8)
        for (_, losing), result in zip(
            cases,
            search([s for s, _ in cases], ScriptedEvaluator(), plain, seeded(3, 10 * seed)),
            strict=True,
        )
    )
    assert walked_in > 0  # the cases do test the check


def test_decisive_moves_are_off_by_default() -> None:
    assert not SearchConfig().decisive_moves
    state = next(s for s in positions("square8", 2, range(20)) if decisive_move(s) is not None)
    result = search([state], ScriptedEvaluator(), SearchConfig(simulations=4), [np.random.default_rng(0)])[0]
    assert result.visits.sum() > 0  # searched, not short-cut
