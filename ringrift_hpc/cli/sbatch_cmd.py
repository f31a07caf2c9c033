"""`ringrift-hpc sbatch render`: sbatch scripts from the templates in `sbatch/` and a config."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import typer

from ringrift_hpc.cluster.purposes import PURPOSES, Purpose, check_purpose

# The templates ship in the repository next to the package (an editable install).
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "sbatch"

sbatch_app = typer.Typer(
    name="sbatch",
    help="sbatch scripts for sites that submit jobs by hand instead of through the controller.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # as the main app: plain, fast help
)


@sbatch_app.callback()
def _sbatch() -> None:
    """Render sbatch scripts from the templates and a config."""


def _purposes(purpose: str | None) -> tuple[Purpose, ...]:
    if purpose is None:
        return PURPOSES
    try:
        return (check_purpose(purpose),)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--purpose") from None


@sbatch_app.command("render")
def render_command(
    config: Path = typer.Option(
        ..., "--config", "-c", help="The run's YAML config (resources, setup, run root)."
    ),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        "-p",
        "--kind",
        "-k",
        help=f"{', '.join(PURPOSES)}; default: all {len(PURPOSES)}. (--kind is its old name.)",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder to write <purpose>.sbatch into; default: print to stdout."
    ),
    templates: Path = typer.Option(DEFAULT_TEMPLATES, "--templates", help="Folder holding the templates."),
) -> None:
    """Render the sbatch script of each purpose; they run `ringrift-hpc worker <purpose> --spec FILE`."""
    # Here, not at module level: the config's models are no other command's cost.
    from ringrift_hpc.cluster.sbatch_render import TemplateError, render_sbatch, template_file
    from ringrift_hpc.config import ConfigError, load_config

    if purpose is None and out is None:
        raise typer.BadParameter(
            f"pass --purpose or --out DIR (all {len(PURPOSES)} scripts)",
            param_hint="--purpose",
        )
    purposes = _purposes(purpose)
    try:
        cfg = load_config(config)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    # A relative run root is relative to where the controller starts; jobs need it absolute.
    run_root = PurePosixPath(os.path.abspath(cfg.run.root))
    scripts = {}
    for one in purposes:
        path = templates / template_file(one)
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
        target = out / f"{one}.sbatch"
        target.write_text(script)
        target.chmod(0o755)
        typer.echo(f"wrote {target}")
