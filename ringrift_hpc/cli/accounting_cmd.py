"""`ringrift-hpc accounting RUN`: what the run's Slurm jobs used, by purpose (one sacct call)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from ringrift_hpc.cluster.accounting import format_accounting, query_accounting
from ringrift_hpc.cluster.slurm_parse import SlurmOutputError
from ringrift_hpc.cluster.slurm_query import SlurmCommandError
from ringrift_hpc.store import RunLayout


def _since(text: str | None, layout: RunLayout) -> dt.datetime:
    if text is not None:
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(
                f"{text!r} is not a time; write it like 2026-01-31 or 2026-01-31T12:00", param_hint="--since"
            ) from None
    # The run's frozen config is written once, when the run starts.
    return dt.datetime.fromtimestamp(layout.run_config.stat().st_mtime)


def accounting_command(
    run: Path = typer.Argument(..., help="Run directory (its run.yaml names the run's jobs)."),
    since: str | None = typer.Option(
        None, "--since", help="Count jobs from this time on (ISO, local time); default: when the run started."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Jobs, states, CPU-hours, GPU-hours, elapsed and queue wait of the run's Slurm jobs, by purpose."""
    # Here, not at module level: the config's models are no other command's cost.
    from ringrift_hpc.config import ConfigError, load_config

    layout = RunLayout(run)
    try:
        config = load_config(layout.run_config)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    try:
        summaries = query_accounting(config.run.name, _since(since, layout))
    except (SlurmCommandError, SlurmOutputError) as error:
        typer.echo(f"accounting for run {config.run.name}: {error}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        report = {"run": config.run.name, "purposes": [s.to_json() for s in summaries]}
        typer.echo(json.dumps(report, indent=2))
    elif summaries:
        typer.echo(format_accounting(summaries))
    else:
        typer.echo(f"no Slurm jobs of run {config.run.name} in accounting")
