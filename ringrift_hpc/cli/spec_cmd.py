"""`ringrift-hpc spec selfplay|train|evaluate|tournament RUN`: write the job specs the sbatch
templates run, built as the controller builds them (`loop.hand_specs`).

A training job is one spec: `--out FILE`. Selfplay, evaluation and tournament jobs are arrays:
`--out DIR` gets one spec file per task and `specs.txt`, their paths in array-task order (the
SPECS file the array templates read), written last. Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from ringrift_hpc.cli.errors import fail

if TYPE_CHECKING:
    from ringrift_hpc.config import Config
    from ringrift_hpc.config.spec_model import SpecModel
    from ringrift_hpc.loop.hand_specs import VariantFiles
    from ringrift_hpc.store import RunLayout

SPECS_LIST = "specs.txt"
T = TypeVar("T")

spec_app = typer.Typer(
    name="spec",
    help="Write the JSON spec of a job for the sbatch templates (`sbatch render`).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # as the main app: plain, fast help
)


@spec_app.callback()
def _spec() -> None:
    """Job specs for plain sbatch: the same specs the controller submits."""


RUN = typer.Argument(..., help="The run directory (created by `init`).")
VARIANT = typer.Option(None, "--variant", "-v", help="The variant; default: the run's only one.")


def _built(
    run: Path, variant: str | None, build: Callable[[RunLayout, Config, VariantFiles], T]
) -> tuple[Config, T]:
    """The run's config and `build` on the run's files; refusals exit 2 with their message."""
    # Building specs imports the job modules (torch): here, not at module level.
    from ringrift_hpc.config import ConfigError, load_config
    from ringrift_hpc.loop.hand_specs import variant_files
    from ringrift_hpc.store import RunLayout, StoreError

    layout = RunLayout(run.resolve())
    if not layout.run_config.exists():
        raise fail(f"{run} is not a run directory (no run.yaml); create it with `ringrift-hpc init`")
    try:
        config = load_config(layout.run_config)
        return config, build(layout, config, variant_files(layout, config, variant))
    except (ConfigError, StoreError, ValueError) as error:
        raise fail(f"spec: {error}") from None


def _write_array(out: Path, specs: Mapping[str, SpecModel], script: str, parallelism: int) -> None:
    from ringrift_hpc.store import atomic_write_text

    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; an array's specs go into a folder: name a folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in specs.items():
        path = out.resolve() / f"{name}.json"
        atomic_write_text(path, spec.to_json() + "\n")
        paths.append(str(path))
    # The list last: a SPECS file names only specs that exist.
    atomic_write_text(out / SPECS_LIST, "\n".join(paths) + "\n")
    typer.echo(f"wrote {len(paths)} spec(s) and {out / SPECS_LIST}")
    typer.echo(f"submit: sbatch --array=0-{len(paths) - 1}%{parallelism} {script} {out / SPECS_LIST}")


@spec_app.command("selfplay")
def selfplay_command(
    run: Path = RUN,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the task specs and specs.txt."),
    variant: str | None = VARIANT,
    model: str = typer.Option(
        "best", "--model", help="Model id, best (the promoted one) or none (the bootstrap player)."
    ),
    tasks: int = typer.Option(1, "--tasks", "-n", min=1, help="Array tasks (one shard each)."),
    first_task: int = typer.Option(
        0, "--first-task", min=0, help="Index of the first task; a task's seeds follow from its index."
    ),
    generation: int | None = typer.Option(
        None, "--generation", min=0, help="The shards' generation; default the run's current (0 for none)."
    ),
    games: int | None = typer.Option(
        None, "--games", min=1, help="Games per task; default selfplay.games_per_task."
    ),
) -> None:
    """Specs of selfplay array tasks, each publishing one shard."""
    from ringrift_hpc.loop.hand_specs import selfplay_specs

    config, specs = _built(
        run,
        variant,
        lambda layout, config, files: selfplay_specs(
            layout,
            config,
            files,
            model=model,
            generation=generation,
            first_task=first_task,
            tasks=tasks,
            games=games,
        ),
    )
    _write_array(out, specs, "selfplay.sbatch", config.slurm.selfplay.array_parallelism)


@spec_app.command("train")
def train_command(
    run: Path = RUN,
    out: Path = typer.Option(..., "--out", "-o", help="The spec file to write."),
    variant: str | None = VARIANT,
    parent: str = typer.Option(
        "best", "--parent", help="Model id to start from, best (the promoted one) or none (a new network)."
    ),
    generation: int | None = typer.Option(
        None, "--generation", min=0, help="The candidate's generation; default the run's current + 1."
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Training seed; default as the controller's (run seed + decisions + 1)."
    ),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Steps; default from --new-samples."),
    new_samples: int | None = typer.Option(
        None, "--new-samples", min=0, help="New samples that set the step count; default all in the window."
    ),
    processes: int = typer.Option(1, "--processes", min=1, help="DDP processes (one per GPU)."),
) -> None:
    """The spec of one training job on the replay window of the run's published shards."""
    from ringrift_hpc.loop.hand_specs import train_spec
    from ringrift_hpc.store import atomic_write_text

    _, spec = _built(
        run,
        variant,
        lambda layout, config, files: train_spec(
            layout,
            config,
            files,
            parent=parent,
            generation=generation,
            seed=seed,
            steps=steps,
            new_samples=new_samples,
            processes=processes,
        ),
    )
    if out.is_dir():
        raise fail(f"--out {out} is a folder; a training job is one spec: name a file")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, spec.to_json() + "\n")
    typer.echo(f"wrote {out} (training job {spec.key}, {spec.total_steps()} steps)")
    typer.echo(f"submit: sbatch train.sbatch {out.resolve()}")


@spec_app.command("evaluate")
def evaluate_command(
    run: Path = RUN,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the task specs and specs.txt."),
    candidate: str = typer.Option(..., "--candidate", help="The candidate: a model id or participant id."),
    variant: str | None = VARIANT,
    best: str = typer.Option(
        "best", "--best", help="Its opponent: best (the promoted one), none, or a model or participant id."
    ),
    batch: int = typer.Option(0, "--batch", min=0, help="SPRT batch; batch 0 also plays the anchor gate."),
    eval_id: str | None = typer.Option(
        None, "--eval-id", help="The evaluation's id; default as the controller's (eval-g<gen>-<model>)."
    ),
) -> None:
    """Specs of one batch of an evaluation's match tasks (candidate against best, and the anchors)."""
    from ringrift_hpc.loop.hand_specs import evaluate_specs

    config, (found, specs) = _built(
        run,
        variant,
        lambda layout, config, files: evaluate_specs(
            layout, config, files, candidate=candidate, best=best, batch=batch, eval_id=eval_id
        ),
    )
    named = {f"{found}-{task}": spec for task, spec in specs.items()}
    _write_array(out, named, "evaluate.sbatch", config.slurm.evaluate.array_parallelism)


@spec_app.command("tournament")
def tournament_command(
    run: Path = RUN,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the task specs and specs.txt."),
    variant: str | None = VARIANT,
    participants: list[str] = typer.Option(
        [], "--participants", "-p", help="Participant ids or model ids that enter; repeat for several."
    ),
    recent_bests: int | None = typer.Option(
        None,
        "--recent-bests",
        min=0,
        help="Recent bests that enter; default evaluation.tournament_recent_bests.",
    ),
    groups_per_pair: int | None = typer.Option(
        None,
        "--groups-per-pair",
        min=1,
        help="Groups per pairing; default evaluation.tournament_groups_per_pair.",
    ),
    eval_id: str | None = typer.Option(
        None, "--eval-id", help="The tournament's id (tournament-...); default from the time now."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed of the openings; default from the id."),
) -> None:
    """Specs of a round-robin tournament's match tasks (one per pair) among the participants given,
    the recent bests and the anchors; a controller on the run ingests the match files and refits
    the leaderboard."""
    from ringrift_hpc.loop.hand_specs import tournament_specs_by_hand

    config, (found, specs) = _built(
        run,
        variant,
        lambda layout, config, files: tournament_specs_by_hand(
            layout,
            config,
            files,
            now=datetime.now(timezone.utc),
            participants=tuple(participants),
            recent=recent_bests,
            groups_per_pair=groups_per_pair,
            eval_id=eval_id,
            seed=seed,
        ),
    )
    named = {f"{found}-{task}": spec for task, spec in specs.items()}
    _write_array(out, named, "tournament.sbatch", config.slurm.evaluate.array_parallelism)
