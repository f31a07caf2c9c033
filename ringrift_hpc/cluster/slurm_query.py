"""Questions put to Slurm's commands, each one subprocess call with a timeout.

Preflight checks return a ``CheckResult`` instead of raising, so that a caller can print one
line per check. Queries the loop depends on raise ``SlurmCommandError`` when Slurm does not
answer. The text is parsed in ``slurm_parse``.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ringrift_hpc.cluster.slurm_parse import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    JobRecord,
    Partition,
    SlurmOutputError,
    max_array_size,
    parse_config,
    parse_partitions,
    parse_sacct,
    parse_squeue,
)

DEFAULT_TIMEOUT_S = 30.0

_JOB_ID = re.compile(r"\d+(_\d+)?")


class SlurmCommandError(RuntimeError):
    """A Slurm command that could not run, timed out or exited non-zero."""


@dataclass(frozen=True)
class CommandResult:
    """What one command did; ``returncode`` is None when it never ran or timed out."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    error: str  # why it did not finish ("not found on PATH", "timed out after 30s"), else ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def summary(self) -> str:
        """One line saying what went wrong, for messages."""
        if self.error:
            return self.error
        lines = [line for line in (self.stderr + "\n" + self.stdout).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        return f"exit {self.returncode}: {last}"


@dataclass(frozen=True)
class CheckResult:
    """One preflight line: what was checked, whether it passed, and the evidence or the fix."""

    name: str
    ok: bool
    detail: str


def run_command(argv: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CommandResult:
    """Run ``argv`` without a shell and capture its text output."""
    command = tuple(argv)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return CommandResult(command, None, "", "", f"{command[0]}: not found on PATH")
    except subprocess.TimeoutExpired:
        return CommandResult(command, None, "", "", f"{command[0]}: timed out after {timeout_s:g}s")
    return CommandResult(command, done.returncode, done.stdout, done.stderr, "")


def _checked(argv: Sequence[str], timeout_s: float) -> str:
    result = run_command(argv, timeout_s=timeout_s)
    if not result.ok:
        raise SlurmCommandError(f"{' '.join(result.argv)} failed: {result.summary}")
    return result.stdout


def read_config(*, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, str]:
    """The controller's running configuration (``scontrol show config``)."""
    return parse_config(_checked(("scontrol", "show", "config"), timeout_s))


def list_partitions(*, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Partition, ...]:
    return parse_partitions(_checked(("scontrol", "show", "partition", "--oneliner"), timeout_s))


def query_jobs(job_ids: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[JobRecord, ...]:
    """Accounting rows of many jobs with one ``sacct`` call.

    ``job_ids`` are plain or array job ids ("7", "12") or single array tasks ("12_3"); an
    array id brings back all its tasks. A job sacct does not know yet (the database lags the
    controller by a second or two) is simply absent. Pair with ``index_by_task``.
    """
    if not job_ids:
        return ()
    bad = [job_id for job_id in job_ids if not _JOB_ID.fullmatch(job_id)]
    if bad:
        raise ValueError(f"job ids {bad} are not Slurm job ids like '7' or '12_3'")
    argv = (
        "sacct",
        "--allocations",
        "--parsable2",
        f"--format={','.join(SACCT_FIELDS)}",
        f"--jobs={','.join(job_ids)}",
    )
    return parse_sacct(_checked(argv, timeout_s))


def query_queue(user: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[JobRecord, ...]:
    """The live jobs of ``user``, one row per array task, from ``squeue`` (the controller's
    memory, not the accounting database): what is left when ``sacct`` cannot answer.

    All of the user's jobs rather than ``--jobs``: squeue refuses a list of only finished ids.
    """
    argv = ("squeue", "--noheader", "--array", f"--user={user}", f"--format={SQUEUE_FORMAT}")
    return parse_squeue(_checked(argv, timeout_s))


def check_command(name: str, argv: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Passes when ``argv`` runs and exits 0; the detail is its first output line or the failure."""
    result = run_command(argv, timeout_s=timeout_s)
    if not result.ok:
        return CheckResult(name, False, result.summary)
    lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
    return CheckResult(name, True, lines[0] if lines else "answers")


def check_commands(
    *, partition: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[CheckResult, ...]:
    """sinfo, squeue, sacct and ``sbatch --test-only`` are on PATH and answer.

    sinfo and squeue answer through the controller, sacct through the accounting database.
    ``sbatch --test-only`` asks the scheduler where a one-CPU job would run without
    submitting it, in ``partition`` when given.
    """
    sbatch = ["sbatch", "--test-only", "--ntasks=1", "--wrap=true"]
    if partition is not None:
        sbatch.append(f"--partition={partition}")
    return (
        check_command("sinfo", ("sinfo", "--noheader", "--format=%P"), timeout_s=timeout_s),
        check_command("squeue", ("squeue", "--noheader", "--format=%i"), timeout_s=timeout_s),
        check_command(
            "sacct",
            ("sacct", "--noheader", "--allocations", "--starttime=now", "--format=JobID"),
            timeout_s=timeout_s,
        ),
        check_command("sbatch --test-only", sbatch, timeout_s=timeout_s),
    )


def check_partitions(required: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Every partition in ``required`` exists and is UP."""
    name = "partitions"
    try:
        partitions = {partition.name: partition for partition in list_partitions(timeout_s=timeout_s)}
    except (SlurmCommandError, SlurmOutputError) as error:
        return CheckResult(name, False, str(error))
    available = ", ".join(sorted(partitions)) or "none"
    missing = [wanted for wanted in required if wanted not in partitions]
    if missing:
        return CheckResult(
            name, False, f"no partition {', '.join(missing)} on this cluster (it has: {available})"
        )
    down = [
        f"{wanted} is {partitions[wanted].state}" for wanted in required if partitions[wanted].state != "UP"
    ]
    if down:
        return CheckResult(name, False, "; ".join(down))
    return CheckResult(name, True, f"{', '.join(required) or 'none required'} up (cluster has: {available})")


def check_max_array_size(*, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """MaxArraySize can be read: array submissions are chunked below it."""
    name = "MaxArraySize"
    try:
        size = max_array_size(read_config(timeout_s=timeout_s))
    except (SlurmCommandError, SlurmOutputError) as error:
        return CheckResult(name, False, str(error))
    return CheckResult(name, True, f"MaxArraySize = {size} (array task ids 0..{size - 1})")


def check_accounting(*, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Job accounting answers; without it, squeue must, because the loop then follows jobs
    through squeue and the result files their processes write."""
    name = "accounting"
    try:
        storage = read_config(timeout_s=timeout_s).get("AccountingStorageType", "(not set)")
    except (SlurmCommandError, SlurmOutputError) as error:
        return CheckResult(name, False, str(error))
    if storage in ("accounting_storage/none", "(not set)"):
        problem = f"AccountingStorageType is {storage}"
    else:
        try:
            query_jobs(("1",), timeout_s=timeout_s)
        except (SlurmCommandError, SlurmOutputError) as error:
            problem = f"{storage} configured, but {error}"
        else:
            return CheckResult(name, True, f"{storage} answers")
    try:
        query_queue(getpass.getuser(), timeout_s=timeout_s)
    except (SlurmCommandError, SlurmOutputError) as error:
        return CheckResult(
            name,
            False,
            f"{problem}, and squeue does not answer either ({error}); job states need one of them: "
            "configure slurmdbd (AccountingStorageType=accounting_storage/slurmdbd) or fix squeue",
        )
    return CheckResult(
        name,
        True,
        f"{problem}; jobs are followed through squeue and their result files (exit codes and "
        "node failures of ended jobs are not known; a job gone without a result is rerun)",
    )
