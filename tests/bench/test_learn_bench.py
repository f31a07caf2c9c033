"""`bench learn` machinery at a tiny budget: the report's structure and the model lineage.

Learning itself is not asserted here (a few games and steps prove nothing); the bench run
recorded in docs/benchmarks.md is the proof.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ringrift_hpc.bench.learn_bench import (
    OPPONENTS,
    LearnReport,
    bench_config,
    is_last_generation,
    plot_learning_curve,
    run_learn_bench,
    wilson_interval,
)
from ringrift_hpc.bench.learn_settings import LearnSettings
from ringrift_hpc.cli.app import app
from ringrift_hpc.cli.bench_learn import format_row, format_verdict
from ringrift_hpc.store import RunLayout, read_manifest

TINY = LearnSettings(
    max_generations=2,
    bootstrap_games=2,
    games_per_generation=1,
    selfplay_tasks=1,
    simulations=2,
    gumbel_actions=2,
    concurrent_games=2,
    min_steps=2,
    max_steps=2,
    batch_size=16,
    channels=8,
    blocks=1,
    value_hidden=8,
    eval_games=2,
    final_eval_games=4,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> LearnReport:
    return run_learn_bench(TINY, tmp_path_factory.mktemp("learn") / "run")


def test_each_model_is_trained_from_its_parent(report: LearnReport) -> None:
    layout = RunLayout(Path(report.run_dir))
    assert [g.generation for g in report.generations] == [1, 2]
    assert report.generations[0].parent is None
    assert report.generations[1].parent == report.generations[0].model_id
    for g in report.generations:
        meta = read_manifest(layout.model_weights(TINY.variant.name, g.model_id)).manifest.metadata
        assert meta["parent"] == g.parent
        assert meta["generation"] == g.generation
        assert meta["steps"] == g.train_steps == TINY.max_steps
    second = read_manifest(
        layout.model_weights(TINY.variant.name, report.generations[1].model_id)
    ).manifest.metadata
    trained_on = {name.split("/")[0] for name, _ in second["data"]}
    assert trained_on == {"000000", "000001"}  # the replay window spans both selfplay generations


def test_report_counts_games_and_cpu(report: LearnReport) -> None:
    first, last = report.generations
    assert first.selfplay_games == TINY.bootstrap_games
    assert last.selfplay_games == TINY.games_per_generation
    assert 0 < first.cpu_minutes < last.cpu_minutes
    assert first.wall_minutes > 0 and last.eval_cpu_minutes > 0
    for g, games in ((first, TINY.eval_games), (last, TINY.final_eval_games)):
        assert [r.opponent for r in g.results] == list(OPPONENTS)
        for r in g.results:
            assert r.games == games and 0 <= r.wins + r.draws <= games
            assert (r.low, r.high) == wilson_interval(r.wins, r.games)
    saved = json.loads((Path(report.run_dir) / "learn_bench.json").read_text())
    assert saved["generations"][1]["model_id"] == last.model_id
    assert saved["settings"]["variant"] == "square8_2p"
    assert "search at 2 simulations" in report.evaluated_player
    assert format_row(last).split()[0] == "2"
    assert format_verdict(report).endswith("NOT MET") != report.target_met()


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(190, 200)
    assert low == pytest.approx(0.9104, abs=1e-4) and high == pytest.approx(0.9726, abs=1e-4)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    assert wilson_interval(4, 4)[1] == 1.0 and wilson_interval(200, 200)[1] == 1.0  # never below the rate
    with pytest.raises(ValueError, match="games must be at least 1"):
        wilson_interval(0, 0)


def test_settings_and_config_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="final_eval_games must be an even number"):
        LearnSettings(final_eval_games=3)
    config = bench_config(TINY, tmp_path)
    assert (config.network.channels, config.selfplay.simulations, config.training.max_steps) == (8, 2, 2)
    assert config.run.variants[0] == TINY.variant


def test_learning_curve_plot_is_a_png(report: LearnReport, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    plot_learning_curve(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_budget_ends_the_run_before_a_generation_it_cannot_pay_for() -> None:
    settings = LearnSettings(budget_cpu_minutes=4.0, max_generations=5)
    assert not is_last_generation(1, settings, spent_s=142.0, next_cost_s=0.0)  # no search generation yet
    assert is_last_generation(2, settings, spent_s=208.0, next_cost_s=66.0)
    assert not is_last_generation(2, settings, spent_s=150.0, next_cost_s=66.0)
    assert is_last_generation(5, settings, spent_s=0.0, next_cost_s=0.0)
    assert is_last_generation(1, settings, spent_s=241.0, next_cost_s=0.0)


def test_the_command_refuses_a_bad_variant_before_running() -> None:
    result = CliRunner().invoke(app, ["bench", "learn", "--variant", "hex8_1p"], terminal_width=200)
    assert result.exit_code == 2
    assert "--variant: hex8 is played by 2, 3 or 4 players, not 1" in result.output
