"""`init` and `doctor`: create a run directory and check a site before using it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ringrift_hpc.cli.errors import fail
from ringrift_hpc.store import RunLayout

if TYPE_CHECKING:
    from ringrift_hpc.config import Config
    from ringrift_hpc.doctor import Line


def init_command(
    run: Path = typer.Argument(..., help="Run directory to create (on a filesystem every job can reach)."),
    config: Path = typer.Option(..., "--config", "-c", help="The YAML config to freeze into RUN/run.yaml."),
) -> None:
    """Create a run directory with a frozen copy of its config."""
    # Here, not at module level: the config's models are no other command's cost.
    from ringrift_hpc.config import ConfigError, load_config
    from ringrift_hpc.loop.run_init import RunConfigMismatchError, init_run

    try:
        outcome = init_run(run, load_config(config), source=str(config))
    except (ConfigError, RunConfigMismatchError) as error:
        raise fail(str(error)) from None
    verb = "created" if outcome.created else "exists with the same config:"
    typer.echo(f"{verb} {outcome.layout.root} ({outcome.layout.run_config})")


def _doctor_config(run: Path | None, config: Path | None) -> Config | None:
    from ringrift_hpc.config import load_config

    if config is not None:
        return load_config(config)
    if run is not None and RunLayout(run).run_config.exists():
        return load_config(RunLayout(run).run_config)
    return None


def _table(lines: list[Line]) -> str:
    width = max(len(line.name) for line in lines)
    return "\n".join(f"{line.status.upper():4}  {line.name:<{width}}  {line.detail}" for line in lines)


def doctor_command(
    run: Path | None = typer.Argument(None, help="Run directory (its run.yaml names partitions); default: '.'."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Config to check instead of RUN/run.yaml."),
    slurm: bool = typer.Option(False, "--slurm", help="Check Slurm even when the config's executor is local."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Preflight: Slurm answers, partitions exist, accounting works, the run root is safe to use."""
    from ringrift_hpc.config import ConfigError
    from ringrift_hpc.doctor import run_doctor

    try:
        cfg = _doctor_config(run, config)
    except ConfigError as error:
        raise fail(str(error)) from None
    lines = run_doctor(run if run is not None else Path("."), cfg, force_slurm=slurm)
    failed = [line for line in lines if line.status == "fail"]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [asdict(line) for line in lines]}, indent=2))
    else:
        typer.echo(_table(lines))
        typer.echo(f"{len(failed)} failed, {sum(line.status == 'pass' for line in lines)} passed")
    if failed:
        raise typer.Exit(1)
