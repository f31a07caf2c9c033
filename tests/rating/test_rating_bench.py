"""`bench ratings` on a tiny budget: the command runs, reports time and ratio, and the fit is right."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from ringrift_hpc.bench.ratings_bench import run_ratings_bench
from ringrift_hpc.cli.bench_ratings import ratings_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("ratings")(ratings_command)
    app.command("other")(lambda: None)  # two commands, so typer keeps the sub-command name
    return app


def test_bench_ratings_command_reports_time_ratio_and_accuracy() -> None:
    result = CliRunner().invoke(_app(), ["ratings", "--participants", "50", "--games", "20000"])
    assert result.exit_code == 0, result.output
    assert "50 participants, 20,000 2-player games" in result.output
    assert "target    2.0 s  ratio" in result.output
    assert "rmse" in result.output


def test_bench_ratings_refuses_impossible_sizes() -> None:
    result = CliRunner().invoke(_app(), ["ratings", "--participants", "3", "--players", "4"])
    assert result.exit_code != 0
    assert "cannot fill a 4-player game" in result.output


def test_the_benchmarked_fit_recovers_the_true_ratings() -> None:
    for players in (2, 4):
        result = run_ratings_bench(participants=40, games=40_000, players=players, seed=1)
        assert result.rmse_elo < 3 * result.median_stderr_elo
        assert result.ratio == result.seconds / 2.0
