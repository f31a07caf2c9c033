"""When a job must stop starting work: the run's HALT file, or the Slurm walltime drawing near.

The job's end time is asked from Slurm once at start (`squeue -h -j $SLURM_JOB_ID -o %e`, which
follows a limit changed with `scontrol update`); if squeue does not answer, the
`SLURM_JOB_END_TIME` variable Slurm puts in the job's environment is used. Outside Slurm
there is no deadline.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_SQUEUE_TIMEOUT_S = 20
# What squeue prints for a job without a known end (no limit, still pending).
_NO_END = frozenset({"", "N/A", "NONE", "UNKNOWN", "UNLIMITED", "INVALID"})

HALT = "halt"
WALLTIME = "walltime"


def parse_end_time(text: str) -> float | None:
    """squeue's `%e` field (`2026-11-29T05:30:00`, local time) as a Unix time; None when unknown."""
    value = text.strip()
    if value.upper() in _NO_END:
        return None
    try:
        # A naive datetime is local time, which is what squeue prints.
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S").timestamp()
    except ValueError:
        raise ValueError(
            f"squeue printed end time {value!r}, expected YYYY-MM-DDTHH:MM:SS; "
            "set SLURM_TIME_FORMAT=standard (or unset it) in the job's environment"
        ) from None


Runner = Callable[[list[str]], str]


def _squeue(argv: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SLURM_TIME_FORMAT"}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=_SQUEUE_TIMEOUT_S, check=True, env=env
    )
    return done.stdout


def slurm_end_time(environ: Mapping[str, str], *, runner: Runner = _squeue) -> float | None:
    """The Unix time at which Slurm ends this job; None outside Slurm or without a limit."""
    job = environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        lines = runner(["squeue", "-h", "-j", job, "-o", "%e"]).strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        lines = []
    if lines:
        return parse_end_time(lines[0])
    fallback = environ.get("SLURM_JOB_END_TIME", "").strip()
    return float(fallback) if fallback.isdigit() and int(fallback) > 0 else None


@dataclass(frozen=True)
class StopRule:
    """Stop when `halt` exists or once `deadline` (Unix time; None: never) is reached."""

    halt: Path
    deadline: float | None

    @classmethod
    def for_job(
        cls, halt: Path, margin_s: float, environ: Mapping[str, str], *, runner: Runner = _squeue
    ) -> StopRule:
        """The rule of a job: its walltime end minus `margin_s`."""
        end = slurm_end_time(environ, runner=runner)
        return cls(halt, None if end is None else end - margin_s)

    def reason(self, now: float) -> str | None:
        """`HALT`, `WALLTIME` or None (keep going)."""
        if self.halt.exists():
            return HALT
        if self.deadline is not None and now >= self.deadline:
            return WALLTIME
        return None


class StopCheck:
    """`StopRule.reason` at most once per `every_s` seconds (a stat on NFS is not free); once a
    reason is seen it sticks."""

    def __init__(
        self, rule: StopRule, *, every_s: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.rule = rule
        self.every_s = every_s
        self.clock = clock
        self._next = float("-inf")
        self.stopped: str | None = None

    def __call__(self) -> str | None:
        if self.stopped is None:
            now = self.clock()
            if now >= self._next:
                self._next = now + self.every_s
                self.stopped = self.rule.reason(now)
        return self.stopped
