"""What a run's jobs cost, by purpose, from one ``sacct`` call.

The run's jobs are selected by their names (``<run.name>-<purpose>``, see ``purposes.job_name``;
earlier versions ran tournaments as ``<run.name>-evaluate``, so those count as evaluations) and a
start time. Per purpose: how many jobs (array tasks count one each) are in each state, the
CPU-hours and GPU-hours allocated (AllocCPUS and AllocTRES ``gres/gpu`` times elapsed), the
elapsed time, and the queue wait (Start - Submit) of the jobs that started.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ringrift_hpc.cluster.purposes import PURPOSES, job_name
from ringrift_hpc.cluster.slurm_parse import (
    SACCT_FIELDS,
    SlurmOutputError,
    index_by_task,
    parse_sacct,
)
from ringrift_hpc.cluster.slurm_query import (
    DEFAULT_TIMEOUT_S,
    SlurmCommandError,
    run_command,
)

EXTRA_FIELDS = ("JobName", "AllocCPUS", "AllocTRES", "Submit", "Start")
ACCOUNTING_FIELDS = SACCT_FIELDS + EXTRA_FIELDS
_NO_TIME = ("Unknown", "None", "")


@dataclass(frozen=True)
class Usage:
    """One job (or one array task) as accounting saw it."""

    key: str  # "7" or "12_3"
    name: str
    state: str
    elapsed_s: int
    cpus: int
    gpus: int
    submit: dt.datetime | None
    start: dt.datetime | None

    @property
    def queue_wait_s(self) -> float | None:
        if self.submit is None or self.start is None:
            return None
        return (self.start - self.submit).total_seconds()


@dataclass(frozen=True)
class PurposeSummary:
    """Totals of the jobs of one purpose."""

    purpose: str
    jobs: int
    states: Mapping[str, int] = field(default_factory=dict)
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    elapsed_s: int = 0
    queue_wait_mean_s: float | None = None
    queue_wait_max_s: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "purpose": self.purpose,
            "jobs": self.jobs,
            "states": dict(sorted(self.states.items())),
            "cpu_hours": round(self.cpu_hours, 4),
            "gpu_hours": round(self.gpu_hours, 4),
            "elapsed_s": self.elapsed_s,
            "queue_wait_mean_s": self.queue_wait_mean_s,
            "queue_wait_max_s": self.queue_wait_max_s,
        }


def gpus_in_tres(tres: str) -> int:
    """GPUs in a TRES list ("cpu=2,gres/gpu=2,mem=2G"); typed entries ("gres/gpu:a100=2")
    repeat the plain one when it is present, so they count only when it is not."""
    plain = 0
    typed = 0
    for item in filter(None, tres.split(",")):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            plain += int(value)
        elif key.startswith("gres/gpu:"):
            typed += int(value)
    return plain or typed


def _time(text: str, what: str) -> dt.datetime | None:
    if text in _NO_TIME:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise SlurmOutputError(f"sacct {what} {text!r} is not a time like 2026-01-31T12:00:00") from None


def parse_accounting(text: str) -> tuple[Usage, ...]:
    """Jobs of ``sacct --allocations --parsable2 --format=<ACCOUNTING_FIELDS>``, one per task.

    A pending array row (``12_[4-9]``) stands for each of its tasks that has no row of its own.
    """
    records = parse_sacct(text)
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split("|")
    missing = [name for name in EXTRA_FIELDS if name not in header]
    if missing:
        raise SlurmOutputError(f"sacct header {lines[0]!r} lacks {', '.join(missing)}")
    extras: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split("|"), strict=True))
        if "." not in row["JobID"]:
            extras[row["JobID"]] = row
    usages = []
    for key, record in sorted(index_by_task(records).items()):
        row = extras[record.job_id]
        try:
            cpus = int(row["AllocCPUS"])
        except ValueError:
            raise SlurmOutputError(f"sacct row {record.job_id}: AllocCPUS {row['AllocCPUS']!r}") from None
        usages.append(
            Usage(
                key=key,
                name=row["JobName"],
                state=record.state,
                elapsed_s=record.elapsed_s,
                cpus=cpus,
                gpus=gpus_in_tres(row["AllocTRES"]),
                submit=_time(row["Submit"], "Submit"),
                start=_time(row["Start"], "Start"),
            )
        )
    return tuple(usages)


def summarize(usages: Sequence[Usage], run_name: str) -> tuple[PurposeSummary, ...]:
    """Totals per purpose, in the order of ``PURPOSES``; purposes without jobs are left out."""
    summaries = []
    for purpose in PURPOSES:
        mine = [usage for usage in usages if usage.name == job_name(run_name, purpose)]
        if not mine:
            continue
        states: dict[str, int] = {}
        for usage in mine:
            states[usage.state] = states.get(usage.state, 0) + 1
        waits = [wait for usage in mine if (wait := usage.queue_wait_s) is not None]
        summaries.append(
            PurposeSummary(
                purpose=purpose,
                jobs=len(mine),
                states=states,
                cpu_hours=sum(usage.cpus * usage.elapsed_s for usage in mine) / 3600,
                gpu_hours=sum(usage.gpus * usage.elapsed_s for usage in mine) / 3600,
                elapsed_s=sum(usage.elapsed_s for usage in mine),
                queue_wait_mean_s=sum(waits) / len(waits) if waits else None,
                queue_wait_max_s=max(waits) if waits else None,
            )
        )
    return tuple(summaries)


def sacct_command(run_name: str, since: dt.datetime) -> tuple[str, ...]:
    """The one sacct call that lists a run's jobs since ``since``."""
    names = ",".join(job_name(run_name, purpose) for purpose in PURPOSES)
    return (
        "sacct",
        "--allocations",
        "--parsable2",
        f"--format={','.join(ACCOUNTING_FIELDS)}",
        f"--name={names}",
        f"--starttime={since.strftime('%Y-%m-%dT%H:%M:%S')}",
    )


def query_accounting(
    run_name: str, since: dt.datetime, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[PurposeSummary, ...]:
    """Ask sacct once and summarize the run's jobs by purpose."""
    result = run_command(sacct_command(run_name, since), timeout_s=timeout_s)
    if not result.ok:
        raise SlurmCommandError(f"{' '.join(result.argv)} failed: {result.summary}")
    return summarize(parse_accounting(result.stdout), run_name)


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.2f}h" if seconds >= 3600 else f"{seconds:.0f}s"


def format_accounting(summaries: Sequence[PurposeSummary]) -> str:
    """A plain table, one line per purpose and a total line."""
    header = ("purpose", "jobs", "states", "cpu-h", "gpu-h", "elapsed", "wait mean", "wait max")
    rows = [
        (
            s.purpose,
            str(s.jobs),
            " ".join(f"{state}={count}" for state, count in sorted(s.states.items())),
            f"{s.cpu_hours:.3f}",
            f"{s.gpu_hours:.3f}",
            _hours(s.elapsed_s),
            _hours(s.queue_wait_mean_s),
            _hours(s.queue_wait_max_s),
        )
        for s in summaries
    ]
    rows.append(
        (
            "total",
            str(sum(s.jobs for s in summaries)),
            "",
            f"{sum(s.cpu_hours for s in summaries):.3f}",
            f"{sum(s.gpu_hours for s in summaries):.3f}",
            _hours(sum(s.elapsed_s for s in summaries)),
            "",
            "",
        )
    )
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (header, *rows)
    )
    return "\n".join(line.rstrip() for line in lines)
