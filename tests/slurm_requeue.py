"""Slurm job queries for the tests that requeue a job, and a nudge that starts a requeued job now
instead of after the minute or two that Slurm holds it back (its BeginTime)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

# slurmd refuses to launch a job whose credential dates from the same second as the kill of its
# last run, or an earlier one ("already killed, do not launch"), and slurmctld then ends the job
# for good instead of requeueing it. Slurm's own hold exists for this; the nudge keeps a margin.
AFTER_KILL_S = 2.0
EVERY_S = 5.0
POLL_S = 1.0


def squeue_state(job: str) -> str:
    """The job's state as squeue shows it ("PENDING", "RUNNING", ...); "" once squeue has no job."""
    shown = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, check=False, timeout=30
    )
    return shown.stdout.strip()


def start_requeued_now(job: str) -> Callable[[], None]:
    """A nudge to call while waiting for `job` to run again; make it once the requeue command has
    returned (the kill is then sent). From AFTER_KILL_S on, it sets the start time to now whenever
    the job is pending, at most every EVERY_S: Slurm may finish the requeue after an update and
    hold the job back again. It asks squeue at most every POLL_S, however often it is called."""
    due = time.monotonic() + AFTER_KILL_S

    def nudge() -> None:
        nonlocal due
        now = time.monotonic()
        if now < due:
            return
        if squeue_state(job) == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=False, timeout=30)
            due = now + EVERY_S
        else:
            due = now + POLL_S

    return nudge
