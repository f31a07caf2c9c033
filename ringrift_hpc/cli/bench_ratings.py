"""`ringrift-hpc bench ratings`: time a full rating refit; thin printing over `ringrift_hpc.bench`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ringrift_hpc.bench.ratings_bench import RatingsBenchResult


def ratings_command(
    participants: int = typer.Option(
        1000, "--participants", "-n", min=2, help="Rated participants, the random anchor included."
    ),
    games: int = typer.Option(1_000_000, "--games", "-g", min=1, help="Recorded games to fit."),
    players: int = typer.Option(2, "--players", "-p", min=2, max=4, help="Players per game."),
    repeats: int = typer.Option(1, "--repeats", "-r", min=1, help="Refits to time; the best is reported."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic ratings and games."),
) -> None:
    """Fit Bradley-Terry / Plackett-Luce ratings over synthetic games and report the time."""
    # The fit needs numpy: imported here, so registering the command costs nothing.
    from ringrift_hpc.bench.ratings_bench import run_ratings_bench

    try:
        result = run_ratings_bench(
            participants=participants, games=games, players=players, repeats=repeats, seed=seed
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(format_ratings_result(result))


def format_ratings_result(result: RatingsBenchResult) -> str:
    """The report: time, ratio to the target, and the fit's accuracy."""
    model = "Bradley-Terry" if result.players == 2 else "Plackett-Luce"
    verdict = "meets" if result.ratio <= 1 else "misses"
    header = (
        f"rating refit: {model}, {result.participants:,} participants, "
        f"{result.games:,} {result.players}-player games"
    )
    accuracy = (
        f"accuracy  rmse {result.rmse_elo:.1f} Elo against the true ratings "
        f"(median reported standard error {result.median_stderr_elo:.1f} Elo)"
    )
    return "\n".join(
        [
            header,
            f"time      {result.seconds:.3f} s  ({result.iterations} Newton steps)",
            f"target    {result.target_seconds:.1f} s  ratio {result.ratio:.2f} ({verdict} the target)",
            accuracy,
        ]
    )
