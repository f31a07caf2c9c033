"""`ringrift-hpc bench ...`: benchmarks; thin printing over `ringrift_hpc.bench`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ringrift_hpc.bench.rules_bench import RulesBenchResult

bench_app = typer.Typer(
    name="bench",
    help="Measure the speed of parts of the toolkit (ratios against recorded baselines).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # as the main app: plain, fast help
)


@bench_app.callback()
def _bench() -> None:
    """Benchmarks; each prints its figures and the baseline they are compared with."""


@bench_app.command("rules")
def rules_command(
    board: Annotated[
        list[str] | None,
        typer.Option("--board", "-b", help="Board to measure (repeatable); default: all four."),
    ] = None,
    players: Annotated[int, typer.Option("--players", "-p", min=2, max=4, help="Players per game.")] = 2,
    seconds: Annotated[
        float, typer.Option("--seconds", "-s", min=0.01, help="Time budget per board.")
    ] = 10.0,
    games: Annotated[
        int | None, typer.Option("--games", "-g", min=1, help="Stop a board after this many finished games.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random move choice.")] = 0,
    checked: Annotated[
        bool, typer.Option("--checked", help="Apply moves through the validating apply_move, not the fast path.")
    ] = False,
) -> None:
    """Play uniformly random games and report moves/s, games/s and per-call costs."""
    # Here, not at module level: the rules engine is no other command's cost.
    from ringrift_hpc.bench.rules_bench import DEFAULT_BOARDS, run_rules_bench

    try:
        result = run_rules_bench(
            tuple(board) if board else DEFAULT_BOARDS,
            num_players=players,
            seconds=seconds,
            max_games=games,
            seed=seed,
            checked=checked,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(format_rules_result(result))


def format_rules_result(result: RulesBenchResult) -> str:
    """The report as aligned text tables."""
    lines = [
        "random games (legal_moves + apply at every step, bookkeeping moves included)",
        (
            f"{'variant':<14}{'apply':>10}{'moves':>10}{'games':>7}{'moves/s':>11}{'games/s':>10}"
            f"{'moves/game':>12}{'vs ref':>9}{'target':>9}"
        ),
    ]
    for t in result.throughput:
        ref = t.reference_moves_per_s
        speedup = f"{t.speedup:.1f}x" if t.speedup is not None else "-"
        target = f"{ref * result.target_factor:,.0f}" if ref else "-"
        lines.append(
            f"{t.board + f' {t.num_players}p':<14}{'checked' if t.checked else 'fast':>10}"
            f"{t.moves:>10}{t.games_finished:>7}{t.moves_per_s:>11,.0f}{t.games_per_s:>10.2f}"
            f"{t.moves_per_game:>12.0f}{speedup:>9}{target:>9}"
        )
    lines.append(
        f"reference: Python engine, 2 players; target = {result.target_factor:.0f}x the reference"
    )
    lines.append("")
    lines.append("mid-game position (movement phase nearest the middle of a random game)")
    lines.append(f"{'variant':<14}{'ply':>6}{'legal':>7}{'copy us':>10}{'legal_moves us':>16}")
    for c in result.costs:
        lines.append(
            f"{c.board + f' {c.num_players}p':<14}{c.ply:>6}{c.legal_count:>7}"
            f"{c.copy_us:>10.2f}{c.legal_moves_us:>16.1f}"
        )
    return "\n".join(lines)
