"""Parsers for the text Slurm's commands print (as Slurm 22.05 prints it); no I/O.

The recorded outputs these parsers are tested against live in ``tests/cluster/recorded/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Columns asked of ``sacct --parsable2``; the parser reads them by header name.
SACCT_FIELDS = ("JobID", "JobIDRaw", "State", "ExitCode", "Elapsed", "Partition", "NodeList")

# Columns asked of ``squeue --noheader --array``: job id, state, time used, partition, nodes.
SQUEUE_FORMAT = "%i|%T|%M|%P|%N"

# States after which a job never runs again (sacct's names, without the "by UID" suffix).
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)

_PLAIN_JOB_ID = re.compile(r"\d+(\+\d+)?")  # "7", or a heterogeneous component "7+1"
_ARRAY_TASK_ID = re.compile(r"(\d+)_(\d+)")  # "12_3"
_ARRAY_RANGE_ID = re.compile(r"(\d+)_\[([^\]]+)\]")  # "12_[4-9%2]": tasks not yet started
_CONFIG_LINE = re.compile(r"([A-Za-z][\w/.-]*)\s*=\s?(.*)")


class SlurmOutputError(ValueError):
    """Text from a Slurm command that does not have the expected shape."""


@dataclass(frozen=True)
class JobRecord:
    """One allocation row of ``sacct --allocations --parsable2``.

    A pending job array is one row for all its unstarted tasks (``12_[4-9%2]``); each task
    that started has its own row (``12_3``).
    """

    job_id: str  # as sacct prints it: "7", "12_3", "12_[4-9%2]"
    raw_job_id: str  # Slurm's internal id of the row (JobIDRaw)
    array_job_id: str | None  # "12" for rows of an array, None for plain jobs
    array_tasks: tuple[int, ...]  # task ids the row stands for; () for plain jobs
    state: str  # first word of sacct's State: "CANCELLED by 0" -> "CANCELLED"
    exit_code: int
    signal: int
    elapsed_s: int
    partition: str
    node_list: str

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def task_keys(self) -> tuple[str, ...]:
        """Ids of the single jobs this row covers: ("7",) or ("12_4", "12_5", ...)."""
        if self.array_job_id is None:
            return (self.job_id,)
        return tuple(f"{self.array_job_id}_{task}" for task in self.array_tasks)


@dataclass(frozen=True)
class Partition:
    """One partition from ``scontrol show partition --oneliner``."""

    name: str
    is_default: bool
    state: str  # "UP", "DOWN", "DRAIN", "INACTIVE"
    max_time: str  # Slurm's text: "UNLIMITED", "1-00:00:00"
    nodes: str  # node list expression: "vm", "gpu[01-08]"
    total_cpus: int
    total_nodes: int


def parse_array_spec(spec: str) -> tuple[int, ...]:
    """Task ids of an array spec as sacct and squeue print it: "1,3,5-9:2%4" -> (1, 3, 5, 7, 9)."""
    body = spec.split("%", 1)[0]  # "%4" throttles; it does not select tasks
    tasks: set[int] = set()
    for item in body.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", item.strip())
        if match is None:
            raise SlurmOutputError(f"array task spec {spec!r}: cannot read item {item!r}")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        step = int(match[3]) if match[3] is not None else 1
        if last < first or step < 1:
            raise SlurmOutputError(f"array task spec {spec!r}: empty range {item!r}")
        tasks.update(range(first, last + 1, step))
    return tuple(sorted(tasks))


def parse_elapsed(text: str) -> int:
    """Seconds in a Slurm duration: "[D-][HH:]MM:SS[.mmm]", e.g. "1-02:03:04" -> 93784."""
    days = 0
    rest = text.strip()
    if "-" in rest:
        day_text, rest = rest.split("-", 1)
        if not day_text.isdigit():
            raise SlurmOutputError(f"duration {text!r}: days {day_text!r} is not a number")
        days = int(day_text)
    parts = rest.split(":")
    if not 2 <= len(parts) <= 3 or not all(re.fullmatch(r"\d+(\.\d+)?", p) for p in parts):
        raise SlurmOutputError(f"duration {text!r} is not [D-][HH:]MM:SS")
    hours, minutes, seconds = ([0.0] * (3 - len(parts))) + [float(p) for p in parts]
    return int(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def parse_exit_code(text: str) -> tuple[int, int]:
    """sacct's "EXIT:SIGNAL" ("3:0", "0:15") as (exit code, signal)."""
    match = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if match is None:
        raise SlurmOutputError(f"exit code {text!r} is not EXIT:SIGNAL")
    return int(match[1]), int(match[2])


def _job_identity(job_id: str) -> tuple[str | None, tuple[int, ...]]:
    if _PLAIN_JOB_ID.fullmatch(job_id):
        return None, ()
    if match := _ARRAY_TASK_ID.fullmatch(job_id):
        return match[1], (int(match[2]),)
    if match := _ARRAY_RANGE_ID.fullmatch(job_id):
        return match[1], parse_array_spec(match[2])
    raise SlurmOutputError(f"sacct JobID {job_id!r} is neither JOB, JOB_TASK nor JOB_[TASKS]")


def parse_sacct(text: str) -> tuple[JobRecord, ...]:
    """Rows of ``sacct --parsable2 --format=<SACCT_FIELDS>`` (with its header line).

    Step rows (``7.batch``, ``12_3.0``) are skipped: the allocation row carries the job's
    state. Columns are found by header name, so extra columns are harmless.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SlurmOutputError("sacct printed nothing, not even its header line")
    header = lines[0].split("|")
    missing = [field for field in SACCT_FIELDS if field not in header]
    if missing:
        raise SlurmOutputError(
            f"sacct header {lines[0]!r} lacks {', '.join(missing)}; run it with --parsable2 "
            f"--format={','.join(SACCT_FIELDS)} and without --noheader"
        )
    column = {name: header.index(name) for name in SACCT_FIELDS}
    records = []
    for line in lines[1:]:
        cells = line.split("|")
        if len(cells) != len(header):
            raise SlurmOutputError(f"sacct row {line!r} has {len(cells)} cells, header has {len(header)}")
        job_id = cells[column["JobID"]]
        if "." in job_id:
            continue
        array_job_id, array_tasks = _job_identity(job_id)
        exit_code, signal = parse_exit_code(cells[column["ExitCode"]])
        state_words = cells[column["State"]].split()
        if not state_words:
            raise SlurmOutputError(f"sacct row {line!r} has an empty State")
        records.append(
            JobRecord(
                job_id=job_id,
                raw_job_id=cells[column["JobIDRaw"]],
                array_job_id=array_job_id,
                array_tasks=array_tasks,
                state=state_words[0],
                exit_code=exit_code,
                signal=signal,
                elapsed_s=parse_elapsed(cells[column["Elapsed"]]),
                partition=cells[column["Partition"]],
                node_list=cells[column["NodeList"]],
            )
        )
    return tuple(records)


def parse_squeue(text: str) -> tuple[JobRecord, ...]:
    """Rows of ``squeue --noheader --array --format=<SQUEUE_FORMAT>`` as accounting-like records.

    squeue knows only live jobs (and, briefly, ones that just ended); it has no exit code, so a
    row's is 0: a job's outcome is read from its own files.
    """
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) != 5:
            raise SlurmOutputError(f"squeue row {line!r} has {len(cells)} cells, not 5 ({SQUEUE_FORMAT})")
        job_id, state, used, partition, nodes = (cell.strip() for cell in cells)
        if not state:
            raise SlurmOutputError(f"squeue row {line!r} has an empty state")
        array_job_id, array_tasks = _job_identity(job_id)
        records.append(
            JobRecord(
                job_id=job_id,
                raw_job_id=job_id,
                array_job_id=array_job_id,
                array_tasks=array_tasks,
                state=state,
                exit_code=0,
                signal=0,
                elapsed_s=parse_elapsed(used) if used not in ("", "INVALID") else 0,
                partition=partition,
                node_list=nodes,
            )
        )
    return tuple(records)


def index_by_task(records: Iterable[JobRecord]) -> dict[str, JobRecord]:
    """Map each single job id ("7", "12_3") to the row that describes it.

    The accounting database lags the controller, so a pending-range row can still list a task
    that already has its own row; the task's own row wins.
    """
    ordered = sorted(records, key=lambda record: "[" not in record.job_id)
    return {key: record for record in ordered for key in record.task_keys}


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as {key: value}; banner and section lines are ignored."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        match = _CONFIG_LINE.fullmatch(line.strip())
        if match is not None:
            config.setdefault(match[1], match[2].strip())
    return config


def max_array_size(config: Mapping[str, str]) -> int:
    """MaxArraySize from a parsed ``scontrol show config``: task ids must stay below it."""
    text = config.get("MaxArraySize")
    if text is None:
        raise SlurmOutputError("scontrol show config has no MaxArraySize line")
    if not text.isdigit():
        raise SlurmOutputError(f"scontrol show config: MaxArraySize = {text!r} is not a number")
    return int(text)


def parse_partitions(text: str) -> tuple[Partition, ...]:
    """Partitions from ``scontrol show partition --oneliner`` (one partition per line)."""
    partitions = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = dict(token.split("=", 1) for token in line.split() if "=" in token)
        try:
            partitions.append(
                Partition(
                    name=fields["PartitionName"],
                    is_default=fields["Default"] == "YES",
                    state=fields["State"],
                    max_time=fields["MaxTime"],
                    nodes=fields["Nodes"],
                    total_cpus=int(fields["TotalCPUs"]),
                    total_nodes=int(fields["TotalNodes"]),
                )
            )
        except (KeyError, ValueError) as error:
            raise SlurmOutputError(f"scontrol partition line {line!r}: cannot read {error}") from error
    return tuple(partitions)
