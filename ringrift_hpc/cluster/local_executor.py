"""Jobs as processes on this machine, with all their state in files under ``RUN/jobs/local/``.

Each task runs in its own ``python -m ringrift_hpc.cluster.local_task`` process (so a crash or a
kill of the task never takes the controller down), at most ``max_parallel_jobs`` at once. Queued
tasks start when ``submit`` or ``poll`` finds a free slot, so the controller's ticks drive the
queue. A new executor object over the same folder (a restarted controller) sees every job the
old one submitted, started or finished; a task whose process died without its exit record is
failed. Local jobs have no time limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle  # no stubs (mypy override in pyproject); comes with submitit

from ringrift_hpc.cluster.executor import (
    JobError,
    JobRef,
    JobResolver,
    JobState,
    JobStatus,
    SubmissionError,
    check_specs,
    tail_text,
)
from ringrift_hpc.cluster.local_files import TaskFiles, process_alive
from ringrift_hpc.cluster.purposes import Purpose, check_purpose
from ringrift_hpc.store.atomic import atomic_write_bytes, atomic_write_json, ensure_dir

# A cancelled task still alive this long after SIGTERM gets SIGKILL (Slurm's KillWait).
KILL_GRACE_S = 5.0
# Detail of a cancelled task whose process has not exited yet (it still holds a slot).
STILL_EXITING = "cancelled; still exiting"

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{path} does not hold a JSON object; it was not written by the local executor")
    return value


class LocalExecutor:
    """The ``Executor`` interface over processes on this machine."""

    def __init__(
        self, folder: Path, *, resolve: JobResolver, max_parallel_jobs: int, threads_per_job: int = 1
    ) -> None:
        if max_parallel_jobs < 1:
            raise ValueError(f"max_parallel_jobs is {max_parallel_jobs}; it must be at least 1")
        self.folder = Path(folder)
        self._resolve = resolve
        self.max_parallel_jobs = max_parallel_jobs
        self.threads_per_job = threads_per_job
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._final: dict[str, JobState] = {}  # terminal states never change: read their files once
        self._job_tasks: dict[int, list[tuple[str, TaskFiles]]] = {}
        self._queries = 0

    @property
    def scheduler_queries(self) -> int:
        return self._queries

    # --- submission ------------------------------------------------------------------------------

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        job_id = self._write_job(purpose, [spec], array=False)
        self._start_queued()
        return JobRef(purpose, job_id)

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        job_id = self._write_job(purpose, check_specs(specs), array=True)
        self._start_queued()
        return [JobRef(purpose, job_id, task) for task in range(len(specs))]

    def _write_job(self, purpose: Purpose, specs: list[Any], *, array: bool) -> str:
        fn = self._resolve(check_purpose(purpose))
        job_dir = self._reserve_job_dir()
        for task, spec in enumerate(specs):
            try:
                # (callable, argument tuple): what local_task runs, as in earlier versions' files.
                payload = cloudpickle.dumps((fn, (spec,)))
            except Exception as error:
                raise SubmissionError(f"task {task}: cannot pickle {fn!r} with {spec!r}: {error}") from error
            atomic_write_bytes(TaskFiles(job_dir / str(task)).submission, payload)
        # Written last: a folder without job.json holds no job.
        atomic_write_json(
            job_dir / "job.json",
            {"purpose": purpose, "tasks": len(specs), "array": array, "submitted_at": time.time()},
        )
        return job_dir.name

    def _reserve_job_dir(self) -> Path:
        ensure_dir(self.folder)
        next_id = max(self._job_ids(), default=0) + 1
        while True:
            try:
                (self.folder / str(next_id)).mkdir()
            except FileExistsError:
                next_id += 1
                continue
            return self.folder / str(next_id)

    def _job_ids(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(entry.name) for entry in os.scandir(self.folder) if entry.name.isdigit())

    # --- state -----------------------------------------------------------------------------------

    def _files(self, ref: JobRef) -> TaskFiles:
        return TaskFiles(self.folder / ref.job_id / str(ref.task or 0))

    def _state(self, key: str, files: TaskFiles) -> JobState:
        return self._state_and_liveness(key, files)[0]

    def _state_and_liveness(self, key: str, files: TaskFiles) -> tuple[JobState, bool]:
        """The task's state, and whether a process of it still exists (it holds a slot)."""
        if key in self._final:
            return self._final[key], False
        state, alive = self._read_state(key, files)
        if state.is_terminal and not alive:
            self._final[key] = state
        return state, alive

    def _read_state(self, key: str, files: TaskFiles) -> tuple[JobState, bool]:
        if not files.submission.exists():
            return JobState(JobStatus.UNKNOWN, detail=f"no local job {key} under {self.folder}"), False
        start = _read_json(files.start)
        exit_record = _read_json(files.exit)
        end_record = exit_record if exit_record is not None else _read_json(files.gone)
        elapsed = 0
        if start is not None:
            end = end_record["ended_at"] if end_record is not None else time.time()
            elapsed = max(0, int(end - start["started_at"]))
        node = str(start["host"]) if start is not None else ""
        if exit_record is not None:
            code = int(exit_record["exit_code"])
            status = JobStatus.COMPLETED if code == 0 else JobStatus.FAILED
            return JobState(status, code, elapsed, node), False
        cancelled = files.cancelled.exists()
        child = self._children.get(key)
        child_running = child is not None and child.poll() is None
        if start is None:
            if cancelled:
                return JobState(JobStatus.CANCELLED, detail="cancelled before it started"), child_running
            if child is not None and not child_running:
                if files.start.exists():
                    return self._read_state(key, files)  # it started (and ended) between the two looks
                # The wrapper died before it could record its start (cannot import, killed).
                code = child.returncode or 1
                atomic_write_json(files.exit, {"exit_code": code, "ended_at": time.time()})
                return JobState(JobStatus.FAILED, code, 0, "", "died before it started"), False
            return JobState(JobStatus.RUNNING if child_running else JobStatus.PENDING), child_running
        if end_record is None and process_alive(int(start["pid"]), start.get("proc_start")):
            if cancelled:
                return JobState(JobStatus.CANCELLED, None, elapsed, node, STILL_EXITING), True
            return JobState(JobStatus.RUNNING, None, elapsed, node), True
        if end_record is None:
            if files.exit.exists():
                # It wrote its exit record and ended between the two looks.
                return self._read_state(key, files)
            # First seen gone: note when, so its elapsed time stops growing (and a reused pid
            # never brings it back to life).
            atomic_write_json(files.gone, {"ended_at": time.time()})
            elapsed = max(0, int(time.time() - start["started_at"]))
        if cancelled:
            return JobState(JobStatus.CANCELLED, None, elapsed, node, "cancelled"), False
        detail = f"process {start['pid']} ended without an exit record (killed?)"
        return JobState(JobStatus.FAILED, None, elapsed, node, detail), False

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        refs = list(refs)
        if not refs:
            return {}
        self._queries += 1
        self._start_queued()
        return {ref: self._state(ref.key, self._files(ref)) for ref in refs}

    # --- the queue -------------------------------------------------------------------------------

    def _all_tasks(self) -> list[tuple[str, TaskFiles]]:
        """Every submitted task, oldest job first; job.json never changes, so it is read once."""
        tasks = []
        for job_id in self._job_ids():
            if job_id not in self._job_tasks:
                job = _read_json(self.folder / str(job_id) / "job.json")
                if job is None:
                    continue  # being written, or a submission that crashed before job.json
                self._job_tasks[job_id] = [
                    (
                        f"{job_id}_{task}" if job["array"] else str(job_id),
                        TaskFiles(self.folder / str(job_id) / str(task)),
                    )
                    for task in range(int(job["tasks"]))
                ]
            tasks.extend(self._job_tasks[job_id])
        return tasks

    def _reap(self) -> None:
        """Wait for ended task processes, so a long-running controller collects no zombies."""
        for key, child in list(self._children.items()):
            if child.poll() is not None and key in self._final:
                del self._children[key]

    def _start_queued(self) -> None:
        """Start queued tasks, oldest first, while fewer than ``max_parallel_jobs`` processes live."""
        self._reap()
        running = 0
        queued = []
        for key, files in self._all_tasks():
            if key in self._final:
                continue
            state, alive = self._state_and_liveness(key, files)
            if alive and state.status is JobStatus.CANCELLED:
                self._kill_if_lingering(files)
            running += alive
            if state.status is JobStatus.PENDING:
                queued.append((key, files))
        for key, files in queued[: max(0, self.max_parallel_jobs - running)]:
            self._launch(key, files)

    def _launch(self, key: str, files: TaskFiles) -> None:
        env = dict(os.environ)
        env.update({name: str(self.threads_per_job) for name in _THREAD_VARIABLES})
        with files.stdout.open("ab") as out, files.stderr.open("ab") as err:
            self._children[key] = subprocess.Popen(
                [sys.executable, "-m", "ringrift_hpc.cluster.local_task", str(files.prefix)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,  # its own process group: cancel signals the task's children too
            )

    @staticmethod
    def _kill_if_lingering(files: TaskFiles) -> None:
        start = _read_json(files.start)
        if start is not None and time.time() - files.cancelled.stat().st_mtime > KILL_GRACE_S:
            _signal_group(int(start["pid"]), signal.SIGKILL)

    # --- cancel, errors, results -----------------------------------------------------------------

    def cancel(self, refs: Iterable[JobRef]) -> None:
        for ref in refs:
            files = self._files(ref)
            state, alive = self._state_and_liveness(ref.key, files)
            if state.is_terminal or state.status is JobStatus.UNKNOWN:
                continue
            files.cancelled.touch()
            start = _read_json(files.start)
            if start is not None and alive:
                _signal_group(int(start["pid"]), signal.SIGTERM)
            child = self._children.get(ref.key)
            if child is not None and child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)

    def cancel_all(self) -> None:
        """Cancel every queued or running job in the folder (``halt --cancel``)."""
        refs: list[JobRef] = []
        for job_id in self._job_ids():
            job = _read_json(self.folder / str(job_id) / "job.json")
            if job is None:
                continue
            tasks = range(int(job["tasks"])) if job["array"] else [None]
            # job.json of earlier versions names a kind; each kind is the purpose of its jobs.
            purpose = check_purpose(job.get("purpose", job.get("kind")), what=f"job {job_id}'s purpose")
            refs.extend(JobRef(purpose, str(job_id), task) for task in tasks)
        self.cancel(refs)

    def error_text(self, ref: JobRef) -> str:
        files = self._files(ref)
        outcome = self._outcome(files)
        if outcome is not None and outcome[0] == "error":
            return str(outcome[1])
        stderr = files.stderr.read_text(errors="replace") if files.stderr.exists() else ""
        return tail_text(stderr)

    def result(self, ref: JobRef) -> Any:
        state = self._state(ref.key, self._files(ref))
        outcome = self._outcome(self._files(ref)) if state.succeeded else None
        if outcome is None or outcome[0] != "success":
            raise JobError(
                f"local job {ref.key} ({ref.purpose}) is {state.status.value}"
                f"{': ' + state.detail if state.detail else ''}\n{self.error_text(ref)}"
            )
        return outcome[1]

    @staticmethod
    def _outcome(files: TaskFiles) -> tuple[str, Any] | None:
        if not files.result.exists():
            return None
        outcome: tuple[str, Any] = cloudpickle.loads(files.result.read_bytes())
        return outcome


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
