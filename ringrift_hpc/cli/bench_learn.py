"""`ringrift-hpc bench learn`: the learning proof; thin printing over `ringrift_hpc.bench.learn_bench`."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringrift_hpc.bench.learn_scores import (
    Score,
    chance,
    seat_rotated_games,
    significantly_above_chance,
    summarize_seeds,
)
from ringrift_hpc.bench.learn_settings import LearnSettings
from ringrift_hpc.bench.learn_targets import OPPONENTS, targets_for
from ringrift_hpc.config.variants import variant_from_name

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ringrift_hpc.bench.learn_bench import GenerationReport, LearnReport

_DEFAULTS = LearnSettings()


def learn_command(
    variant: Annotated[
        str,
        typer.Option(
            "--variant", help="Board and players, e.g. square8_2p, hex8_2p, square8_3p, hexagonal_4p."
        ),
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
    eval_simulations: Annotated[
        int,
        typer.Option(
            "--eval-simulations", min=1, help="Search budget of the evaluated player (every move searched)."
        ),
    ] = _DEFAULTS.eval_simulations,
    eval_decisive_moves: Annotated[
        bool,
        typer.Option(
            "--eval-decisive-moves/--no-eval-decisive-moves",
            help="The evaluated player plays a move that wins within its turn and avoids moves that "
            "allow the opponent one (selfplay searches without the check).",
        ),
    ] = _DEFAULTS.eval_decisive_moves,
    bootstrap_games: Annotated[
        int, typer.Option("--bootstrap-games", min=1, help="Heuristic games of generation 0.")
    ] = _DEFAULTS.bootstrap_games,
    games: Annotated[
        int, typer.Option("--games", min=1, help="Search selfplay games per generation.")
    ] = _DEFAULTS.games_per_generation,
    full_search_fraction: Annotated[
        float,
        typer.Option(
            "--full-search-fraction",
            min=0.01,
            max=1.0,
            help="Share of selfplay moves searched at --simulations and kept as samples (playout cap "
            "randomization; 1 turns it off).",
        ),
    ] = _DEFAULTS.full_search_fraction,
    fast_simulations: Annotated[
        int, typer.Option("--fast-simulations", min=1, help="Simulations of the other, cheap searches.")
    ] = _DEFAULTS.fast_simulations,
    value_search_weight: Annotated[
        float,
        typer.Option(
            "--value-search-weight",
            min=0.0,
            max=1.0,
            help="Weight of the searched root value in the value targets (the outcome has the rest).",
        ),
    ] = _DEFAULTS.value_search_weight,
    aux_ownership_weight: Annotated[
        float,
        typer.Option(
            "--aux-ownership-weight",
            min=0.0,
            help="training.aux_ownership_weight: weight of the auxiliary ownership loss (0: no ownership head).",
        ),
    ] = _DEFAULTS.aux_ownership_weight,
    aux_score_weight: Annotated[
        float,
        typer.Option(
            "--aux-score-weight",
            min=0.0,
            help="training.aux_score_weight: weight of the auxiliary score loss (0: no score head).",
        ),
    ] = _DEFAULTS.aux_score_weight,
    samples_per_new_sample: Annotated[
        float,
        typer.Option(
            "--samples-per-new-sample",
            min=0.01,
            help="training.samples_per_new_sample: samples trained on per new selfplay sample (the replay ratio).",
        ),
    ] = _DEFAULTS.samples_per_new_sample,
    eval_games: Annotated[
        int | None,
        typer.Option(
            "--eval-games",
            min=2,
            help=f"Games per opponent after each intermediate model, a multiple of the player count "
            f"[default: {_DEFAULTS.eval_games} rounded up to one].",
            show_default=False,
        ),
    ] = None,
    final_eval_games: Annotated[
        int | None,
        typer.Option(
            "--final-eval-games",
            min=2,
            help=f"Games per opponent for the last model (and for --first-vs-last), a multiple of the "
            f"player count [default: {_DEFAULTS.final_eval_games} rounded up to one].",
            show_default=False,
        ),
    ] = None,
    first_vs_last: Annotated[
        bool,
        typer.Option(
            "--first-vs-last/--no-first-vs-last",
            help="After the run, the last model plays model 1 (when there are two models or more).",
        ),
    ] = _DEFAULTS.first_vs_last,
    seed: Annotated[int, typer.Option("--seed", help="Run seed (of the first run).")] = _DEFAULTS.seed,
    seeds: Annotated[
        int,
        typer.Option("--seeds", min=1, help="Independent runs, seeds SEED, SEED+1, ..., one after another."),
    ] = 1,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            help="Run directory to create, with one seed-<S> folder per run when --seeds > 1 "
            "(default: a temporary one, removed afterwards).",
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write all runs and the summary over seeds as JSON here."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also draw the learning curves of all runs as a PNG (needs matplotlib)."),
    ] = None,
) -> None:
    """Selfplay and training from a heuristic bootstrap for a CPU budget; first places and ranks per generation."""
    # The bench runs torch: imported here, so registering the command costs nothing.
    from ringrift_hpc.bench.learn_bench import (
        evaluated_player_words,
        plot_learning_curve,
        run_learn_bench,
        seeds_json,
    )

    try:
        parsed = variant_from_name(variant, where="--variant")
        players = parsed.players
        settings = LearnSettings(
            variant=parsed,
            budget_cpu_minutes=minutes,
            max_generations=generations,
            simulations=simulations,
            eval_simulations=eval_simulations,
            eval_decisive_moves=eval_decisive_moves,
            bootstrap_games=bootstrap_games,
            games_per_generation=games,
            full_search_fraction=full_search_fraction,
            fast_simulations=fast_simulations,
            value_search_weight=value_search_weight,
            aux_ownership_weight=aux_ownership_weight,
            aux_score_weight=aux_score_weight,
            samples_per_new_sample=samples_per_new_sample,
            eval_games=seat_rotated_games(_DEFAULTS.eval_games, players)
            if eval_games is None
            else eval_games,
            final_eval_games=(
                seat_rotated_games(_DEFAULTS.final_eval_games, players)
                if final_eval_games is None
                else final_eval_games
            ),
            first_vs_last=first_vs_last,
            seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    runs = f", {seeds} seeds ({seed}..{seed + seeds - 1})" if seeds > 1 else ""
    typer.echo(f"learn bench: {variant}, budget {minutes:g} CPU-minutes of selfplay + training{runs}")
    typer.echo(f"evaluated player: {evaluated_player_words(settings)}")
    if players > 2:
        typer.echo(
            f"scores: first-place share [95% Wilson] and mean rank against {players - 1} players, seats rotated "
            f"(chance: {chance(players):.0%}, rank {(players + 1) / 2:.2f})"
        )
    typer.echo(format_header(players, seeded=seeds > 1, aux=aux_ownership_weight > 0 or aux_score_weight > 0))
    reports: list[LearnReport] = []
    with tempfile.TemporaryDirectory(prefix="learn-bench-") as scratch:
        root = Path(scratch) / "run" if run_dir is None else run_dir
        for k in range(seeds):
            run_seed = seed + k
            report = run_learn_bench(
                replace(settings, seed=run_seed),
                root / f"seed-{run_seed}" if seeds > 1 else root,
                on_generation=_printer(players, run_seed if seeds > 1 else None),
            )
            typer.echo(format_verdict(report))
            reports.append(report)
    if seeds > 1:
        typer.echo(format_summary(reports))
    if json_out is not None:
        json_out.write_text(seeds_json(reports))
    if plot is not None:
        plot_learning_curve(reports, plot)


def _printer(players: int, seed: int | None) -> Callable[[GenerationReport], None]:
    return lambda g: typer.echo(format_row(g, players, seed=seed))


def format_header(players: int, *, seeded: bool, aux: bool = False) -> str:
    """Column titles; with `aux`, the auxiliary ownership and score losses close each row."""
    ranks = players > 2
    width = _SCORE_WIDTH + (_RANK_WIDTH if ranks else 0)
    return (
        (f"{'seed':>5}" if seeded else "")
        + f"{'gen':>4}{'cpu min':>9}{'wall min':>10}{'positions':>11}{'steps':>7}{'p loss':>8}{'v loss':>8}"
        + "".join(f"{'vs ' + o + (' (rank)' if ranks else ''):>{width}}" for o in OPPONENTS)
        + f"{'eval cpu':>10}"
        + (f"{'o loss':>8}{'s loss':>8}" if aux else "")
    )


_SCORE_WIDTH = 30
_RANK_WIDTH = 6


def _score(r: Score, players: int) -> str:
    rank = f" {r.mean_rank:5.2f}" if players > 2 else ""
    return f"{r.points:>5g}/{r.games:<4}{r.rate:6.1%} [{r.low:.2f},{r.high:.2f}]{rank}"


def format_row(g: GenerationReport, players: int, *, seed: int | None = None) -> str:
    """One generation: cumulative budgeted CPU and wall time, training figures, first-place share
    (95% Wilson) and, with more than 2 players, mean rank."""
    width = _SCORE_WIDTH + (_RANK_WIDTH if players > 2 else 0)
    scores = "".join(f"{_score(r, players):>{width}}" for r in g.results)
    aux = ""
    if g.ownership_loss is not None or g.score_loss is not None:
        aux = "".join(f"{'-' if x is None else f'{x:.3f}':>8}" for x in (g.ownership_loss, g.score_loss))
    return (
        (f"{seed:>5}" if seed is not None else "")
        + f"{g.generation:>4}{g.cpu_minutes:>9.2f}{g.wall_minutes:>10.2f}{g.selfplay_positions:>11}"
        + f"{g.train_steps:>7}{g.policy_loss:>8.3f}{g.value_loss:>8.3f}{scores}{g.eval_cpu_minutes:>10.2f}{aux}"
    )


def _rank_words(r: Score, players: int) -> str:
    return f", mean rank {r.mean_rank:.2f} (chance {(players + 1) / 2:.2f})" if players > 2 else ""


def format_verdict(report: LearnReport) -> str:
    """Each target on the last model's final games, the match against model 1, and last the
    overall verdict."""
    settings = report.settings
    players = settings.variant.players
    prefix = f"seed {settings.seed}: "
    lines = [
        f"{prefix}target {t.words()}: {s.rate:.1%}{_rank_words(s, players)}: {'met' if met else 'not met'}"
        for t, s, met in report.verdicts()
    ]
    match = report.first_vs_last
    if match is not None:
        above = significantly_above_chance(match, players)
        lines.append(
            f"{prefix}last model vs {match.opponent}: {match.wins} wins, {match.draws} draws of {match.games} "
            f"games; score {match.rate:.1%} [{match.low:.2f},{match.high:.2f}]{_rank_words(match, players)}: "
            f"{'' if above else 'not '}significantly above {chance(players):.0%} "
            f"(eval cpu {report.first_vs_last_cpu_minutes:.2f} min)"
        )
    elif settings.first_vs_last:
        lines.append(f"{prefix}last model vs model 1: not played (the run made one model)")
    lines.append(
        f"{prefix}targets for {settings.variant} within {settings.budget_cpu_minutes:g} CPU-minutes: "
        f"{'MET' if report.target_met() else 'NOT MET'}"
    )
    return "\n".join(lines)


def format_summary(reports: Sequence[LearnReport]) -> str:
    """Per opponent over the seeds: median and range of the final score, median mean rank, and
    whether the median meets each target."""
    settings = reports[0].settings
    players = settings.variant.players
    targets = targets_for(settings.variant, settings.budget_cpu_minutes)
    lines = [f"summary over {len(reports)} seeds (final scores of the last models):"]
    for s in summarize_seeds([r.generations[-1].results for r in reports]):
        rank = f", median mean rank {s.median_mean_rank:.2f}" if players > 2 else ""
        judged = "; ".join(
            f"target {t.words()}: {'met' if t.met(s.median) else 'not met'}"
            for t in targets
            if t.opponent == s.opponent
        )
        lines.append(
            f"  vs {s.opponent}: median {s.median:.1%}, range {s.low:.1%}-{s.high:.1%}{rank}; {judged}"
        )
    return "\n".join(lines)
