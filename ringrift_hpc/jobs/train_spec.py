"""The training job's input (`TrainSpec`) and output (`TrainResult`), both plain JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config import Config
from ringrift_hpc.config.base import Bool, Int, Str
from ringrift_hpc.config.errors import problems_from_validation
from ringrift_hpc.config.learning import TrainingSection
from ringrift_hpc.config.spec_model import RunRoot, SpecError, SpecModel, SpecProblems
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.replay_window import ReplayWindowError, Window
from ringrift_hpc.store.names import check_model_id


class TrainSpecError(SpecError):
    """A training spec that cannot run."""


class TrainSpec(SpecModel):
    """One training job: which data, which parent, how long, how.

    `training` is the run config's `training` section and `network` the `NetConfig` dict,
    both as JSON, so a spec file says everything the job will do.
    """

    error_class: ClassVar[type[ValueError]] = TrainSpecError
    what: ClassVar[str] = "training spec"
    json_indent: ClassVar[int | None] = None
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"window"})

    run_root: RunRoot
    variant: Variant
    parent_model: Str | None  # model id the candidate starts from; None only for the first model
    generation: Int = Field(ge=0)  # generation of the candidate (recorded in its metadata)
    new_samples: Int = Field(ge=0)  # selfplay samples since the parent was trained: sets the step count
    network: dict[str, Int | Bool]  # NetConfig.to_dict()
    training: dict[str, Any]  # TrainingSection as JSON
    seed: Int = Field(ge=0)
    processes: Int = Field(default=1, ge=1)  # DDP processes (one per GPU on CUDA; gloo on CPU)
    steps: Int | None = Field(default=None, ge=1)  # explicit step count instead of the derived one
    max_samples_in_memory: Int = Field(default=500_000, ge=1)  # larger windows are subsampled uniformly
    # The shards to train on (`Window.to_doc`), chosen by the controller from the shards it
    # ingested; None: the job chooses from the published shards (a job run without a controller).
    window: dict[str, Any] | None = None

    @field_validator("parent_model")
    @classmethod
    def _model_id(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_model_id(value)
            except ValueError as error:
                raise ValueError(f"parent_model: {error}") from None
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: dict[str, int]) -> dict[str, int]:
        try:
            NetConfig.from_dict(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"network: {error}") from None
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                Window.from_doc(value, source="window")
            except ReplayWindowError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("training")
    @classmethod
    def _training(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            TrainingSection.model_validate(value)
        except ValidationError as error:
            raise SpecProblems(
                f"training.{p.key}: {p.problem} ({p.fix})" if p.key else f"training: {p.problem} ({p.fix})"
                for p in problems_from_validation(error.errors(), TrainingSection, {})
            ) from None
        return value

    @model_validator(mode="after")
    def _aux_heads(self) -> TrainSpec:
        """A positive auxiliary loss weight needs the network's head for it."""
        section, net = self.training_section(), self.net_config()
        for weight, head in (("aux_ownership_weight", "ownership_head"), ("aux_score_weight", "score_head")):
            if getattr(section, weight) > 0 and not getattr(net, head):
                raise ValueError(
                    f"training.{weight} is {getattr(section, weight)} but network.{head} is off: "
                    f"set network.{head} to true or the weight to 0 (TrainSpec.from_config does this)"
                )
        return self

    @field_validator("processes")
    @classmethod
    def _divides_batch(cls, processes: int, info: ValidationInfo) -> int:
        training = info.data.get("training")
        if training is not None:
            batch_size = TrainingSection.model_validate(training).batch_size
            if batch_size % processes:
                raise ValueError(
                    f"training.batch_size {batch_size} is not divisible by processes {processes}: "
                    "make the batch size a multiple of the process count"
                )
        return processes

    @property
    def board(self) -> str:
        return self.variant.board

    @property
    def num_players(self) -> int:
        return self.variant.players

    @property
    def key(self) -> str:
        """A name for this job derived from its content: a requeued job finds its own files.

        The run root is left out: a P2P worker rebases it onto its own mount, and the model it
        trains must still carry the key the controller waits for.
        """
        content = json.loads(self.content_json())
        del content["run_root"]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

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

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        run_root: Path,
        variant: Variant | str,
        parent_model: str | None,
        generation: int,
        new_samples: int,
        seed: int,
        processes: int = 1,
        steps: int | None = None,
        window: Window | None = None,
    ) -> TrainSpec:
        """A training job of the run described by `config` (its network and training sections;
        a positive auxiliary loss weight gives the network that head)."""
        return cls.checked(
            {
                "run_root": str(Path(run_root).resolve()),
                "variant": variant,
                "parent_model": parent_model,
                "generation": generation,
                "new_samples": new_samples,
                "network": NetConfig.from_section(
                    config.network,
                    ownership_head=config.training.aux_ownership_weight > 0,
                    score_head=config.training.aux_score_weight > 0,
                ).to_dict(),
                "training": config.training.model_dump(mode="json"),
                "seed": seed,
                "processes": processes,
                "steps": steps,
                "window": None if window is None else window.to_doc(),
            }
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
    # Auxiliary losses (None: that head is off), reported like the others.
    train_ownership_loss: float | None = None
    train_score_loss: float | None = None
    validation_ownership_loss: float | None = None
    validation_score_loss: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainResult:
        data = json.loads(text)
        data["provenance"] = tuple((name, int(count)) for name, count in data["provenance"])
        data["quarantined"] = tuple(data["quarantined"])
        return cls(**data)
