"""`ringrift-hpc` entry point: registers every sub-command."""

from __future__ import annotations

import typer

from ringrift_hpc.cli.accounting_cmd import accounting_command
from ringrift_hpc.cli.bench import bench_app
from ringrift_hpc.cli.bench_cli import cli_command
from ringrift_hpc.cli.bench_controller import controller_command
from ringrift_hpc.cli.bench_learn import learn_command
from ringrift_hpc.cli.bench_ratings import ratings_command
from ringrift_hpc.cli.bench_search import search_command
from ringrift_hpc.cli.loop_cmds import (
    halt_command,
    loop_command,
    resume_command,
    status_command,
    watch_command,
    worker_command,
)
from ringrift_hpc.cli.metrics_cmd import metrics_app
from ringrift_hpc.cli.p2p_cmd import p2p_app
from ringrift_hpc.cli.rating_cmds import (
    gate_command,
    leaderboard_command,
    promote_command,
    rollback_command,
    tournament_command,
)
from ringrift_hpc.cli.report_cmd import report_command
from ringrift_hpc.cli.run_commands import doctor_command, init_command
from ringrift_hpc.cli.sbatch_cmd import sbatch_app
from ringrift_hpc.cli.spec_cmd import spec_app
from ringrift_hpc.cli.sync_cmd import sync_command

app = typer.Typer(
    name="ringrift-hpc",
    help="Slurm-first AlphaZero-style self-improvement loop for RingRift.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: rich's help renderer alone takes a fifth of a second to import.
    rich_markup_mode=None,
)
app.command("init")(init_command)
app.command("doctor")(doctor_command)
app.command("loop")(loop_command)
app.command("halt")(halt_command)
app.command("resume")(resume_command)
app.command("status")(status_command)
app.command("watch")(watch_command)
app.command("worker")(worker_command)
app.command("accounting")(accounting_command)
app.command("tournament")(tournament_command)
app.command("leaderboard")(leaderboard_command)
app.command("report")(report_command)
app.command("gate")(gate_command)
app.command("promote")(promote_command)
app.command("rollback")(rollback_command)
app.command("sync")(sync_command)
app.add_typer(sbatch_app, name="sbatch")
app.add_typer(spec_app, name="spec")
app.add_typer(metrics_app, name="metrics")
app.add_typer(p2p_app, name="p2p")
bench_app.command("ratings")(ratings_command)
bench_app.command("search")(search_command)
bench_app.command("learn")(learn_command)
bench_app.command("controller")(controller_command)
bench_app.command("cli")(cli_command)
app.add_typer(bench_app, name="bench")


def main() -> None:
    app()
