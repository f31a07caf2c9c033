"""What a job learns from its environment: Slurm ids, host, and the CPUs it may use."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

_SLURM_IDS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_PARTITION",
    "SLURM_CLUSTER_NAME",
)


def job_facts(environ: Mapping[str, str]) -> dict[str, Any]:
    """Slurm ids (None outside Slurm) and the host, for a manifest."""
    facts: dict[str, Any] = {name.lower(): environ.get(name) for name in _SLURM_IDS}
    facts["host"] = socket.gethostname()
    facts["pid"] = os.getpid()
    return facts


def available_cpus(environ: Mapping[str, str]) -> int:
    """CPUs this process may use: SLURM_CPUS_PER_TASK inside Slurm, else OMP_NUM_THREADS (how the
    local executor and P2P agents share a machine among jobs), else the affinity mask
    (`os.cpu_count()` counts the whole node, which oversubscribes a shared node)."""
    for name in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        given = environ.get(name, "").strip()
        if given.isdigit() and int(given) > 0:
            return int(given)
    return max(1, len(os.sched_getaffinity(0)))
