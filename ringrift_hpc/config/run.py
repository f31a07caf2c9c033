"""Sections about the run as a whole: identity, controller cadence, the local executor, metrics."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import Bool, Float, Int, InvalidValue, Section, Str
from .variants import Variant

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class RunSection(Section):
    """What the run is: where it lives, which variants it trains, its seed."""

    name: Str = Field(
        default="demo",
        description="Short run name (letters, digits, `_`, `.`, `-`; at most 40). Tags every Slurm job name "
        "so `squeue`, `sacct` and `scancel` can select the run's jobs.",
    )
    root: Str = Field(
        default="runs/demo",
        min_length=1,
        description="Run directory (DESIGN.md §4) on a filesystem every job can reach; relative paths are "
        "relative to where the controller starts.",
    )
    variants: tuple[Variant, ...] = Field(
        default=(Variant(board="square8", players=2),),
        min_length=1,
        description="Variants to train, each `<board>_<players>p`: boards `square8`, `square19`, `hex8`, "
        "`hexagonal`; 2, 3 or 4 players.",
    )
    seed: Int = Field(
        default=0,
        ge=0,
        description="Run seed; every game's seed derives from it, the variant, the generation and the task.",
    )

    @field_validator("name")
    @classmethod
    def _job_name_safe(cls, name: str) -> str:
        if not _NAME.match(name):
            raise InvalidValue(
                f"run name '{name}' cannot tag Slurm job names",
                "use 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit",
            )
        return name

    @field_validator("variants")
    @classmethod
    def _distinct(cls, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        names = [v.name for v in variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidValue(f"{', '.join(repeated)} listed more than once", "list each variant once")
        return variants


class LocalSection(Section):
    """The local executor: jobs as processes on this machine."""

    max_parallel_jobs: Int = Field(default=2, ge=1, description="Most jobs running at once on this machine.")
    threads_per_job: Int = Field(
        default=1, ge=1, description="CPU threads each local job may use (torch and numpy)."
    )


class LoopSection(Section):
    """The controller's reconcile loop."""

    tick_interval_s: Float = Field(
        default=10.0, gt=0, description="Seconds between controller ticks (one scheduler query per tick)."
    )
    max_job_retries: Int = Field(
        default=3, ge=0, description="Times a failed job is resubmitted before it surfaces as an error."
    )
    retry_backoff_s: Float = Field(
        default=60.0,
        ge=0,
        description="Wait before the first resubmission; doubles with every further retry.",
    )
    artifact_grace_s: Float = Field(
        default=600.0,
        ge=0,
        description="How long after a training or match job completed its model or match file may take "
        "to appear (a shared filesystem's lag) before the job counts as failed.",
    )
    max_generations: Int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many promoted-or-rejected generations per variant; null runs on.",
    )


class MetricsSection(Section):
    """Prometheus metrics: textfiles in the run directory, optionally served over HTTP."""

    enabled: Bool = Field(default=True, description="Write Prometheus textfiles under `RUN/metrics/`.")
    serve: Bool = Field(default=False, description="Serve all textfiles over HTTP from the controller.")
    address: Str = Field(
        default="127.0.0.1", min_length=1, description="Address the metrics server binds to."
    )
    port: Int = Field(default=9108, ge=1, le=65535, description="Port the metrics server listens on.")
