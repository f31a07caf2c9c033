"""Starting a requeued Slurm job now, for the tests that requeue one, instead of after the
minute or two that Slurm holds a requeued job back (its BeginTime)."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable

# slurmd refuses to launch a job whose credential dates from the same second as the kill of its
# last run, or an earlier one ("already killed, do not launch"), and slurmctld then ends the job
# for good instead of requeueing it. Slurm's own hold exists for this; the nudge keeps a margin.
AFTER_KILL_S = 2.0
EVERY_S = 5.0


def _pending(job: str) -> bool:
    state = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, check=False, timeout=30
    )
    return state.stdout.strip() == "PENDING"


def start_requeued_now(job: str) -> Callable[[], None]:
    """A nudge to call while waiting for requeued `job` to run again. Once the job has been
    pending for AFTER_KILL_S it sets the start time to now, again every EVERY_S while it is still
    pending: Slurm may finish the requeue after an update and hold the job back again."""
    pending_since = math.inf
    last = -math.inf

    def nudge() -> None:
        nonlocal pending_since, last
        now = time.monotonic()
        if not _pending(job):
            return
        pending_since = min(pending_since, now)
        if now - pending_since >= AFTER_KILL_S and now - last >= EVERY_S:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=False, timeout=30)
            last = now

    return nudge
