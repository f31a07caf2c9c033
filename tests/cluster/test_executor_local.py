"""The executor interface on the local executor: processes on this machine, state in files.

"Restart" below means a second executor object over the same folder, as a restarted controller
builds one: it must see everything the first one submitted, started or finished.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # no stubs; comes with submitit
import pytest
from job_calls import call, resolve_calls

from ringrift_hpc.cluster.executor import (
    JobError,
    JobRef,
    JobState,
    JobStatus,
    SubmissionError,
)
from ringrift_hpc.cluster.local_executor import STILL_EXITING, LocalExecutor
from ringrift_hpc.cluster.local_files import TaskFiles, process_alive
from ringrift_hpc.cluster.local_task import EXIT_ALREADY_STARTED, run_task
from ringrift_hpc.cluster.purposes import Purpose

pytestmark = pytest.mark.timeout(60)

# The task processes cannot import this test module, so its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT_S = 20.0


def square(x: int) -> int:
    return x * x


def fail_loudly(tag: str) -> None:
    raise ValueError(f"deliberate failure {tag}")


def wait_for_file(path: str, result: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.02)
    return result


def sleep_forever(started: str) -> None:
    Path(started).write_text(str(os.getpid()))
    time.sleep(300)


def die_without_a_word() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def thread_limit() -> str:
    return os.environ["OMP_NUM_THREADS"]


def threads_a_job_gives_torch() -> int:
    from ringrift_hpc.jobs.slurm_env import available_cpus  # what selfplay, training and matches use

    return available_cpus(os.environ)


def all_terminal(states: dict[JobRef, JobState]) -> bool:
    return all(state.is_terminal for state in states.values())


def all_gone(states: dict[JobRef, JobState]) -> bool:
    """Every job ended and none has a process left (a cancelled one may still be exiting)."""
    return all_terminal(states) and all(state.detail != STILL_EXITING for state in states.values())


def poll_until(
    executor: LocalExecutor,
    refs: Iterable[JobRef],
    done: Callable[[dict[JobRef, JobState]], bool] = all_terminal,
    on_poll: Callable[[dict[JobRef, JobState]], None] = lambda states: None,
) -> dict[JobRef, JobState]:
    refs = list(refs)
    deadline = time.monotonic() + WAIT_S
    while True:
        states = executor.poll(refs)
        on_poll(states)
        if done(states):
            return states
        if time.monotonic() > deadline:
            seen = {ref.key: state.status.value for ref, state in states.items()}
            pytest.fail(f"jobs did not settle within {WAIT_S:g}s; last seen: {seen}")
        time.sleep(0.05)


def wait_until_exists(path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {WAIT_S:g}s"
        time.sleep(0.02)


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(tmp_path / "jobs", resolve=resolve_calls, max_parallel_jobs=2)


def test_single_job_completes_with_its_result(executor: LocalExecutor) -> None:
    ref = executor.submit("train", call(square, 7))
    assert ref == JobRef("train", "1")
    state = poll_until(executor, [ref])[ref]
    assert (state.status, state.exit_code, state.node) == (JobStatus.COMPLETED, 0, os.uname().nodename)
    assert executor.result(ref) == 49
    assert executor.error_text(ref) == ""


def test_array_runs_at_most_max_parallel_tasks_at_once_and_keeps_order(executor: LocalExecutor) -> None:
    refs = executor.submit_array("selfplay", [call(square, x) for x in range(6)])
    assert refs == [JobRef("selfplay", "1", task) for task in range(6)]
    most_running = 0

    def count_running(states: dict[JobRef, JobState]) -> None:
        nonlocal most_running
        most_running = max(most_running, sum(s.status is JobStatus.RUNNING for s in states.values()))

    states = poll_until(executor, refs, on_poll=count_running)
    assert {state.status for state in states.values()} == {JobStatus.COMPLETED}
    assert most_running == 2
    assert [executor.result(ref) for ref in refs] == [x * x for x in range(6)]


def _zombie_children() -> list[int]:
    """Pids of this process's children that ended but were never waited for."""
    zombies = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(entry.name))
    return zombies


def test_ended_task_processes_are_waited_for(executor: LocalExecutor) -> None:
    refs = executor.submit_array("selfplay", [call(square, x) for x in range(4)])
    poll_until(executor, refs)
    deadline = time.monotonic() + WAIT_S
    while _zombie_children():
        assert time.monotonic() < deadline, f"zombie task processes {_zombie_children()} were never reaped"
        executor.poll(refs)
        time.sleep(0.05)


def test_each_poll_is_one_query_whatever_the_number_of_refs(executor: LocalExecutor) -> None:
    refs = executor.submit_array("evaluate", [call(square, x) for x in range(40)])
    before = executor.scheduler_queries
    executor.poll(refs)
    executor.poll(refs[:1])
    executor.poll([])
    assert executor.scheduler_queries - before == 2


def test_failure_is_failed_with_the_remote_traceback_never_success(executor: LocalExecutor) -> None:
    ref = executor.submit("train", call(fail_loudly, "tag-42"))
    state = poll_until(executor, [ref])[ref]
    assert (state.status, state.exit_code) == (JobStatus.FAILED, 1)
    text = executor.error_text(ref)
    assert "Traceback" in text and "ValueError: deliberate failure tag-42" in text
    with pytest.raises(JobError, match="deliberate failure tag-42"):
        executor.result(ref)


def test_process_killed_without_exit_record_is_failed(executor: LocalExecutor) -> None:
    ref = executor.submit("selfplay", call(die_without_a_word))
    state = poll_until(executor, [ref])[ref]
    assert state.status is JobStatus.FAILED
    assert "without an exit record" in state.detail
    # A restarted executor finds it just as failed, with its elapsed time stopped.
    time.sleep(1.1)
    restarted = LocalExecutor(executor.folder, resolve=resolve_calls, max_parallel_jobs=1)
    assert restarted.poll([ref])[ref] == state


def test_cancel_running_job_kills_its_process(executor: LocalExecutor, tmp_path: Path) -> None:
    started = tmp_path / "started"
    ref = executor.submit("selfplay", call(sleep_forever, str(started)))
    poll_until(executor, [ref], lambda states: started.exists())
    wait_until_exists(started)
    pid = int(started.read_text())
    executor.cancel([ref])
    state = poll_until(executor, [ref], all_gone)[ref]
    assert state.status is JobStatus.CANCELLED
    assert not process_alive(pid, None)


def test_cancel_queued_job_never_starts_it(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "jobs", resolve=resolve_calls, max_parallel_jobs=1)
    started = tmp_path / "started"
    blocker = executor.submit("train", call(sleep_forever, str(started)))
    queued = executor.submit("train", call(square, 3))
    assert executor.poll([queued])[queued].status is JobStatus.PENDING
    executor.cancel([queued, blocker])
    states = poll_until(executor, [blocker, queued], all_gone)
    assert states[queued] == JobState(JobStatus.CANCELLED, detail="cancelled before it started")
    assert not TaskFiles(tmp_path / "jobs" / queued.job_id / "0").start.exists()


def test_restarted_executor_reattaches_to_running_and_queued_jobs(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    release = tmp_path / "release"
    first = LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1)
    running = first.submit("train", call(wait_for_file, str(release), "first"))
    queued = first.submit("selfplay", call(square, 5))
    poll_until(first, [running], lambda states: states[running].status is JobStatus.RUNNING)
    journal = [ref.to_json() for ref in (running, queued)]
    del first  # the controller dies; its jobs live on

    second = LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1)
    refs = [JobRef.from_json(data) for data in journal]
    assert [s.status for s in second.poll(refs).values()] == [JobStatus.RUNNING, JobStatus.PENDING]
    release.touch()
    states = poll_until(second, refs)
    assert [s.status for s in states.values()] == [JobStatus.COMPLETED, JobStatus.COMPLETED]
    assert [second.result(ref) for ref in refs] == ["first", 25]
    assert second.submit("train", call(square, 1)) == JobRef("train", "3")


def test_two_processes_for_one_task_run_it_once(tmp_path: Path) -> None:
    files = TaskFiles(tmp_path / "0")
    files.submission.write_bytes(cloudpickle.dumps((square, (4,))))
    assert run_task(files) == 0
    assert run_task(files) == EXIT_ALREADY_STARTED
    assert cloudpickle.loads(files.result.read_bytes()) == ("success", 16)


def test_jobs_get_the_configured_thread_limit(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "jobs", resolve=resolve_calls, max_parallel_jobs=1, threads_per_job=3)
    ref = executor.submit("train", call(thread_limit))
    sized = executor.submit("train", call(threads_a_job_gives_torch))
    poll_until(executor, [ref, sized])
    assert executor.result(ref) == "3"
    assert executor.result(sized) == 3  # not the machine's cores: jobs beside it would oversubscribe


def negate(x: int) -> int:
    return -x


def test_each_purpose_runs_the_callable_its_resolver_gives(tmp_path: Path) -> None:
    functions: dict[Purpose, Callable[[Any], Any]] = {"train": square, "tournament": negate}
    executor = LocalExecutor(tmp_path / "jobs", resolve=functions.__getitem__, max_parallel_jobs=2)
    train = executor.submit("train", 7)
    tournament = executor.submit_array("tournament", [3, 4])
    poll_until(executor, [train, *tournament])
    assert [executor.result(ref) for ref in (train, *tournament)] == [49, -3, -4]
    assert [ref.purpose for ref in (train, *tournament)] == ["train", "tournament", "tournament"]
    with pytest.raises(SubmissionError, match="at least one spec"):
        executor.submit_array("selfplay", [])


def test_cancel_all_reads_the_job_files_of_earlier_versions(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    executor = LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1)
    started = tmp_path / "started"
    ref = executor.submit("evaluate", call(sleep_forever, str(started)))
    poll_until(executor, [ref], lambda states: started.exists())
    job_file = folder / ref.job_id / "job.json"
    job = json.loads(job_file.read_text())
    job_file.write_text(json.dumps({"kind": job.pop("purpose"), **job}))  # as earlier versions wrote it

    LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1).cancel_all()
    assert poll_until(executor, [ref], all_gone)[ref].status is JobStatus.CANCELLED


def test_unknown_ref_is_unknown_and_cancelling_it_does_nothing(executor: LocalExecutor) -> None:
    ref = JobRef("train", "99")
    assert executor.poll([ref])[ref].status is JobStatus.UNKNOWN
    executor.cancel([ref])
    assert executor.poll([ref])[ref].status is JobStatus.UNKNOWN


def test_cancel_all_cancels_every_unfinished_job_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    first = LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1)
    done = first.submit("train", call(square, 2))
    poll_until(first, [done])
    started = tmp_path / "started"
    running = first.submit("train", call(sleep_forever, str(started)))
    queued = first.submit_array("selfplay", [call(square, 1), call(square, 2)])
    poll_until(first, [running], lambda states: started.exists())

    LocalExecutor(folder, resolve=resolve_calls, max_parallel_jobs=1).cancel_all()
    states = poll_until(first, [done, running, *queued], all_gone)
    assert [state.status for state in states.values()] == [JobStatus.COMPLETED] + [JobStatus.CANCELLED] * 3
