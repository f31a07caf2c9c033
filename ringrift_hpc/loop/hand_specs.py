"""The specs of jobs a person submits with the sbatch templates (`ringrift-hpc spec`), built by the
controller's own builders.

What the controller knows from its journal is read here from the files it keeps: the best model
(`best.json`), the generation (the bests installed so far), the decisions taken (the promotion
history) and the published shards. Nothing here writes; every refusal is a `HandSpecError`
naming the option and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ringrift_hpc.cluster.purposes import TOURNAMENT_ID_PREFIX
from ringrift_hpc.config import Config
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.evaluate_games import group_seed
from ringrift_hpc.jobs.model_files import run_model_file
from ringrift_hpc.jobs.replay_window import choose_window, published_shards
from ringrift_hpc.jobs.selfplay import NO_MODEL, SelfplaySpec
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.loop.policies import training_seed
from ringrift_hpc.loop.tournament_plan import evaluation_id, evaluation_specs, tournament_id, tournament_specs
from ringrift_hpc.rating.best import PROMOTE, REJECT, best_states, promotion_history, read_best
from ringrift_hpc.rating.participants import Participant, parse_participant_id, participant_from_text
from ringrift_hpc.store import RunLayout, manifest_path

BEST = "best"  # the variant's current best model, as `--model`/`--parent`/`--best` name it
NONE = "none"  # no model: the bootstrap player (selfplay), a first model (train), no best (evaluate)


class HandSpecError(ValueError):
    """A spec that cannot be built from the options and the run's files."""


@dataclass(frozen=True)
class VariantFiles:
    """What the run's files say of one variant, in the terms the controller builds specs with."""

    variant: str
    best: Participant | None  # the promoted participant; None before the first promotion
    generation: int  # bests installed so far (promotions and rollbacks): the controller's count
    decisions: int  # promotions and rejections so far
    history: tuple[dict[str, Any], ...]  # promotions.jsonl

    @property
    def best_model(self) -> str | None:
        return None if self.best is None else self.best.model_id


def variant_files(layout: RunLayout, config: Config, variant: str | None) -> VariantFiles:
    """The files of `variant` (default: the run's only one)."""
    names = [v.name for v in config.variants]
    if variant is None:
        if len(names) != 1:
            raise HandSpecError(f"--variant: run {layout.root} plays {', '.join(names)}; pick one of them")
        variant = names[0]
    elif variant not in names:
        raise HandSpecError(
            f"--variant {variant}: run {layout.root} plays {', '.join(names)}; pick one of them"
        )
    history = promotion_history(layout, variant)
    best = read_best(layout, variant)
    return VariantFiles(
        variant=variant,
        best=None if best is None else parse_participant_id(variant, best["participant"]),
        generation=len(best_states(history)),
        decisions=sum(1 for record in history if record.get("event") in (PROMOTE, REJECT)),
        history=history,
    )


def _model(layout: RunLayout, files: VariantFiles, text: str, option: str) -> str | None:
    """The model id `text` names (`best`, `none` or an id), checked to be a model of the run."""
    if text == NONE:
        return None
    if text == BEST:
        return files.best_model
    try:
        run_model_file(layout, files.variant)(text)
    except (FileNotFoundError, ValueError) as error:
        raise HandSpecError(f"{option} {text}: {error}") from None
    return text


def selfplay_specs(
    layout: RunLayout,
    config: Config,
    files: VariantFiles,
    *,
    model: str = BEST,
    generation: int | None = None,
    first_task: int = 0,
    tasks: int = 1,
    games: int | None = None,
) -> dict[str, SelfplaySpec]:
    """Selfplay tasks `first_task ..` of one generation (each task's seeds follow from its index).

    `model` defaults to the best, or the bootstrap player before any promotion; `generation`
    (the shards' folder) to the run's current one, 0 for the bootstrap player.
    """
    model_id = _model(layout, files, model, "--model") or NO_MODEL
    gen = generation if generation is not None else (0 if model_id == NO_MODEL else files.generation)
    if model_id == NO_MODEL and gen != 0:
        raise HandSpecError(
            f"--generation {gen}: the bootstrap player (no model) plays generation 0 only; name a model "
            "with --model, or leave --generation out"
        )
    specs = {}
    for index in range(first_task, first_task + tasks):
        spec = SelfplaySpec.from_config(
            config,
            run_root=layout.root,
            variant=files.variant,
            generation=gen,
            task_index=index,
            model_id=model_id,
        )
        shard = layout.selfplay_shard(files.variant, gen, spec.task)
        if manifest_path(shard).exists():
            taken = [int(p.stem) for p in shard.parent.glob("*.json") if p.stem.isdigit()]
            raise HandSpecError(
                f"--first-task {first_task}: task {spec.task} of generation {gen} is already published "
                f"({shard}), and a task plays only once; start after it with --first-task {max(taken) + 1}"
            )
        specs[f"selfplay-g{gen:06d}-{spec.task}"] = spec if games is None else spec.replace(games=games)
    return specs


def train_spec(
    layout: RunLayout,
    config: Config,
    files: VariantFiles,
    *,
    parent: str = BEST,
    generation: int | None = None,
    seed: int | None = None,
    steps: int | None = None,
    new_samples: int | None = None,
    processes: int = 1,
) -> TrainSpec:
    """A training job on the replay window of the published shards, as the controller would submit.

    `new_samples` (which sets the step count unless `steps` does) defaults to every sample of
    the window's variant: without a controller's journal the samples since the last training
    are unknown, and the count is clamped to `training.max_steps` anyway.
    """
    parent_model = _model(layout, files, parent, "--parent")
    found = published_shards(layout, files.variant, verify=False)
    window = choose_window(layout, found.shards, config.training.replay_window)
    if not window.shards:
        raise HandSpecError(
            f"{layout.selfplay_root(files.variant)} holds no published shard of {files.variant}: "
            "play selfplay first (`ringrift-hpc spec selfplay` and the selfplay template)"
        )
    return TrainSpec.from_config(
        config,
        run_root=layout.root,
        variant=files.variant,
        parent_model=parent_model,
        generation=files.generation + 1 if generation is None else generation,
        new_samples=window.total_samples if new_samples is None else new_samples,
        seed=training_seed(config.run.seed, files.decisions) if seed is None else seed,
        processes=processes,
        steps=steps,
        window=window,
    )


def _participant(
    layout: RunLayout, config: Config, files: VariantFiles, text: str, option: str
) -> Participant:
    try:
        participant = participant_from_text(files.variant, text, config.evaluation_simulations)
    except ValueError as error:
        raise HandSpecError(f"{option} {text}: {error}") from None
    if participant.model_id is not None:
        _model(layout, files, participant.model_id, option)
    return participant


def evaluate_specs(
    layout: RunLayout,
    config: Config,
    files: VariantFiles,
    *,
    candidate: str,
    best: str = BEST,
    batch: int = 0,
    eval_id: str | None = None,
) -> tuple[str, dict[str, MatchSpec]]:
    """(evaluation id, its match tasks) of SPRT batch `batch` of `candidate` against `best`."""
    challenger = _participant(layout, config, files, candidate, "--candidate")
    if challenger.model_id is None:
        raise HandSpecError(f"--candidate {candidate}: a candidate is a model; name a model id")
    opponent = (
        files.best
        if best == BEST
        else None
        if best == NONE
        else _participant(layout, config, files, best, "--best")
    )
    eval_id = eval_id or evaluation_id(files.generation + 1, challenger.model_id)
    if eval_id.startswith(TOURNAMENT_ID_PREFIX):
        raise HandSpecError(
            f"--eval-id {eval_id}: ids starting with {TOURNAMENT_ID_PREFIX!r} are tournaments'; choose another"
        )
    specs = evaluation_specs(
        config, run_root=layout.root, candidate=challenger, best=opponent, eval_id=eval_id, batch=batch
    )
    if not specs:
        raise HandSpecError(
            f"--batch {batch}: batch {batch} of this evaluation plays no game (promotion.sprt.max_groups "
            f"{config.promotion.sprt.max_groups} reached, or no best and batch > 0); choose a smaller --batch"
        )
    return eval_id, specs


def tournament_specs_by_hand(
    layout: RunLayout,
    config: Config,
    files: VariantFiles,
    *,
    now: datetime,
    participants: tuple[str, ...] = (),
    recent: int | None = None,
    groups_per_pair: int | None = None,
    eval_id: str | None = None,
    seed: int | None = None,
) -> tuple[str, dict[str, MatchSpec]]:
    """(tournament id, its match tasks): a round robin of `participants`, the `recent` latest
    bests and the anchors, as `ringrift-hpc tournament` seats them."""
    eval_id = eval_id or tournament_id(now)
    if not eval_id.startswith(TOURNAMENT_ID_PREFIX):
        raise HandSpecError(
            f"--eval-id {eval_id}: a tournament's id starts with {TOURNAMENT_ID_PREFIX!r}, or the controller "
            "reads its match files as an evaluation's; prefix it"
        )
    chosen = [_participant(layout, config, files, text, "--participants") for text in participants]
    specs = tournament_specs(
        config,
        files.history,
        run_root=layout.root,
        variant=files.variant,
        eval_id=eval_id,
        seed=group_seed(config.run.seed, eval_id, 0) if seed is None else seed,
        chosen=chosen,
        recent=recent,
        groups_per_pair=groups_per_pair,
    )
    if not specs:
        raise HandSpecError(
            "fewer than two participants enter (nothing promoted yet, no --participants, no "
            "promotion.anchors); name models with --participants"
        )
    return eval_id, specs
