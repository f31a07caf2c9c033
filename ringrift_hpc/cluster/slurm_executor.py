"""Jobs on Slurm through submitit, with their state read by one ``sacct`` call per poll.

When ``sacct`` fails (no accounting database, or slurmdbd restarting) a poll falls back to one
``squeue`` call: live jobs from it, and a job that left the queue judged by its result file (a
job that died without one stays unknown until accounting answers again).

submitit writes the batch script, pickles the job callable and its spec into
``RUN/jobs/slurm/<kind>/`` (a folder every node must reach; one per resource kind, so a
tournament's files sit with the evaluations') and runs it on the node; jobs are named
``<run.name>-<purpose>``;
its own per-job state watcher is not used: ``poll`` asks ``slurm_query.query_jobs`` once for all
refs, and a job's folder tells the rest (its result, its traceback, its stderr). Arrays go out
with ``map_array``, split into chunks below the cluster's ``MaxArraySize`` and throttled with the
resource kind's ``array_parallelism``.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError, JobPaths

from ringrift_hpc.cluster.executor import (
    JobError,
    JobRef,
    JobResolver,
    JobState,
    JobStatus,
    SchedulerUnavailableError,
    SubmissionError,
    check_specs,
    tail_text,
)
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose, check_purpose, job_name, resource_kind
from ringrift_hpc.cluster.slurm_parse import JobRecord, index_by_task, max_array_size
from ringrift_hpc.cluster.slurm_query import (
    SlurmCommandError,
    query_jobs,
    query_queue,
    read_config,
    run_command,
)
from ringrift_hpc.config.slurm import SlurmJob, SlurmSection
from ringrift_hpc.store.atomic import atomic_write_json

# sacct answers a second or two after sbatch; until then a freshly submitted job is absent.
DEFAULT_ACCOUNTING_GRACE_S = 120.0

_STATUS_OF: dict[str, JobStatus] = {
    **dict.fromkeys(
        ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"), JobStatus.PENDING
    ),
    **dict.fromkeys(
        ("RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "RESIZING"),
        JobStatus.RUNNING,
    ),
    "COMPLETED": JobStatus.COMPLETED,
    "CANCELLED": JobStatus.CANCELLED,
    "TIMEOUT": JobStatus.TIMEOUT,
    **dict.fromkeys(("FAILED", "OUT_OF_MEMORY", "DEADLINE"), JobStatus.FAILED),
    # A preempted job not requeued by Slurm, or one whose node died: the job is not at fault.
    **dict.fromkeys(("NODE_FAIL", "BOOT_FAIL", "PREEMPTED"), JobStatus.LOST),
}

QueryJobs = Callable[[Sequence[str]], Sequence[JobRecord]]
QueryQueue = Callable[[str], Sequence[JobRecord]]


def call_with(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``fn(*args)``: what array tasks run. Queued tasks hold it pickled by name, so it stays."""
    return fn(*args)


def sbatch_option_items(args: Sequence[str]) -> dict[str, str | bool]:
    """Config ``extra_sbatch_args`` ("--mail-type=FAIL", "--exclusive") as submitit's
    ``additional_parameters`` ({"mail-type": "FAIL", "exclusive": True})."""
    items: dict[str, str | bool] = {}
    for arg in args:
        option, equals, value = arg[2:].partition("=")
        items[option] = value if equals else True
    return items


def submitit_parameters(run_name: str, purpose: Purpose, slurm: SlurmSection) -> dict[str, Any]:
    """``SlurmExecutor.update_parameters`` keywords for one job purpose of a run (pure)."""
    job: SlurmJob = slurm.job(resource_kind(purpose))
    params: dict[str, Any] = {
        "job_name": job_name(run_name, purpose),
        "time": job.time_minutes,
        "cpus_per_task": job.cpus,
        "setup": [*slurm.setup, *job.setup],
    }
    optional = {
        "partition": job.partition,
        "mem": job.mem,
        "account": job.account,
        "qos": job.qos,
        "constraint": job.constraint,
        "gpus_per_node": job.gpus or None,
        "array_parallelism": getattr(job, "array_parallelism", None),
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    if job.extra_sbatch_args:
        params["additional_parameters"] = sbatch_option_items(job.extra_sbatch_args)
    return params


def state_of_record(record: JobRecord) -> JobState:
    """The executor's view of one sacct row (pure)."""
    status = _STATUS_OF.get(record.state, JobStatus.UNKNOWN)
    node = "" if record.node_list == "None assigned" else record.node_list
    detail = "" if record.state == "COMPLETED" else record.state
    return JobState(status, record.exit_code if status.is_terminal else None, record.elapsed_s, node, detail)


def chunk_sizes(count: int, limit: int) -> list[int]:
    """Sizes of the arrays that carry ``count`` tasks when an array may hold at most ``limit``."""
    if limit < 1:
        raise ValueError(f"array size limit {limit} must be at least 1")
    return [min(limit, count - start) for start in range(0, count, limit)]


class SlurmExecutor:
    """The ``Executor`` interface over Slurm; jobs are named ``<run.name>-<purpose>``."""

    def __init__(
        self,
        folder: Path,
        *,
        run_name: str,
        slurm: SlurmSection,
        resolve: JobResolver,
        query: QueryJobs = query_jobs,
        queue: QueryQueue = query_queue,
        accounting_grace_s: float = DEFAULT_ACCOUNTING_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.run_name = run_name
        self.slurm = slurm
        self.accounting_grace_s = accounting_grace_s
        self._resolve = resolve
        self._query = query
        self._queue = queue
        self._queries = 0
        self._executors: dict[Purpose, submitit.SlurmExecutor] = {}
        self._max_array_size = slurm.max_array_size
        self._final: dict[JobRef, JobState] = {}
        self._clock = clock
        self._absent_since: dict[JobRef, float] = {}

    @property
    def scheduler_queries(self) -> int:
        return self._queries

    def _job_folder(self, purpose: Purpose) -> Path:
        # One flat folder per resource kind: Slurm does not create the folder of a log file, and
        # a per-job folder ("%j") would only be made after sbatch returned, racing the job's start.
        # Per kind, not purpose: refs journaled by earlier versions find their files there.
        return self.folder / resource_kind(purpose)

    def _paths(self, ref: JobRef) -> JobPaths:
        return JobPaths(self._job_folder(ref.purpose), job_id=ref.key, task_id=0)

    def _executor(self, purpose: Purpose) -> submitit.SlurmExecutor:
        if purpose not in self._executors:
            executor = submitit.SlurmExecutor(folder=self._job_folder(purpose))
            executor.update_parameters(**submitit_parameters(self.run_name, purpose, self.slurm))
            self._executors[purpose] = executor
        return self._executors[purpose]

    def array_size_limit(self) -> int:
        """Most tasks in one array: ``slurm.max_array_size``, else the cluster's ``MaxArraySize``."""
        if self._max_array_size is None:
            self._max_array_size = max_array_size(read_config())
        return self._max_array_size

    # --- submission ------------------------------------------------------------------------------

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        fn = self._resolve(check_purpose(purpose))
        try:
            job = self._executor(purpose).submit(fn, spec)
        except (FailedJobError, FailedSubmissionError, OSError) as error:
            raise SubmissionError(
                f"sbatch refused the {purpose} job of run {self.run_name}: {error}"
            ) from error
        return JobRef(purpose, job.job_id)

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        """Array tasks in order; a chunk of one task goes out as a plain job (ref without task)."""
        tasks = [(spec,) for spec in check_specs(specs)]
        fn = self._resolve(check_purpose(purpose))
        executor = self._executor(purpose)
        refs: list[JobRef] = []
        start = 0
        for size in chunk_sizes(len(tasks), self.array_size_limit()):
            chunk = tasks[start : start + size]
            start += size
            try:
                jobs = executor.map_array(call_with, [fn] * size, chunk)
            except (FailedJobError, FailedSubmissionError, OSError) as error:
                raise SubmissionError(
                    f"sbatch refused a {size}-task {purpose} array of run {self.run_name} "
                    f"({len(refs)} of {len(tasks)} tasks were submitted before it): {error}"
                ) from error
            for task, job in enumerate(jobs):
                array_id, _, index = job.job_id.partition("_")
                if not index:
                    refs.append(JobRef(purpose, array_id))  # submitit sends a one-task array as a plain job
                elif int(index) == task:
                    refs.append(JobRef(purpose, array_id, task))
                else:
                    raise SubmissionError(
                        f"submitit returned task {job.job_id} where {array_id}_{task} was due"
                    )
        return refs

    # --- state -----------------------------------------------------------------------------------

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        refs = list(refs)
        open_refs = [ref for ref in refs if ref not in self._final]
        index: dict[str, JobRecord] = {}
        sacct_failure = ""
        if open_refs:
            self._queries += 1
            try:
                # An array's id brings back all of its tasks.
                index = index_by_task(self._query(sorted({ref.job_id for ref in open_refs}, key=int)))
            except SlurmCommandError as error:
                sacct_failure = str(error)
                index = self._queue_index(sacct_failure)
        cancelled_all_at = self._cancelled_all_at() if open_refs else float("-inf")
        states = {}
        for ref in refs:
            if ref in self._final:
                states[ref] = self._final[ref]
                continue
            if sacct_failure and ref.key not in index:
                state = self._state_from_files(ref, sacct_failure) or self._absent(
                    ref, self._state(ref, index, cancelled_all_at), sacct_failure
                )
            else:
                self._absent_since.pop(ref, None)
                state = self._state(ref, index, cancelled_all_at)
            states[ref] = state
        states.update(self._settle_cancelled(states, cancelled_all_at))
        for ref, state in states.items():
            if state.is_terminal:
                self._final[ref] = state
        return states

    def _settle_cancelled(
        self, states: dict[JobRef, JobState], cancelled_all_at: float
    ) -> dict[JobRef, JobState]:
        """Jobs ``cancel_all`` ended that accounting still shows queued or running.

        slurmdbd records a cancellation some seconds after ``scancel`` (longer for array tasks
        that never started), so ``halt --cancel`` would leave them "running" in ``status``.
        ``squeue`` asks the controller daemon itself: a job it no longer lists has ended. One
        call, made only while such jobs exist.
        """
        live = [
            ref
            for ref, state in states.items()
            if state.status in (JobStatus.PENDING, JobStatus.RUNNING)
            and self._submitted_before(ref, cancelled_all_at)
        ]
        if not live:
            return {}
        self._queries += 1
        try:
            queued = index_by_task(self._queue(getpass.getuser()))
        except SlurmCommandError:
            return {}
        detail = "cancelled with all jobs of the run (accounting not caught up)"
        return {
            ref: self._state_from_files(ref, "left the queue after cancel_all")
            or JobState(JobStatus.CANCELLED, None, states[ref].elapsed_s, states[ref].node, detail)
            for ref in live
            if ref.key not in queued
        }

    def _submitted_before(self, ref: JobRef, moment: float) -> bool:
        try:
            return self._paths(ref).submitted_pickle.stat().st_mtime < moment
        except FileNotFoundError:
            return False

    def _queue_index(self, sacct_failure: str) -> dict[str, JobRecord]:
        try:
            return index_by_task(self._queue(getpass.getuser()))
        except SlurmCommandError as error:
            raise SchedulerUnavailableError(
                f"neither sacct nor squeue answered ({sacct_failure}; {error}); job states are unchanged"
            ) from error

    def _state_from_files(self, ref: JobRef, sacct_failure: str) -> JobState | None:
        """A job that left the queue while sacct is down, judged by what its process wrote;
        None when it wrote no outcome (still starting, or died without one)."""
        outcome = self._outcome(ref)
        if outcome is None:
            return None
        if outcome[0] == "success":
            return JobState(JobStatus.COMPLETED, 0, detail=f"left the queue with a result; {sacct_failure}")
        return JobState(JobStatus.FAILED, None, detail=f"left the queue with an error; {sacct_failure}")

    def _absent(self, ref: JobRef, state: JobState, sacct_failure: str) -> JobState:
        """A job neither squeue nor its files know while sacct is down: lost once it has stayed
        so for the accounting grace (time for a late result file to appear), unknown before."""
        if state.status is not JobStatus.UNKNOWN:
            return state
        first = self._absent_since.setdefault(ref, self._clock())
        if self._clock() - first < self.accounting_grace_s:
            return state
        return JobState(JobStatus.LOST, None, detail=f"left the queue without a result; {sacct_failure}")

    @property
    def _cancel_all_record(self) -> Path:
        return self.folder / "cancel_all.json"

    def _cancelled_all_at(self) -> float:
        try:
            return float(json.loads(self._cancel_all_record.read_text())["cancelled_at"])
        except FileNotFoundError:
            return float("-inf")

    def _cancel_mark(self, ref: JobRef) -> Path:
        return self._job_folder(ref.purpose) / f"{ref.key}.cancelled"

    def _state(self, ref: JobRef, index: dict[str, JobRecord], cancelled_all_at: float) -> JobState:
        record = index.get(ref.key)
        if record is None and self._cancel_mark(ref).exists():
            # Slurm keeps no accounting row of its own for an array task cancelled before it started
            # (a wholly cancelled array can come back as one bare-id row, which while the database
            # catches up can also be a single task's row: it never stands for the tasks).
            return JobState(JobStatus.CANCELLED, detail="cancelled before it started")
        if record is None:
            submitted = self._paths(ref).submitted_pickle
            if self._submitted_before(ref, cancelled_all_at):
                return JobState(JobStatus.CANCELLED, detail="cancelled with all jobs of the run")
            if submitted.exists() and time.time() - submitted.stat().st_mtime < self.accounting_grace_s:
                return JobState(JobStatus.PENDING, detail="submitted; not in accounting yet")
            return JobState(JobStatus.UNKNOWN, detail=f"sacct does not know job {ref.key}")
        state = state_of_record(record)
        if state.status is JobStatus.COMPLETED and not self._paths(ref).result_pickle.exists():
            return JobState(
                JobStatus.FAILED,
                state.exit_code,
                state.elapsed_s,
                state.node,
                "COMPLETED without a result file",
            )
        return state

    def cancel(self, refs: Iterable[JobRef]) -> None:
        refs = list(refs)
        keys = sorted({ref.key for ref in refs})
        if not keys:
            return
        for ref in refs:
            self._cancel_mark(ref).parent.mkdir(parents=True, exist_ok=True)
            self._cancel_mark(ref).touch()
        _scancel(keys)

    def cancel_all(self) -> None:
        """Cancel every queued or running job of the run, found by job name (``halt --cancel``).

        One ``scancel`` per purpose (``--name`` takes one name; the names of all purposes cover
        the jobs earlier versions named), limited to this user's jobs.
        Tasks that never started leave no accounting row, so the time is recorded: a job absent
        from sacct and submitted before it is cancelled.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._cancel_all_record, {"cancelled_at": time.time()})
        user = getpass.getuser()
        for purpose in PURPOSES:
            _scancel([f"--user={user}", f"--name={job_name(self.run_name, purpose)}"])

    # --- errors, results -------------------------------------------------------------------------

    def _outcome(self, ref: JobRef) -> tuple[str, Any] | None:
        path = self._paths(ref).result_pickle
        if not path.exists():
            return None
        outcome: tuple[str, Any] = submitit.core.utils.pickle_load(path)
        return outcome

    def error_text(self, ref: JobRef) -> str:
        outcome = self._outcome(ref)
        if outcome is not None and outcome[0] == "error":
            return str(outcome[1])
        stderr = self._paths(ref).stderr
        return tail_text(stderr.read_text(errors="replace")) if stderr.exists() else ""

    def result(self, ref: JobRef) -> Any:
        outcome = self._outcome(ref)
        if outcome is None or outcome[0] != "success":
            raise JobError(f"Slurm job {ref.key} ({ref.purpose}) has no result\n{self.error_text(ref)}")
        return outcome[1]


def _scancel(arguments: Sequence[str]) -> None:
    """One ``scancel`` call; complaints about jobs that already ended are not errors."""
    result = run_command(("scancel", *arguments))
    if result.returncode is None:
        raise SlurmCommandError(f"scancel failed: {result.summary}")
    complaints = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and "already completing or completed" not in line and "Invalid job id" not in line
    ]
    if complaints:
        raise SlurmCommandError(f"scancel {' '.join(arguments)} failed: {'; '.join(complaints)}")
