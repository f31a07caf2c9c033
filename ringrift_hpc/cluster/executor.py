"""The one interface every executor offers, and the plain data it hands out.

An executor runs jobs of a purpose (``cluster.purposes``) on their spec: the job callable of a
purpose comes from a ``JobResolver`` the executor is built with (``jobs.registry.job_callable``),
so this layer knows nothing about what a job does. ``JobRef`` is what the controller journals:
plain data that any later executor object of the same run accepts, so a restarted controller
re-attaches to jobs that are still queued or running. ``poll`` asks the scheduler once per call,
whatever the number of refs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ringrift_hpc.cluster.purposes import Purpose, check_purpose

# The job callable of a purpose: called with the job's spec, where the job runs.
JobResolver = Callable[[Purpose], Callable[[Any], Any]]


class JobStatus(str, enum.Enum):
    """Where a job is in its life; the last five never change again."""

    PENDING = "pending"
    RUNNING = "running"
    UNKNOWN = "unknown"  # the scheduler does not know the job (any more, or not yet)
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    LOST = "lost"  # ended through no fault of its own: its node failed or it was preempted

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMEOUT, JobStatus.LOST}
)


class JobError(RuntimeError):
    """A job's result was asked for but the job did not complete successfully."""


class SubmissionError(RuntimeError):
    """The executor could not submit a job (bad arguments, or the scheduler refused)."""


class SchedulerUnavailableError(RuntimeError):
    """The scheduler could not be asked about the jobs this time; their states are unchanged."""


@dataclass(frozen=True)
class JobRef:
    """One job, or one task of an array, as plain data that survives a controller restart.

    ``job_id`` is the scheduler's id ("4711"); for array tasks it is the array's id and
    ``task`` the task index within that array.
    """

    purpose: Purpose
    job_id: str
    task: int | None = None

    def __post_init__(self) -> None:
        check_purpose(self.purpose)
        if not self.job_id.isdigit():
            raise ValueError(f"job id {self.job_id!r} is not a number like '4711'")
        if self.task is not None and self.task < 0:
            raise ValueError(f"array task index {self.task} is negative")

    @property
    def key(self) -> str:
        """The scheduler's name of this job or task: "4711" or "4711_3"."""
        return self.job_id if self.task is None else f"{self.job_id}_{self.task}"

    def to_json(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "job_id": self.job_id, "task": self.task}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRef:
        """The inverse of ``to_json``; raises ValueError or TypeError naming the bad field.

        Refs journaled by earlier versions name a ``kind`` (selfplay, train or evaluate)
        instead of a purpose; each of those words is the purpose of the same jobs.
        """
        label = "purpose" if "purpose" in data or "kind" not in data else "kind"
        missing = [field for field in (label, "job_id", "task") if field not in data]
        if missing:
            raise ValueError(f"job ref {dict(data)!r} lacks {', '.join(missing)}")
        task = data["task"]
        if task is not None and (not isinstance(task, int) or isinstance(task, bool)):
            raise TypeError(f"job ref {dict(data)!r}: task must be an integer or null")
        if not isinstance(data["job_id"], str):
            raise TypeError(f"job ref {dict(data)!r}: job_id must be a string")
        purpose = check_purpose(data[label], what=f"job ref {dict(data)!r}: {label}")
        return cls(purpose=purpose, job_id=data["job_id"], task=task)


@dataclass(frozen=True)
class JobState:
    """What the scheduler last said about one job."""

    status: JobStatus
    exit_code: int | None = None
    elapsed_s: int = 0
    node: str = ""
    detail: str = ""  # the scheduler's own words ("OUT_OF_MEMORY", "CANCELLED by 0") or why

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.COMPLETED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "exit_code": self.exit_code,
            "elapsed_s": self.elapsed_s,
            "node": self.node,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobState:
        """The inverse of ``to_json``; raises ValueError naming the bad field."""
        try:
            status = JobStatus(data["status"])
        except (KeyError, ValueError):
            raise ValueError(
                f"job state {dict(data)!r}: status must be one of {', '.join(s.value for s in JobStatus)}"
            ) from None
        return cls(
            status,
            data.get("exit_code"),
            int(data.get("elapsed_s", 0)),
            str(data.get("node", "")),
            str(data.get("detail", "")),
        )


class Executor(Protocol):
    """Runs jobs of a purpose on their specs; every method takes and returns plain ``JobRef`` data."""

    @property
    def scheduler_queries(self) -> int:
        """Batched state queries made so far (``sacct`` calls for Slurm, folder scans locally)."""
        ...

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        """Submit one job of ``purpose`` on ``spec``."""
        ...

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        """Submit one job of ``purpose`` per spec as array tasks, refs in the order of ``specs``."""
        ...

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        """The state of every ref, from at most one scheduler query; raises
        ``SchedulerUnavailableError`` when the scheduler does not answer."""
        ...

    def cancel(self, refs: Iterable[JobRef]) -> None:
        """Cancel queued or running jobs; finished ones are left as they are."""
        ...

    def cancel_all(self) -> None:
        """Cancel every queued or running job of the run, journaled or not (``halt --cancel``)."""
        ...

    def error_text(self, ref: JobRef) -> str:
        """Why a job failed: the remote traceback, else the tail of its stderr; "" if nothing."""
        ...

    def result(self, ref: JobRef) -> Any:
        """The return value of a completed job; ``JobError`` with the error text otherwise."""
        ...


def check_specs(specs: Sequence[Any]) -> list[Any]:
    """The specs of an array as a list; an empty array is refused."""
    if isinstance(specs, (str, bytes)) or not specs:
        raise SubmissionError(f"an array needs a list of at least one spec; got {specs!r}")
    return list(specs)


def tail_text(text: str, *, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text``: enough of a log to see why a job died."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
