"""`ringrift-hpc bench search`: network and selfplay throughput; thin printing over
`ringrift_hpc.bench.search_bench`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import typer

from ringrift_hpc.config.variants import BOARDS

if TYPE_CHECKING:
    from ringrift_hpc.bench.search_bench import SearchBenchResult


def search_command(
    board: str = typer.Option("square8", "--board", "-b", help=f"Board: one of {', '.join(BOARDS)}."),
    players: int = typer.Option(2, "--players", "-p", min=2, max=4, help="Players per game."),
    simulations: int = typer.Option(32, "--simulations", "-n", min=1, help="Search budget per move."),
    gumbel_actions: int = typer.Option(16, "--gumbel-actions", min=1, help="Moves considered at the root."),
    batch: list[int] | None = typer.Option(
        None, "--batch", help="Network batch size to measure (repeatable); default 1, 16, 64, 256."
    ),
    games: list[int] | None = typer.Option(
        None, "--games", "-g", help="Concurrent games to measure (repeatable); default 1, 16, 64, 256."
    ),
    seconds: float = typer.Option(5.0, "--seconds", "-s", min=0.01, help="Time per measured setting."),
    channels: int | None = typer.Option(
        None, "--channels", min=1, help="Network width; default the bench's small network's."
    ),
    blocks: int | None = typer.Option(
        None, "--blocks", min=1, help="Network depth (residual blocks); default the small network's."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads; default torch's."),
    seed: int = typer.Option(0, "--seed", help="Seed of the network weights, positions and search."),
) -> None:
    """Network evaluations/s against batch size; selfplay positions/s against concurrent games."""
    # The bench runs torch: imported here, so registering the command costs nothing.
    from ringrift_hpc.ai.search import SearchConfig
    from ringrift_hpc.bench.search_bench import (
        DEFAULT_BATCH_SIZES,
        DEFAULT_GAME_COUNTS,
        SMALL_NET,
        run_search_bench,
    )

    net_config = dataclasses.replace(
        SMALL_NET,
        channels=SMALL_NET.channels if channels is None else channels,
        blocks=SMALL_NET.blocks if blocks is None else blocks,
    )
    try:
        result = run_search_bench(
            board,
            players,
            batch_sizes=tuple(batch) if batch else DEFAULT_BATCH_SIZES,
            game_counts=tuple(games) if games else DEFAULT_GAME_COUNTS,
            search_config=SearchConfig(simulations=simulations, gumbel_actions=gumbel_actions),
            net_config=net_config,
            seconds=seconds,
            device=device,
            threads=threads,
            seed=seed,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(format_search_result(result))


def format_search_result(result: SearchBenchResult) -> str:
    """The report as aligned text tables."""
    from ringrift_hpc.bench.search_bench import TARGET_GAMES, TARGET_RATIO

    net = result.net_config
    lines = [
        (
            f"{result.board} {result.num_players}p, network {net.channels}x{net.blocks} "
            f"(random weights), {result.device}, {result.threads} torch thread(s)"
        ),
        "",
        "network evaluations (encode + forward + legal softmax)",
        f"{'batch':>7}{'evals/s':>11}{'ms/call':>10}",
    ]
    for net_rate in result.network:
        lines.append(f"{net_rate.batch:>7}{net_rate.evals_per_s:>11,.0f}{net_rate.ms_per_call:>10.2f}")
    cfg = result.search_config
    lines += [
        "",
        f"selfplay, {cfg.simulations} simulations per searched move, {cfg.gumbel_actions} root moves",
        (
            f"{'games':>7}{'positions':>11}{'pos/s':>9}{'vs 1':>7}{'moves':>8}{'ended':>7}"
            f"{'evals/s':>9}{'rules':>7}{'search':>8}{'network':>9}"
        ),
    ]
    for r in result.selfplay:
        speedup = result.speedup(r.games)
        ratio = f"{speedup:.1f}x" if speedup is not None else "-"
        evals = r.evaluations / r.seconds if r.seconds > 0 else 0.0
        lines.append(
            f"{r.games:>7}{r.positions:>11}{r.positions_per_s:>9.1f}{ratio:>7}{r.moves:>8}{r.finished:>7}"
            f"{evals:>9,.0f}{r.share(r.rules_s):>7.0%}{r.share(r.search_s):>8.0%}{r.share(r.network_s):>9.0%}"
        )
    target = result.speedup(TARGET_GAMES)
    if target is not None:
        verdict = "met" if target >= TARGET_RATIO else "NOT met"
        lines.append(
            f"target: {TARGET_GAMES} games >= {TARGET_RATIO:.0f}x the positions/s of 1 game: "
            f"{target:.1f}x ({verdict})"
        )
    return "\n".join(lines)
