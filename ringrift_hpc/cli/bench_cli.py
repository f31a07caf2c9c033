"""`ringrift-hpc bench cli`: how fast commands and the P2P agent start and stop; thin printing
over `ringrift_hpc.bench.cli_bench`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ringrift_hpc.bench.cli_bench import Timing


def cli_command(
    runs: int = typer.Option(5, "--runs", "-r", min=1, help="Runs of each command; the median is reported."),
    agent_runs: int = typer.Option(3, "--agent-runs", min=1, help="Agent runs in each state."),
) -> None:
    """Start time of --help, status, halt, resume, leaderboard, promote and rollback; the P2P
    agent's start and its exit after SIGTERM (waiting for a peer, loading the controller,
    coordinating, running a job)."""
    # Imported here: the bench must not slow the start it measures.
    from ringrift_hpc.bench.cli_bench import CliBenchError, run_cli_bench

    try:
        timings = run_cli_bench(runs=runs, agent_runs=agent_runs)
    except CliBenchError as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(format_cli_result(timings))


def format_cli_result(timings: list[Timing]) -> str:
    """One line a figure: median, range, target and whether it is met."""
    width = max(len(t.what) for t in timings)
    lines = [f"{'':<{width}}{'median':>9}{'min':>8}{'max':>8}{'target':>9}"]
    for t in timings:
        lines.append(
            f"{t.what:<{width}}{t.median_s:>8.3f}s{min(t.seconds):>7.3f}s{max(t.seconds):>7.3f}s"
            f"{'<= ' + format(t.target_s, 'g') + ' s':>11}  {'met' if t.met else 'NOT met'}"
        )
    return "\n".join(lines)
