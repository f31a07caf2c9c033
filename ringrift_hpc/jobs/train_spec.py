"""The training job's input (`TrainSpec`) and output (`TrainResult`), both plain JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config.learning import TrainingSection
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.replay_window import ReplayWindowError, Window
from ringrift_hpc.jobs.spec_json import spec_fields
from ringrift_hpc.store.names import check_model_id


class TrainSpecError(ValueError):
    """A training spec that cannot run."""


@dataclass(frozen=True)
class TrainSpec:
    """One training job: which data, which parent, how long, how.

    `training` is the run config's `training` section and `network` the `NetConfig` dict,
    both as JSON, so a spec file says everything the job will do.
    """

    run_root: str  # absolute run directory
    variant: str  # e.g. "square8_2p"
    parent_model: str | None  # model id the candidate starts from; None only for the first model
    generation: int  # generation of the candidate (recorded in its metadata)
    new_samples: int  # selfplay samples since the parent was trained: sets the step count
    network: dict[str, int]  # NetConfig.to_dict()
    training: dict[str, Any]  # TrainingSection as JSON
    seed: int
    processes: int = 1  # DDP processes (one per GPU on CUDA; gloo on CPU)
    steps: int | None = None  # explicit step count instead of the one derived from new_samples
    max_samples_in_memory: int = 500_000  # larger windows are subsampled uniformly
    # The shards to train on (`Window.to_doc`), chosen by the controller from the shards it
    # ingested; None: the job chooses from the published shards (a job run without a controller).
    window: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not Path(self.run_root).is_absolute():
            problems.append(
                f"run_root {self.run_root!r} is not absolute: give the full path of the run directory"
            )
        try:
            Variant.model_validate(self.variant)
        except ValidationError as error:
            problems.append(f"variant {self.variant!r}: {error.errors()[0]['msg']}")
        if self.parent_model is not None:
            try:
                check_model_id(self.parent_model)
            except ValueError as error:
                problems.append(f"parent_model: {error}")
        for name in ("generation", "new_samples", "seed"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 0:
                problems.append(f"{name} must be a non-negative int, got {getattr(self, name)!r}")
        for name in ("processes", "max_samples_in_memory"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 1:
                problems.append(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.window is not None:
            try:
                Window.from_doc(self.window, source="window")
            except ReplayWindowError as error:
                problems.append(str(error))
        if self.steps is not None and (type(self.steps) is not int or self.steps < 1):
            problems.append(f"steps must be a positive int or null, got {self.steps!r}")
        try:
            section = self.training_section()
            if type(self.processes) is int and self.processes >= 1 and section.batch_size % self.processes:
                problems.append(
                    f"training.batch_size {section.batch_size} is not divisible by processes "
                    f"{self.processes}: make the batch size a multiple of the process count"
                )
        except ValidationError as error:
            problems.extend(f"training.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        try:
            self.net_config()
        except (TypeError, ValueError) as error:
            problems.append(f"network: {error}")
        if problems:
            raise TrainSpecError("invalid training spec:\n  " + "\n  ".join(problems))

    @property
    def board(self) -> str:
        return self.variant.rsplit("_", 1)[0]

    @property
    def num_players(self) -> int:
        return int(self.variant.rsplit("_", 1)[1][:-1])

    @property
    def key(self) -> str:
        """A name for this job derived from its content: a requeued job finds its own files."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def training_section(self) -> TrainingSection:
        return TrainingSection.model_validate(self.training)

    def net_config(self) -> NetConfig:
        return NetConfig.from_dict(self.network)

    def total_steps(self) -> int:
        """`steps` if given, else `new_samples * samples_per_new_sample / batch_size` clamped."""
        if self.steps is not None:
            return self.steps
        section = self.training_section()
        wanted = math.ceil(self.new_samples * section.samples_per_new_sample / section.batch_size)
        return min(max(wanted, section.min_steps), section.max_steps)

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        if fields["window"] is None:
            del fields["window"]  # the spec's key stays what it was before the field existed
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str = "training spec") -> TrainSpec:
        """Parse a spec; unknown or missing fields are errors naming `source`."""
        data = spec_fields(cls, text, source=source, error=TrainSpecError)
        try:
            return cls(**data)
        except TrainSpecError as error:
            raise TrainSpecError(f"{source}: {error}") from None

    @classmethod
    def build(
        cls,
        run_root: Path,
        variant: str,
        *,
        parent_model: str | None,
        generation: int,
        new_samples: int,
        network: NetConfig,
        training: TrainingSection,
        seed: int,
        processes: int = 1,
        steps: int | None = None,
        max_samples_in_memory: int = 500_000,
        window: Window | None = None,
    ) -> TrainSpec:
        """A spec from typed config objects."""
        return cls(
            run_root=str(run_root.resolve()),
            variant=variant,
            parent_model=parent_model,
            generation=generation,
            new_samples=new_samples,
            network=network.to_dict(),
            training=training.model_dump(mode="json"),
            seed=seed,
            processes=processes,
            steps=steps,
            max_samples_in_memory=max_samples_in_memory,
            window=None if window is None else window.to_doc(),
        )


@dataclass(frozen=True)
class TrainResult:
    """What a finished training job produced."""

    model_id: str
    weights: str  # path of the published candidate
    steps: int
    resumed_from_step: int  # 0 for a job that ran from its start
    train_policy_loss: float  # mean over the last steps
    train_value_loss: float
    validation_policy_loss: float | None  # None when no game was held out
    validation_value_loss: float | None
    samples: int  # samples in memory (after the cap)
    validation_samples: int
    provenance: tuple[tuple[str, int], ...]  # (shard, samples used)
    quarantined: tuple[str, ...]
    duration_s: float  # of the last attempt

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainResult:
        data = json.loads(text)
        data["provenance"] = tuple((name, int(count)) for name, count in data["provenance"])
        data["quarantined"] = tuple(data["quarantined"])
        return cls(**data)
