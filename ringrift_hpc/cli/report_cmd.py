"""`report`: write the run's HTML report (docs/report.md)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.store import RunLayout, StoreError


def report_command(run: Path = typer.Argument(..., help="The run directory.")) -> None:
    """Write RUN/report/index.html: rating, selfplay, loss and compute charts and the leaderboards."""
    layout = RunLayout(run)
    if not layout.run_config.exists():
        raise fail(
            f"{run} is not a run directory (no run.yaml); create it with `ringrift-hpc init {run} --config FILE`"
        )
    # The report reads ratings with numpy and draws with matplotlib, and the config builds its
    # models: imported here, not at start-up.
    from ringrift_hpc.config import ConfigError, load_config
    from ringrift_hpc.report import write_report

    try:
        index = write_report(layout, load_config(layout.run_config), now=time.time())
    except (ConfigError, StoreError, ValueError, OSError) as error:
        raise fail(f"report: {error}") from None
    typer.echo(str(index))
