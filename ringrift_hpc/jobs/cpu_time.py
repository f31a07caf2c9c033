"""The CPU time a job spends: user plus system time of its process and of its reaped children.

A job measures from its own start (`CpuClock.start`) rather than taking the process's totals:
the same job function also runs in-process (the local tournament, tests), where the process's
totals would include everything else it did. Threads count in their process's time; a child
counts only once it has been waited for, so a job joins its children before it reads the clock.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass


def process_cpu_seconds() -> float:
    """User plus system CPU seconds of this process and its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds since `start`."""

    began: float

    @classmethod
    def start(cls) -> CpuClock:
        return cls(process_cpu_seconds())

    def seconds(self) -> float:
        """CPU seconds since the start, rounded to milliseconds (what manifests record)."""
        return round(max(process_cpu_seconds() - self.began, 0.0), 3)
