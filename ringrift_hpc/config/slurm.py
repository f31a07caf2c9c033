"""Slurm resources per job kind, and the Slurm time and memory formats they use."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict, field_validator

from .base import Int, InvalidValue, Section, Str
from .job_kinds import JobKind

_TIME = re.compile(
    r"^(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?"
    r"|(?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?)$"
)
_SBATCH_ARG = re.compile(r"^--[a-z][a-z0-9-]*(=\S.*)?$")
_MEM = re.compile(r"^[1-9]\d*[KMGT]?$")
_TIME_FIX = "write a Slurm time such as 90 (minutes), 04:00:00 or 2-00:00:00, quoted in YAML"

# Options the typed fields already set; repeating them in extra_sbatch_args would make two
# sources for one value, and sbatch silently lets the last one win.
_OWNED_OPTIONS: dict[str, str] = {
    option: fix
    for options, fix in (
        (("--partition",), "set partition instead"),
        (("--time",), "set time instead"),
        (("--cpus-per-task",), "set cpus instead"),
        (("--mem",), "set mem instead"),
        (("--gpus", "--gres", "--gpus-per-node", "--gpus-per-task"), "set gpus instead"),
        (("--account",), "set account instead"),
        (("--qos",), "set qos instead"),
        (("--constraint",), "set constraint instead"),
        (("--job-name",), "remove it: job names are built from run.name"),
        (("--array",), "remove it: the controller sizes arrays (throttle with array_parallelism)"),
        (("--output", "--error"), "remove it: logs go to the run directory"),
        (("--signal",), "remove it: the executor sets the signal that warns a job before its time limit"),
    )
    for option in options
}


def slurm_time_seconds(text: str) -> int:
    """Seconds in a Slurm time limit (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`)."""
    match = _TIME.match(text.strip())
    if match is None:
        raise InvalidValue(f"'{text}' is not a Slurm time", _TIME_FIX)
    if match["days"] is not None:
        parts = [int(match[k] or 0) for k in ("days", "dh", "dm", "ds")]
        seconds = ((parts[0] * 24 + parts[1]) * 60 + parts[2]) * 60 + parts[3]
    elif match["c"] is not None:
        seconds = (int(match["a"]) * 60 + int(match["b"])) * 60 + int(match["c"])
    else:
        seconds = int(match["a"]) * 60 + int(match["b"] or 0)
    if seconds <= 0:
        raise InvalidValue(f"time limit '{text}' is zero", _TIME_FIX)
    return seconds


def format_slurm_time(seconds: int) -> str:
    """Canonical `HH:MM:SS` or `D-HH:MM:SS` text for a positive number of seconds."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def _check_sbatch_arg(arg: str) -> str:
    if not _SBATCH_ARG.match(arg):
        raise InvalidValue(
            f"'{arg}' is not an sbatch option",
            "write one option per item as --option=value or --flag, e.g. --mail-type=FAIL",
        )
    option = arg.split("=", 1)[0]
    if option in _OWNED_OPTIONS:
        raise InvalidValue(f"'{arg}' sets {option}, which this config sets itself", _OWNED_OPTIONS[option])
    return arg


SbatchArg = Annotated[str, Strict(), AfterValidator(_check_sbatch_arg)]


def _time_field(default: str) -> Any:
    return Field(
        default=default,
        description="Walltime limit (`--time`) in Slurm format; a bare integer means minutes. "
        "Stored as `HH:MM:SS` or `D-HH:MM:SS`. Jobs stop starting work before it runs out.",
    )


def _cpus_field(default: int) -> Any:
    return Field(default=default, ge=1, description="CPU cores per task (`--cpus-per-task`).")


def _parallelism_field(default: int) -> Any:
    return Field(
        default=default,
        ge=1,
        description="Most tasks of one array running at once (the `%` throttle of `--array`).",
    )


class SlurmJob(Section):
    """Resources every job kind has, passed to sbatch (through submitit or the sbatch templates)."""

    partition: Str | None = Field(
        default=None, description="Partition (`--partition`); null uses the cluster's default."
    )
    time: Str = _time_field("01:00:00")
    cpus: Int = _cpus_field(2)
    mem: Str | None = Field(
        default=None,
        description="Memory per node (`--mem`): an integer with optional unit K, M, G or T "
        "(megabytes without one); null uses the partition's default.",
    )
    gpus: Int = Field(default=0, ge=0, description="GPUs per task (`--gpus`); 0 requests none.")
    account: Str | None = Field(
        default=None, description="Account to charge (`--account`); null uses your default."
    )
    qos: Str | None = Field(default=None, description="Quality of service (`--qos`); null uses the default.")
    constraint: Str | None = Field(
        default=None, description="Node feature constraint (`--constraint`), e.g. `a100|h100`."
    )
    extra_sbatch_args: tuple[SbatchArg, ...] = Field(
        default=(),
        description="Further sbatch options, each one `--option=value` or `--flag`, "
        "e.g. `--mail-type=FAIL`. Options that have a field here are refused.",
    )
    setup: tuple[Str, ...] = Field(
        default=(),
        description="Shell lines run before this kind's job, after `slurm.setup` "
        "(e.g. `module load cuda/12.4`).",
    )

    @field_validator("time", mode="before")
    @classmethod
    def _canonical_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            return format_slurm_time(slurm_time_seconds(value))
        return value

    @field_validator("mem", mode="before")
    @classmethod
    def _canonical_mem(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value}M"
        if isinstance(value, str) and not _MEM.match(value.strip().upper()):
            raise InvalidValue(
                f"'{value}' is not a Slurm memory size",
                "write a positive integer with an optional unit K, M, G or T, e.g. 16G",
            )
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def time_seconds(self) -> int:
        """The walltime limit in seconds."""
        return slurm_time_seconds(self.time)

    @property
    def time_minutes(self) -> int:
        """The walltime limit in whole minutes, rounded up (submitit's `timeout_min`)."""
        return math.ceil(self.time_seconds / 60)


class SelfplayJob(SlurmJob):
    """Resources of one selfplay array task (one process playing many games at once)."""

    time: Str = _time_field("02:00:00")
    cpus: Int = _cpus_field(4)
    array_parallelism: Int = _parallelism_field(64)


class TrainJob(SlurmJob):
    """Resources of one training job; more than one GPU trains with DDP on one node."""

    time: Str = _time_field("04:00:00")
    cpus: Int = _cpus_field(8)


class EvaluateJob(SlurmJob):
    """Resources of one evaluation array task (it plays a batch of game groups)."""

    time: Str = _time_field("01:00:00")
    cpus: Int = _cpus_field(4)
    array_parallelism: Int = _parallelism_field(32)


class ControllerJob(SlurmJob):
    """Resources of the controller run as a Slurm job itself (`sbatch render --purpose controller`).

    Only the rendered controller script uses them; the controller does not submit itself.
    """

    partition: Str | None = Field(
        default=None,
        description="Partition (`--partition`), usually a long-running service partition; "
        "null uses the cluster's default.",
    )
    time: Str = Field(
        default="7-00:00:00",
        description="Walltime limit (`--time`) in Slurm format; a bare integer means minutes. Stored as "
        "`HH:MM:SS` or `D-HH:MM:SS`. 90 s before it runs out the job requeues itself.",
    )
    cpus: Int = _cpus_field(2)


class SlurmSection(Section):
    """How jobs are submitted when the executor is Slurm."""

    setup: tuple[Str, ...] = Field(
        default=(),
        description="Shell lines run at the start of every job, e.g. activating the virtual environment "
        "(`source /shared/venvs/ringrift/bin/activate`).",
    )
    max_array_size: Int | None = Field(
        default=None,
        ge=1,
        description="Largest job array to submit; bigger batches are split. Null reads `MaxArraySize` "
        "from the cluster.",
    )
    selfplay: SelfplayJob = Field(default=SelfplayJob(), description="Selfplay array tasks.")
    train: TrainJob = Field(default=TrainJob(), description="Training jobs.")
    evaluate: EvaluateJob = Field(default=EvaluateJob(), description="Evaluation array tasks.")
    controller: ControllerJob = Field(
        default=ControllerJob(), description="The controller as a Slurm job (plain sbatch sites)."
    )

    def job(self, kind: JobKind) -> SlurmJob:
        """Resources for one job kind."""
        return {"selfplay": self.selfplay, "train": self.train, "evaluate": self.evaluate}[kind]
