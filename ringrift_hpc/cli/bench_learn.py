"""`ringrift-hpc bench learn`: the learning proof; thin printing over `ringrift_hpc.bench.learn_bench`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringrift_hpc.bench.learn_settings import TARGET_VS_HEURISTIC, TARGET_VS_RANDOM, LearnSettings
from ringrift_hpc.config.variants import variant_from_name

if TYPE_CHECKING:
    from ringrift_hpc.bench.learn_bench import GenerationReport, LearnReport

_DEFAULTS = LearnSettings()


def learn_command(
    variant: Annotated[
        str, typer.Option("--variant", help="square8_2p or hex8_2p.")
    ] = _DEFAULTS.variant.name,
    minutes: Annotated[
        float, typer.Option("--minutes", "-m", min=0.01, help="CPU-minute budget of selfplay + training.")
    ] = _DEFAULTS.budget_cpu_minutes,
    generations: Annotated[
        int, typer.Option("--generations", min=1, help="Most models to train.")
    ] = _DEFAULTS.max_generations,
    simulations: Annotated[
        int, typer.Option("--simulations", "-n", min=1, help="Search budget.")
    ] = _DEFAULTS.simulations,
    bootstrap_games: Annotated[
        int, typer.Option("--bootstrap-games", min=1, help="Heuristic games of generation 0.")
    ] = _DEFAULTS.bootstrap_games,
    games: Annotated[
        int, typer.Option("--games", min=1, help="Search selfplay games per generation.")
    ] = _DEFAULTS.games_per_generation,
    eval_games: Annotated[
        int, typer.Option("--eval-games", min=2, help="Games per opponent after each intermediate model.")
    ] = _DEFAULTS.eval_games,
    final_eval_games: Annotated[
        int, typer.Option("--final-eval-games", min=2, help="Games per opponent for the last model.")
    ] = _DEFAULTS.final_eval_games,
    seed: Annotated[int, typer.Option("--seed", help="Run seed.")] = _DEFAULTS.seed,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir", help="Run directory to create (default: a temporary one, removed afterwards)."
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the learning curve as a PNG (needs matplotlib).")
    ] = None,
) -> None:
    """Selfplay and training from a heuristic bootstrap for a CPU budget; win rates per generation."""
    # The bench runs torch: imported here, so registering the command costs nothing.
    from ringrift_hpc.bench.learn_bench import evaluated_player_words, plot_learning_curve, run_learn_bench

    try:
        settings = LearnSettings(
            variant=variant_from_name(variant, where="--variant"),
            budget_cpu_minutes=minutes,
            max_generations=generations,
            simulations=simulations,
            bootstrap_games=bootstrap_games,
            games_per_generation=games,
            eval_games=eval_games,
            final_eval_games=final_eval_games,
            seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(f"learn bench: {variant}, budget {minutes:g} CPU-minutes of selfplay + training")
    typer.echo(f"evaluated player: {evaluated_player_words(settings)}")
    typer.echo(HEADER)
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="learn-bench-") as scratch:
            report = run_learn_bench(
                settings, Path(scratch) / "run", on_generation=lambda g: typer.echo(format_row(g))
            )
    else:
        report = run_learn_bench(settings, run_dir, on_generation=lambda g: typer.echo(format_row(g)))
    typer.echo(format_verdict(report))
    if json_out is not None:
        json_out.write_text(report.to_json())
    if plot is not None:
        plot_learning_curve(report, plot)


HEADER = (
    f"{'gen':>4}{'cpu min':>9}{'wall min':>10}{'positions':>11}{'steps':>7}{'p loss':>8}{'v loss':>8}"
    f"{'vs random':>26}{'vs heuristic':>26}{'eval cpu':>10}"
)


def _rate(wins: int, games: int, low: float, high: float) -> str:
    return f"{wins:>3}/{games:<3} {wins / games:5.1%} [{low:.2f},{high:.2f}]"


def format_row(g: GenerationReport) -> str:
    """One generation: cumulative budgeted CPU and wall time, training figures, win rates (95% Wilson)."""
    rates = "".join(f" {_rate(r.wins, r.games, r.low, r.high):>25}" for r in g.results)
    return (
        f"{g.generation:>4}{g.cpu_minutes:>9.2f}{g.wall_minutes:>10.2f}{g.selfplay_positions:>11}"
        f"{g.train_steps:>7}{g.policy_loss:>8.3f}{g.value_loss:>8.3f}{rates}{g.eval_cpu_minutes:>10.2f}"
    )


def format_verdict(report: LearnReport) -> str:
    target = (
        f"target: >= {TARGET_VS_RANDOM:.0%} wins against random over {report.settings.final_eval_games} games and "
        f"> {TARGET_VS_HEURISTIC:.0%} against heuristic, within {report.settings.budget_cpu_minutes:g} CPU-minutes"
    )
    return f"{target}: {'MET' if report.target_met() else 'NOT MET'}"
