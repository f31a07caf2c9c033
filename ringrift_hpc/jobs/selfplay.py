"""The selfplay job: one task plays many games concurrently and publishes ONE shard.

`run_selfplay(spec)` runs identically as a Slurm array task, a single Slurm job, a local
executor process or `ringrift-hpc worker selfplay --spec FILE` (`jobs.registry.run_from_spec_file`).

* Seeds: the task's seed derives from (run seed, variant, generation, task index), game k's
  from the task seed and k (`jobs.seeds`); both go into the shard and its manifest.
* Model: `RunLayout.model_weights(variant, model_id)`, loaded with this code's encoder, codec
  and architecture versions and checked against its content-addressed id. `model_id = "none"`
  (generation 0) plays the bootstrap player instead (`jobs.selfplay_games`).
* Stopping: `games` games are started (at most `concurrent_games` at once). A spent
  `time_budget_s` starts no new game and finishes those in flight (so it only bounds a task
  whose `games` exceed `concurrent_games`; the walltime is the hard limit). HALT or the Slurm walltime
  minus `walltime_margin_s` abandons the games in flight at once (no value targets without an
  end). Either way the finished games are published; a task that finished none raises
  `NothingPlayedError`, so the process exits non-zero.
* Idempotent: when this task's shard is already published, the task does nothing and returns
  the published record (a requeued array task does not conflict with its first run). One that
  no longer verifies is an error: the controller quarantines it, then a retry plays again.
* The manifest carries what ingest needs (variant, generation, task, model id, seeds, games,
  positions, encoder and codec versions, the CPU seconds the task used: `jobs.cpu_time`), so
  the controller never opens the shard.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from ringrift_hpc.ai.checkpoint import CheckpointHeader, load_checkpoint, model_id, read_header
from ringrift_hpc.ai.codec import CODEC_VERSION, ActionCodec
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.ai.net_evaluator import NetEvaluator
from ringrift_hpc.ai.players import HeuristicPlayer, RandomPlayer
from ringrift_hpc.ai.search import SearchConfig
from ringrift_hpc.config import Config
from ringrift_hpc.config.base import Float, Int, Str
from ringrift_hpc.config.learning import Device
from ringrift_hpc.config.spec_model import RunRoot, SpecModel
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.data.shards import FORMAT_VERSION, ShardHeader, ShardWriter
from ringrift_hpc.jobs.cpu_time import CpuClock
from ringrift_hpc.jobs.seeds import game_seed, task_seed
from ringrift_hpc.jobs.selfplay_games import BootstrapMover, Mover, SearchMover, play_selfplay
from ringrift_hpc.jobs.slurm_env import available_cpus, job_facts
from ringrift_hpc.jobs.walltime import StopCheck, StopRule
from ringrift_hpc.rules import initial_state
from ringrift_hpc.store import (
    CorruptArtifactError,
    RunLayout,
    manifest_path,
    publish_file,
    read_manifest,
    temp_path_for,
)
from ringrift_hpc.store.atomic import ensure_dir

log = logging.getLogger(__name__)

NO_MODEL = "none"
BootstrapPlayer = Literal["random", "heuristic"]


class NothingPlayedError(RuntimeError):
    """The task finished no game; nothing was published (a job that produced nothing failed)."""


class SelfplaySpec(SpecModel):
    """Everything one selfplay task needs; JSON-serializable (`to_json` / `from_json`)."""

    what: ClassVar[str] = "selfplay spec"

    run_root: RunRoot
    variant: Variant
    generation: Int = Field(ge=0)
    task_index: Int = Field(ge=0)
    model_id: Str  # sha256 of the weights, or "none" for generation 0
    run_seed: Int = Field(ge=0)
    games: Int = Field(ge=1)  # games to start (the task may stop earlier, see the module docstring)
    time_budget_s: Float | None = Field(default=None, gt=0)  # start no game after this; None: no budget
    bootstrap_player: BootstrapPlayer = "heuristic"  # who plays when model_id is "none"
    simulations: Int = Field(default=64, ge=1)
    gumbel_actions: Int = Field(default=16, ge=1)
    c_visit: Float = 50.0
    c_scale: Float = 1.0
    opening_sample_moves: Int = Field(default=4, ge=0)
    full_search_fraction: Float = Field(default=1.0, gt=0, le=1)
    fast_simulations: Int = Field(default=4, ge=1)
    value_search_weight: Float = Field(default=0.0, ge=0, le=1)
    concurrent_games: Int = Field(default=32, ge=1)
    max_batch_size: Int = Field(default=1024, ge=1)
    device: Device = "auto"
    walltime_margin_s: Float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _bootstrap_only_first(self) -> SelfplaySpec:
        if self.model_id == NO_MODEL and self.generation != 0:
            raise ValueError(
                f"model_id 'none' (the bootstrap player) is for generation 0, not {self.generation}"
            )
        return self

    @property
    def task(self) -> str:
        """The task's name in the run directory (zero-padded: sorted names are task order)."""
        return f"{self.task_index:06d}"

    @property
    def board(self) -> str:
        return self.variant.board

    @property
    def num_players(self) -> int:
        return self.variant.players

    @property
    def search_config(self) -> SearchConfig:
        return SearchConfig(
            simulations=self.simulations,
            gumbel_actions=self.gumbel_actions,
            c_visit=self.c_visit,
            c_scale=self.c_scale,
            opening_sample_moves=self.opening_sample_moves,
        )

    @property
    def fast_search_config(self) -> SearchConfig:
        """The cheap search of playout cap randomization: at most as many root moves as simulations."""
        return SearchConfig(
            simulations=self.fast_simulations,
            gumbel_actions=min(self.gumbel_actions, self.fast_simulations),
            c_visit=self.c_visit,
            c_scale=self.c_scale,
            opening_sample_moves=self.opening_sample_moves,
        )

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        run_root: Path,
        variant: Variant | str,
        generation: int,
        task_index: int,
        model_id: str,
    ) -> SelfplaySpec:
        """A task of the run described by `config`."""
        section = config.selfplay
        return cls.checked(
            {
                "run_root": os.path.abspath(run_root),
                "variant": variant,
                "generation": generation,
                "task_index": task_index,
                "model_id": model_id,
                "run_seed": config.run.seed,
                "games": section.games_per_task,
                "bootstrap_player": section.bootstrap_player,
                "simulations": section.simulations,
                "gumbel_actions": section.gumbel_actions,
                "c_visit": section.c_visit,
                "c_scale": section.c_scale,
                "opening_sample_moves": section.opening_sample_moves,
                "full_search_fraction": section.full_search_fraction,
                "fast_simulations": section.fast_simulations,
                "value_search_weight": section.value_search_weight,
                "concurrent_games": section.concurrent_games,
                "max_batch_size": section.max_batch_size,
                "device": section.device,
                "walltime_margin_s": float(section.walltime_margin_s),
            }
        )


@dataclass(frozen=True)
class SelfplayResult:
    """What a task published (or found already published)."""

    shard: Path
    games: int
    positions: int
    stop_reason: str  # games, time_budget, halt or walltime
    seconds: float  # time spent playing
    already_published: bool = False


def _mover(spec: SelfplaySpec, layout: RunLayout) -> Mover:
    if spec.model_id == NO_MODEL:
        player = RandomPlayer() if spec.bootstrap_player == "random" else HeuristicPlayer()
        return BootstrapMover(player, spec.opening_sample_moves)
    path = layout.model_weights(spec.variant.name, spec.model_id)
    found = model_id(path) if path.exists() else None
    if found != spec.model_id:
        what = "does not exist" if found is None else f"has sha256 {found}"
        raise ValueError(
            f"{path} {what}, but the spec's model_id is {spec.model_id}; a model file is named by its "
            "content, so re-publish the model or pass the right model_id"
        )
    expected = CheckpointHeader.current(spec.board, spec.num_players, read_header(path).net_config)
    net = load_checkpoint(path, expected)
    evaluator = NetEvaluator(net, device=spec.device, max_batch=spec.max_batch_size)
    return SearchMover(evaluator, spec.search_config, spec.fast_search_config, spec.full_search_fraction)


class PublishedShardCorruptError(RuntimeError):
    """This task's shard was published by an earlier attempt and no longer verifies."""


def _published(shard: Path) -> SelfplayResult | None:
    """This task's shard if an earlier attempt published it; a damaged one is an error, left
    where it is for the controller to quarantine (jobs never move files)."""
    if not manifest_path(shard).exists():
        return None
    try:
        meta = read_manifest(shard, verify=True).manifest.metadata
    except CorruptArtifactError as error:
        raise PublishedShardCorruptError(
            f"{error}\n  an earlier attempt of this task published the shard; the controller quarantines it "
            "when it ingests it, and this task plays its games again when it is retried after that"
        ) from error
    return SelfplayResult(
        shard, meta["games"], meta["positions"], meta["stop_reason"], meta["play_seconds"], True
    )


def run_selfplay(spec: SelfplaySpec) -> SelfplayResult:
    """Play the task's games and publish its shard; see the module docstring."""
    layout = RunLayout(Path(spec.run_root))
    shard = layout.selfplay_shard(spec.variant.name, spec.generation, spec.task)
    existing = _published(shard)
    if existing is not None:
        log.info(
            "selfplay %s gen %d task %s: already published, nothing to do",
            spec.variant,
            spec.generation,
            spec.task,
        )
        return existing
    cpu = CpuClock.start()
    torch.set_num_threads(available_cpus(os.environ))
    t_setup = time.time()
    mover = _mover(spec, layout)
    seed = task_seed(spec.run_seed, spec.variant.name, spec.generation, spec.task_index)
    seeds = [game_seed(seed, k) for k in range(spec.games)]
    stop = StopCheck(StopRule.for_job(layout.halt, spec.walltime_margin_s, os.environ))
    header = ShardHeader(
        variant=spec.variant.name,
        board=spec.board,
        num_players=spec.num_players,
        model_id=spec.model_id,
        generation=spec.generation,
        task=spec.task,
        run_seed=spec.run_seed,
    )
    ensure_dir(shard.parent)
    writer = ShardWriter(temp_path_for(shard), header)
    t_play = time.time()
    budget_end = None if spec.time_budget_s is None else t_play + spec.time_budget_s
    try:
        outcome = play_selfplay(
            mover,
            lambda: initial_state(spec.board, spec.num_players),
            seeds,
            ActionCodec.for_board(spec.board, spec.num_players),
            concurrent=spec.concurrent_games,
            on_game=writer.add_game,
            hard_stop=stop,
            soft_stop=lambda: budget_end is not None and time.time() >= budget_end,
            value_search_weight=spec.value_search_weight,
        )
    except BaseException:
        writer.abort()
        raise
    play_seconds = time.time() - t_play
    if writer.games == 0:
        writer.abort()
        raise NothingPlayedError(
            f"selfplay {spec.variant} generation {spec.generation} task {spec.task} finished no game "
            f"(stopped by {outcome.stop_reason} after {play_seconds:.1f}s, {outcome.abandoned} abandoned); "
            "nothing was published. Remove HALT, give the task more walltime, or lower walltime_margin_s"
        )
    positions = writer.samples
    metadata = {
        "kind": "selfplay-shard",
        "format_version": FORMAT_VERSION,
        "variant": spec.variant.name,
        "generation": spec.generation,
        "task": spec.task,
        "model_id": spec.model_id,
        "encoder_version": ENCODER_VERSION,
        "codec_version": CODEC_VERSION,
        "run_seed": spec.run_seed,
        "task_seed": seed,
        "game_seeds": seeds[: outcome.finished + outcome.abandoned],
        "games": writer.games,
        "positions": positions,
        "abandoned_games": outcome.abandoned,
        "stop_reason": outcome.stop_reason,
        "spec": spec.model_dump(mode="json"),
        "setup_seconds": round(t_play - t_setup, 3),
        "play_seconds": round(play_seconds, 3),
        "cpu_seconds": cpu.seconds(),
        **job_facts(os.environ),
    }
    published = publish_file(shard, writer.finish(), metadata)
    result = SelfplayResult(published.path, writer.games, positions, outcome.stop_reason, play_seconds)
    log.info(
        "selfplay %s gen %d task %s: %d games, %d positions in %.1fs (%s)",
        spec.variant,
        spec.generation,
        spec.task,
        result.games,
        positions,
        play_seconds,
        outcome.stop_reason,
    )
    return result
