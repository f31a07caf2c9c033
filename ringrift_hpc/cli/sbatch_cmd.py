"""`ringrift-hpc sbatch render`: sbatch scripts from the templates shipped in the package and a config."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import typer

from ringrift_hpc.cli.errors import fail

# The names `sbatch_render.SCRIPTS` holds, spelled out here: that module loads the config's
# models, which no other command should pay for at start.
SCRIPT_NAMES = ("selfplay", "train", "evaluate", "tournament", "controller")

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


@sbatch_app.command("render")
def render_command(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="The run's YAML config (resources, setup, run root); RUN/run.yaml of an existing run.",
    ),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        "-p",
        "--kind",
        "-k",
        help=f"{', '.join(SCRIPT_NAMES)}; default: all {len(SCRIPT_NAMES)}. (--kind is its old name.)",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder to write <purpose>.sbatch into; default: print to stdout."
    ),
    templates: Path | None = typer.Option(
        None, "--templates", help="Folder of your own templates; default: those shipped in the package."
    ),
) -> None:
    """Render the sbatch script of each purpose; they run `ringrift-hpc worker <purpose> --spec FILE`
    (specs from `ringrift-hpc spec`), the controller's runs `ringrift-hpc loop RUN`."""
    # Here, not at module level: the config's models are no other command's cost.
    from ringrift_hpc.cluster.sbatch_render import (
        SCRIPTS,
        TemplateError,
        check_script,
        read_template,
        render_script,
        template_file,
    )
    from ringrift_hpc.config import ConfigError, load_config

    if purpose is None and out is None:
        raise typer.BadParameter(
            f"pass --purpose or --out DIR (all {len(SCRIPTS)} scripts)",
            param_hint="--purpose",
        )
    try:
        scripts = SCRIPTS if purpose is None else (check_script(purpose),)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--purpose") from None
    try:
        cfg = load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None
    # A relative run root is relative to where the controller starts; jobs need it absolute.
    run_root = PurePosixPath(os.path.abspath(cfg.run.root))
    rendered = {}
    for one in scripts:
        try:
            rendered[one] = render_script(read_template(one, templates), cfg, one, run_root=run_root)
        except FileNotFoundError:
            raise fail(
                f"no template {template_file(one)} in {templates}; copy the package's templates there "
                "(ringrift_hpc/cluster/templates) or leave --templates out"
            ) from None
        except TemplateError as error:
            raise fail(str(error)) from None
    for one, script in rendered.items():
        if out is None:
            typer.echo(script, nl=False)
            continue
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{one}.sbatch"
        target.write_text(script)
        target.chmod(0o755)
        typer.echo(f"wrote {target}")
