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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ringrift_hpc.config.variants import parse_variant_name
from ringrift_hpc.jobs.evaluate_games import GroupPlan, play_groups
from ringrift_hpc.jobs.evaluate_players import (
    SearchKnobs,
    build_players,
    check_playable,
    run_model_file,
)
from ringrift_hpc.jobs.slurm_env import available_cpus
from ringrift_hpc.jobs.spec_json import job_problems, spec_fields
from ringrift_hpc.jobs.walltime import StopCheck, StopRule
from ringrift_hpc.rating.match_files import publish_match_file
from ringrift_hpc.rating.participants import (
    Participant,
    participant_from_json,
    variant_players,
)
from ringrift_hpc.rating.records import CrossVariantError, MatchGroup
from ringrift_hpc.store import RunLayout, read_manifest
from ringrift_hpc.store.names import check_component

log = logging.getLogger(__name__)


class NoGamesPlayedError(RuntimeError):
    """The task completed no game group; nothing was published."""


@dataclass(frozen=True)
class MatchSpec:
    """Everything one match task needs; JSON-serializable (`to_json` / `from_json`)."""

    run_root: str  # absolute run directory
    variant: str  # e.g. square8_2p
    eval_id: str  # the evaluation (or tournament) the task belongs to: a directory name
    task: str  # the task's name within the evaluation: the match file's name
    groups: tuple[GroupPlan, ...]
    opening_moves: int = 4  # random plies of each group's shared opening
    concurrent_games: int = 16  # groups played at once (each of their seatings batched)
    max_batch_size: int = 1024
    gumbel_actions: int = 16
    c_visit: float = 50.0
    c_scale: float = 1.0
    device: str = "auto"
    walltime_margin_s: float = 300.0

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise ValueError("invalid match spec:\n  " + "\n  ".join(problems))
        foreign = sorted({str(p) for plan in self.groups for p in plan.lineup if p.variant != self.variant})
        if foreign:
            raise CrossVariantError(
                f"match spec for {self.variant} (evaluation {self.eval_id}, task {self.task}) seats "
                f"{', '.join(foreign)}; a match is only valid between participants of one variant"
            )
        players = variant_players(self.variant)
        for number, plan in enumerate(self.groups):
            if len(plan.lineup) != players or len({p.id for p in plan.lineup}) < 2:
                raise ValueError(
                    f"match spec group {number}: lineup {[p.id for p in plan.lineup]} must seat {players} "
                    "players with at least two different participants"
                )
            for participant in plan.lineup:
                check_playable(participant)

    @property
    def board(self) -> str:
        return str(parse_variant_name(self.variant)["board"])

    @property
    def participants(self) -> tuple[Participant, ...]:
        return tuple(sorted({p for plan in self.groups for p in plan.lineup}))

    @property
    def knobs(self) -> SearchKnobs:
        return SearchKnobs(gumbel_actions=self.gumbel_actions, c_visit=self.c_visit, c_scale=self.c_scale)

    def to_json(self) -> str:
        doc: dict[str, Any] = dataclasses.asdict(self)
        doc["groups"] = [
            {"lineup": [p.to_json() for p in plan.lineup], "seed": plan.seed} for plan in self.groups
        ]
        return json.dumps(doc, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str = "match spec") -> MatchSpec:
        """Parse `to_json` output; unknown, missing or mistyped fields are refused by name."""
        data = spec_fields(cls, text, source=source)
        data["groups"] = tuple(
            _plan_from_json(doc, where=f"{source} groups[{k}]") for k, doc in enumerate(data["groups"])
        )
        return cls(**data)


def _plan_from_json(doc: Any, *, where: str) -> GroupPlan:
    if not isinstance(doc, dict) or set(doc) != {"lineup", "seed"}:
        raise ValueError(f"{where}: a group must be an object with exactly the fields lineup and seed")
    if not isinstance(doc["lineup"], list):
        raise ValueError(f"{where}: field 'lineup' must be a list of participant objects")
    if isinstance(doc["seed"], bool) or not isinstance(doc["seed"], int):
        raise ValueError(f"{where}: field 'seed' is {doc['seed']!r}; it must be an integer")
    lineup = tuple(
        participant_from_json(p, where=f"{where} lineup[{k}]") for k, p in enumerate(doc["lineup"])
    )
    return GroupPlan(lineup=lineup, seed=doc["seed"])


def _spec_problems(spec: MatchSpec) -> list[str]:
    problems = job_problems(
        spec,
        at_least_one=("concurrent_games", "max_batch_size", "gumbel_actions"),
        at_least_zero=("opening_moves", "walltime_margin_s"),
    )
    for name in ("eval_id", "task"):
        try:
            check_component(getattr(spec, name), what=name)
        except ValueError as error:
            problems.append(str(error))
    if not spec.groups:
        problems.append(
            "groups is empty: a match task must play at least one group (a task without games fails)"
        )
    return problems


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
    path = layout.match_file(spec.variant, spec.eval_id, spec.task)
    if layout.match_manifest(spec.variant, spec.eval_id, spec.task).exists():
        meta = read_manifest(path, verify=True).manifest.metadata
        log.info("match %s %s/%s: already published, nothing to do", spec.variant, spec.eval_id, spec.task)
        return MatchResult(path, meta["groups"], meta["games"], None, 0.0, already_published=True)
    torch.set_num_threads(available_cpus(os.environ))
    players = build_players(
        spec.participants,
        spec.board,
        variant_players(spec.variant),
        model_file=run_model_file(layout, spec.variant),
        knobs=spec.knobs,
        device=spec.device,
        max_batch=spec.max_batch_size,
    )
    stop = StopCheck(StopRule.for_job(layout.halt, spec.walltime_margin_s, os.environ))
    began = time.time()
    played = play_groups(
        spec.variant,
        spec.board,
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
    published = publish_match_file(layout, spec.variant, spec.eval_id, spec.task, played.groups)
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
