"""`ringrift-hpc bench rules`: the library results and the CLI, on tiny budgets."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from ringrift_hpc.bench.rules_bench import (
    REFERENCE_MOVES_PER_S,
    TARGET_FACTOR,
    midgame_costs,
    random_games,
    run_rules_bench,
)
from ringrift_hpc.cli.bench import bench_app


def test_finished_games_are_counted_and_seeded_runs_repeat() -> None:
    first = random_games("square8", 2, seconds=60.0, max_games=2, seed=7)
    again = random_games("square8", 2, seconds=60.0, max_games=2, seed=7)
    assert first.games_finished == first.games_started == 2
    assert first.moves == again.moves > 0
    assert first.moves_per_s > 0 and first.games_per_s > 0


def test_speedup_is_against_the_two_player_reference_only() -> None:
    two = random_games("hex8", 2, seconds=0.2)
    three = random_games("hex8", 3, seconds=0.2)
    assert two.reference_moves_per_s == REFERENCE_MOVES_PER_S["hex8"]
    assert two.speedup == pytest.approx(two.moves_per_s / REFERENCE_MOVES_PER_S["hex8"])
    assert three.reference_moves_per_s is None and three.speedup is None


def test_checked_and_fast_paths_play_the_same_games() -> None:
    fast = random_games("square8", 3, seconds=60.0, max_games=1, seed=3)
    checked = random_games("square8", 3, seconds=60.0, max_games=1, seed=3, checked=True)
    assert checked.checked and not fast.checked
    assert checked.moves == fast.moves


def test_midgame_costs_are_positive_on_a_movement_position() -> None:
    costs = midgame_costs("square8", 2, seed=1, min_seconds=0.02)
    assert costs.phase == "movement" and costs.legal_count > 0
    assert costs.copy_us > 0 and costs.legal_moves_us >= 0


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown board"):
        run_rules_bench(("square9",), seconds=0.01)
    with pytest.raises(ValueError, match="2, 3 or 4 players"):
        run_rules_bench(("square8",), num_players=5, seconds=0.01)


def test_cli_prints_rates_ratios_and_costs() -> None:
    app = typer.Typer()
    app.add_typer(bench_app, name="bench")
    result = CliRunner().invoke(app, ["bench", "rules", "--board", "square8", "--seconds", "0.2"])
    assert result.exit_code == 0, result.output
    assert "square8 2p" in result.output
    assert f"{REFERENCE_MOVES_PER_S['square8'] * TARGET_FACTOR:,.0f}" in result.output
    assert "legal_moves us" in result.output
    bad = CliRunner().invoke(app, ["bench", "rules", "--board", "go19", "--seconds", "0.1"])
    assert bad.exit_code != 0 and "unknown board" in bad.output
