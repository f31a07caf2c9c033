"""The root of the config: every section, and checks that span sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import InvalidValue, Section
from .gating import CurriculumSection, EvaluationSection, PromotionSection
from .learning import NetworkSection, SelfplaySection, TrainingSection
from .run import LocalSection, LoopSection, MetricsSection, RunSection
from .slurm import SlurmSection
from .variants import Variant


class Config(Section):
    """A ringrift-hpc run: the YAML file users edit, frozen into `RUN/run.yaml` when the run starts."""

    version: Literal[1] = Field(1, description="Config format version; only 1 exists.")
    executor: Literal["auto", "slurm", "local"] = Field(
        "auto",
        description="Where jobs run: `slurm` (submitit), `local` (processes on this machine), or `auto` "
        "(Slurm when `sbatch` is found, else local).",
    )
    run: RunSection = Field(default_factory=RunSection, description="The run.")
    local: LocalSection = Field(default_factory=LocalSection, description="Local executor.")
    slurm: SlurmSection = Field(default_factory=SlurmSection, description="Slurm executor.")
    loop: LoopSection = Field(default_factory=LoopSection, description="Controller loop.")
    network: NetworkSection = Field(default_factory=NetworkSection, description="Network size.")
    selfplay: SelfplaySection = Field(default_factory=SelfplaySection, description="Selfplay.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Training.")
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection, description="Evaluation.")
    promotion: PromotionSection = Field(default_factory=PromotionSection, description="Promotion gate.")
    curriculum: CurriculumSection = Field(default_factory=CurriculumSection, description="Curriculum.")
    metrics: MetricsSection = Field(default_factory=MetricsSection, description="Metrics.")

    @model_validator(mode="after")
    def _gpus_for_cuda(self) -> Config:
        if self.executor != "slurm":
            return self
        for section, kind in (("selfplay", "selfplay"), ("training", "train"), ("evaluation", "evaluate")):
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
