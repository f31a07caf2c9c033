"""The match job: one task plays a list of seat-rotated game groups and publishes ONE match file.

`run_match(spec)` runs identically as a Slurm array task, a local executor process, in-process
(the local tournament) or as `ringrift-hpc worker evaluate|tournament --spec FILE`
(`jobs.registry.run_from_spec_file`).

* Participants: each group's lineup names its participants in full (variant, kind, budget,
  model id), so the search budget is part of who plays. A participant of another variant than
  the spec's is refused when the spec is built, before any model is loaded or game played.
* Models: `RunLayout.model_weights(variant, model_id)`, checked against the id and loaded
  with this code's encoder, codec and architecture versions.
* Games: `jobs.evaluate_games` (every participant every seat once per group, one seeded
  opening per group, many games at once).
* Stopping: HALT or the Slurm walltime minus `walltime_margin_s` starts no further chunk of
  groups; the complete groups are published. A task that completed no group raises
  `NoGamesPlayedError` and publishes nothing: a task without games failed.
* Idempotent: when the task's match file is already published, nothing is played again.
* CPU: the match file's manifest records the CPU seconds the task used (`jobs.cpu_time`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ringrift_hpc.config import Config
from ringrift_hpc.config.base import Bool, Float, Int, Str
from ringrift_hpc.config.learning import Device
from ringrift_hpc.config.spec_model import RunRoot, SpecModel
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.cpu_time import CpuClock
from ringrift_hpc.jobs.evaluate_games import GroupPlan, play_groups
from ringrift_hpc.jobs.evaluate_players import SearchKnobs, build_players, check_playable
from ringrift_hpc.jobs.model_files import run_model_file
from ringrift_hpc.jobs.slurm_env import available_cpus
from ringrift_hpc.jobs.walltime import StopCheck, StopRule
from ringrift_hpc.rating.match_files import publish_match_file
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import CrossVariantError, MatchGroup
from ringrift_hpc.store import RunLayout, read_manifest
from ringrift_hpc.store.names import check_component

log = logging.getLogger(__name__)


class NoGamesPlayedError(RuntimeError):
    """The task completed no game group; nothing was published."""


class MatchSpec(SpecModel):
    """Everything one match task needs; JSON-serializable (`to_json` / `from_json`)."""

    what: ClassVar[str] = "match spec"

    run_root: RunRoot
    variant: Variant
    eval_id: Str  # the evaluation (or tournament) the task belongs to: a directory name
    task: Str  # the task's name within the evaluation: the match file's name
    groups: tuple[GroupPlan, ...]
    opening_moves: Int = Field(default=4, ge=0)  # random plies of each group's shared opening
    concurrent_games: Int = Field(default=16, ge=1)  # groups played at once (each seating batched)
    max_batch_size: Int = Field(default=1024, ge=1)
    gumbel_actions: Int = Field(default=16, ge=1)
    c_visit: Float = 50.0
    c_scale: Float = 1.0
    decisive_moves: Bool = False
    device: Device = "auto"
    walltime_margin_s: Float = Field(default=300.0, ge=0)

    @field_validator("eval_id", "task")
    @classmethod
    def _file_name(cls, value: str, info: ValidationInfo) -> str:
        return check_component(value, what=str(info.field_name))

    @field_validator("groups")
    @classmethod
    def _some_groups(cls, groups: tuple[GroupPlan, ...]) -> tuple[GroupPlan, ...]:
        if not groups:
            raise ValueError(
                "groups is empty: a match task must play at least one group (a task without games fails)"
            )
        return groups

    @model_validator(mode="after")
    def _playable_lineups(self) -> MatchSpec:
        foreign = sorted({str(p) for plan in self.groups for p in plan.lineup if p.variant != self.variant})
        if foreign:
            raise CrossVariantError(
                f"match spec for {self.variant} (evaluation {self.eval_id}, task {self.task}) seats "
                f"{', '.join(foreign)}; a match is only valid between participants of one variant"
            )
        players = self.variant.players
        for number, plan in enumerate(self.groups):
            if len(plan.lineup) != players or len({p.id for p in plan.lineup}) < 2:
                raise ValueError(
                    f"match spec group {number}: lineup {[p.id for p in plan.lineup]} must seat {players} "
                    "players with at least two different participants"
                )
            for participant in plan.lineup:
                check_playable(participant)
        return self

    @property
    def board(self) -> str:
        return self.variant.board

    @property
    def participants(self) -> tuple[Participant, ...]:
        return tuple(sorted({p for plan in self.groups for p in plan.lineup}))

    @property
    def knobs(self) -> SearchKnobs:
        return SearchKnobs(
            gumbel_actions=self.gumbel_actions,
            c_visit=self.c_visit,
            c_scale=self.c_scale,
            decisive_moves=self.decisive_moves,
        )

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        run_root: Path | str,
        variant: Variant | str,
        eval_id: str,
        task: str,
        groups: Sequence[GroupPlan],
    ) -> MatchSpec:
        """A match task of the run described by `config`: search knobs from its selfplay section,
        the decisive-move check, concurrency and device from its evaluation section."""
        selfplay, evaluation = config.selfplay, config.evaluation
        return cls.checked(
            {
                "run_root": os.path.abspath(run_root),
                "variant": variant,
                "eval_id": eval_id,
                "task": task,
                "groups": tuple(groups),
                "opening_moves": selfplay.opening_sample_moves,
                "concurrent_games": evaluation.concurrent_games,
                "max_batch_size": selfplay.max_batch_size,
                "gumbel_actions": selfplay.gumbel_actions,
                "c_visit": selfplay.c_visit,
                "c_scale": selfplay.c_scale,
                "decisive_moves": evaluation.decisive_moves,
                "device": evaluation.device,
                "walltime_margin_s": float(selfplay.walltime_margin_s),
            }
        )


@dataclass(frozen=True)
class MatchResult:
    """What a task published (or found already published)."""

    path: Path
    groups: int
    games: int
    stop_reason: str | None  # None: every group was played; else halt or walltime
    seconds: float
    already_published: bool = False


def run_match(spec: MatchSpec) -> MatchResult:
    """Play the task's groups and publish its match file; see the module docstring."""
    layout = RunLayout(Path(spec.run_root))
    variant = spec.variant.name
    path = layout.match_file(variant, spec.eval_id, spec.task)
    if layout.match_manifest(variant, spec.eval_id, spec.task).exists():
        meta = read_manifest(path, verify=True).manifest.metadata
        log.info("match %s %s/%s: already published, nothing to do", spec.variant, spec.eval_id, spec.task)
        return MatchResult(path, meta["groups"], meta["games"], None, 0.0, already_published=True)
    cpu = CpuClock.start()
    torch.set_num_threads(available_cpus(os.environ))
    players = build_players(
        spec.participants,
        spec.board,
        spec.variant.players,
        model_file=run_model_file(layout, variant),
        knobs=spec.knobs,
        device=spec.device,
        max_batch=spec.max_batch_size,
    )
    stop = StopCheck(StopRule.for_job(layout.halt, spec.walltime_margin_s, os.environ))
    began = time.time()
    played = play_groups(
        spec.variant,
        spec.groups,
        players,
        opening_moves=spec.opening_moves,
        concurrent_games=spec.concurrent_games,
        stop=stop,
    )
    seconds = time.time() - began
    if not played.groups:
        raise NoGamesPlayedError(
            f"match {spec.variant} evaluation {spec.eval_id} task {spec.task} completed no game group "
            f"(stopped by {played.stopped}); nothing was published. "
            "Remove HALT or give the task more walltime"
        )
    published = publish_match_file(
        layout, variant, spec.eval_id, spec.task, played.groups, cpu_seconds=cpu.seconds()
    )
    games = _games(played.groups)
    log.info(
        "match %s %s/%s: %d groups, %d games in %.1fs%s",
        spec.variant,
        spec.eval_id,
        spec.task,
        len(played.groups),
        games,
        seconds,
        f" (stopped by {played.stopped})" if played.stopped else "",
    )
    return MatchResult(published.path, len(played.groups), games, played.stopped, seconds)


def _games(groups: tuple[MatchGroup, ...]) -> int:
    return sum(len(group.games) for group in groups)
