"""The rating commands as a test invokes them: in-process, through typer's runner."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from ringrift_hpc.cli.rating_cmds import (
    gate_command,
    leaderboard_command,
    promote_command,
    rollback_command,
    tournament_command,
)

app = typer.Typer()
app.command("tournament")(tournament_command)
app.command("leaderboard")(leaderboard_command)
app.command("gate")(gate_command)
app.command("promote")(promote_command)
app.command("rollback")(rollback_command)
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    """(exit code, output) of the rating command line `args`."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output
