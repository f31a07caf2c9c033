"""The root of the config: every section, and checks that span sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import InvalidValue, Section
from .gating import CurriculumSection, EvaluationSection, PromotionSection
from .job_kinds import JobKind
from .learning import NetworkSection, SelfplaySection, TrainingSection
from .p2p import P2PSection
from .run import LocalSection, LoopSection, MetricsSection, RunSection
from .slurm import SlurmSection
from .variants import Variant


class Config(Section):
    """A ringrift-hpc run: the YAML file users edit, frozen into `RUN/run.yaml` when the run starts."""

    version: Literal[1] = Field(default=1, description="Config format version; only 1 exists.")
    executor: Literal["auto", "slurm", "local"] = Field(
        default="auto",
        description="Where jobs run: `slurm` (submitit), `local` (processes on this machine), or `auto` "
        "(Slurm when `sbatch` is found, else local).",
    )
    run: RunSection = Field(
        default=RunSection(), description="Name, directory, variants and seed of the run."
    )
    local: LocalSection = Field(
        default=LocalSection(), description="The local executor (jobs as processes on this machine)."
    )
    slurm: SlurmSection = Field(
        default=SlurmSection(), description="Slurm submission: setup lines and resources per job kind."
    )
    loop: LoopSection = Field(
        default=LoopSection(), description="The controller's tick, retries and stopping point."
    )
    network: NetworkSection = Field(default=NetworkSection(), description="Size of the policy/value network.")
    selfplay: SelfplaySection = Field(
        default=SelfplaySection(), description="Selfplay search budget, games per task and fleet size."
    )
    training: TrainingSection = Field(
        default=TrainingSection(), description="Training trigger, replay window, steps and optimizer."
    )
    evaluation: EvaluationSection = Field(
        default=EvaluationSection(), description="Evaluation games and the periodic rating tournament."
    )
    promotion: PromotionSection = Field(
        default=PromotionSection(),
        description="The promotion gate: SPRT against the best plus the regression gate.",
    )
    curriculum: CurriculumSection = Field(
        default=CurriculumSection(), description="How selfplay capacity is shared among variants."
    )
    metrics: MetricsSection = Field(
        default=MetricsSection(), description="Prometheus textfiles and the metrics server."
    )
    p2p: P2PSection = Field(
        default=P2PSection(),
        description="Peer-to-peer mode for nodes without Slurm (`ringrift-hpc p2p`, docs/p2p.md).",
    )

    @model_validator(mode="after")
    def _gpus_for_cuda(self) -> Config:
        if self.executor != "slurm":
            return self
        kinds: tuple[tuple[str, JobKind], ...] = (
            ("selfplay", "selfplay"),
            ("training", "train"),
            ("evaluation", "evaluate"),
        )
        for section, kind in kinds:
            if getattr(self, section).device == "cuda" and self.slurm.job(kind).gpus == 0:
                raise InvalidValue(
                    f"{section}.device is cuda but slurm.{kind}.gpus is 0, so the job would get no GPU",
                    f"set slurm.{kind}.gpus to at least 1, or {section}.device to cpu or auto",
                    key=f"{section}.device",
                )
        return self

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The run's variants, in config order."""
        return self.run.variants

    @property
    def evaluation_simulations(self) -> int:
        """Search budget of evaluation games (the selfplay budget unless set)."""
        return self.evaluation.simulations or self.selfplay.simulations
