"""`ringrift-hpc sbatch render`: sbatch scripts from the templates in `sbatch/` and a config."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import typer

from ringrift_hpc.cluster.executor import JOB_KINDS
from ringrift_hpc.cluster.sbatch_render import (
    TEMPLATE_FILES,
    TemplateError,
    render_sbatch,
)
from ringrift_hpc.config import ConfigError, load_config
from ringrift_hpc.config.slurm import JobKind

# The templates ship in the repository next to the package (an editable install).
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "sbatch"

sbatch_app = typer.Typer(
    name="sbatch",
    help="sbatch scripts for sites that submit jobs by hand instead of through the controller.",
    no_args_is_help=True,
    add_completion=False,
)


@sbatch_app.callback()
def _sbatch() -> None:
    """Render sbatch scripts from the templates and a config."""


def _kinds(kind: str | None) -> tuple[JobKind, ...]:
    if kind is None:
        return JOB_KINDS
    for known in JOB_KINDS:
        if kind == known:
            return (known,)
    raise typer.BadParameter(
        f"{kind!r} is not a job kind; use one of {', '.join(JOB_KINDS)}", param_hint="--kind"
    )


@sbatch_app.command("render")
def render_command(
    config: Path = typer.Option(
        ..., "--config", "-c", help="The run's YAML config (resources, setup, run root)."
    ),
    kind: str | None = typer.Option(
        None, "--kind", "-k", help="selfplay, train or evaluate; default: all three."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder to write <kind>.sbatch into; default: print to stdout."
    ),
    templates: Path = typer.Option(DEFAULT_TEMPLATES, "--templates", help="Folder holding the templates."),
) -> None:
    """Render the sbatch script of each kind; they run `ringrift-hpc worker <kind> --spec FILE`."""
    if kind is None and out is None:
        raise typer.BadParameter(
            "pass --kind to print one script, or --out DIR to write all three", param_hint="--kind"
        )
    kinds = _kinds(kind)
    try:
        cfg = load_config(config)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    # A relative run root is relative to where the controller starts; jobs need it absolute.
    run_root = PurePosixPath(os.path.abspath(cfg.run.root))
    scripts = {}
    for one in kinds:
        path = templates / TEMPLATE_FILES[one]
        if not path.is_file():
            typer.echo(f"no template {path}; pass --templates with the repository's sbatch/ folder", err=True)
            raise typer.Exit(2)
        try:
            scripts[one] = render_sbatch(path.read_text(), cfg, one, run_root=run_root)
        except TemplateError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    for one, script in scripts.items():
        if out is None:
            typer.echo(script, nl=False)
            continue
        out.mkdir(parents=True, exist_ok=True)
        target = out / TEMPLATE_FILES[one]
        target.write_text(script)
        target.chmod(0o755)
        typer.echo(f"wrote {target}")
