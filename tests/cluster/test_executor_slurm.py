"""The executor interface on the real local Slurm cluster (submitit jobs, sacct states).

Needs ``bin/local-slurm up`` and its ``env`` (see tests/conftest.py for skip/fail).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cloudpickle  # type: ignore[import-untyped]  # no stubs; comes with submitit
import pytest
from job_calls import call, resolve_calls
from slurm_requeue import start_requeued_now

from ringrift_hpc.cluster.executor import JobError, JobRef, JobState, JobStatus
from ringrift_hpc.cluster.purposes import PURPOSES
from ringrift_hpc.cluster.slurm_executor import SlurmExecutor
from ringrift_hpc.cluster.slurm_query import run_command
from ringrift_hpc.config.slurm import SlurmSection

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]

# The jobs' Python cannot import this test module, so its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT_S = 45.0
RUN_NAME = f"exectest{os.getpid()}"


def square(x: int) -> int:
    return x * x


def fail_loudly(tag: str) -> None:
    raise ValueError(f"deliberate failure {tag}")


def sleep_long(started: str | None) -> None:
    # submitit ignores SIGTERM; a job that does keeps the node COMPLETING for KillWait (5 s)
    # after scancel, and Slurm starts nothing new on it meanwhile.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if started is not None:
        Path(started).touch()
    time.sleep(300)


def all_terminal(states: dict[JobRef, JobState]) -> bool:
    return all(state.is_terminal for state in states.values())


def poll_until(
    executor: SlurmExecutor,
    refs: Iterable[JobRef],
    done: Callable[[dict[JobRef, JobState]], bool] = all_terminal,
) -> dict[JobRef, JobState]:
    refs = list(refs)
    deadline = time.monotonic() + WAIT_S
    while True:
        states = executor.poll(refs)
        if done(states):
            return states
        if time.monotonic() > deadline:
            seen = sorted({state.status.value for state in states.values()})
            pytest.fail(f"{len(refs)} jobs did not settle within {WAIT_S:g}s; states seen: {seen}")
        time.sleep(0.5)


def slurm_section(**overrides: object) -> SlurmSection:
    job = {"partition": "cpu", "cpus": 1, "mem": "200M", "time": 5}
    return SlurmSection.model_validate(
        {"selfplay": {**job, "array_parallelism": 16}, "train": job, "evaluate": job, **overrides}
    )


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[SlurmExecutor]:
    executor = SlurmExecutor(
        tmp_path / "jobs" / "slurm", run_name=RUN_NAME, slurm=slurm_section(), resolve=resolve_calls
    )
    yield executor
    # Whatever a failed test left behind goes; the run's job names select it.
    for purpose in PURPOSES:
        run_command(("scancel", f"--name={RUN_NAME}-{purpose}"))


def test_array_of_16_in_chunks_completes_with_results_in_order(tmp_path: Path) -> None:
    executor = SlurmExecutor(
        tmp_path / "jobs" / "slurm",
        run_name=RUN_NAME,
        slurm=slurm_section(max_array_size=5),
        resolve=resolve_calls,
    )
    refs = executor.submit_array("selfplay", [call(square, x) for x in range(16)])
    array_ids = list(dict.fromkeys(ref.job_id for ref in refs))
    assert len(array_ids) == 4
    # The last chunk holds one task, which submitit sends as a plain job.
    assert [ref.task for ref in refs] == [*range(5), *range(5), *range(5), None]
    before = executor.scheduler_queries
    polls = 0

    def counting(states: dict[JobRef, JobState]) -> bool:
        nonlocal polls
        polls += 1
        return all_terminal(states)

    states = poll_until(executor, refs, counting)
    assert executor.scheduler_queries - before == polls
    assert {ref.key: state for ref, state in states.items() if not state.succeeded} == {}
    assert [executor.result(ref) for ref in refs] == [x * x for x in range(16)]
    # The run's job name tags every task; sacct can show "allocation" for a second or two while
    # a task's end record overtakes its start record.
    deadline = time.monotonic() + WAIT_S
    sacct = ("sacct", "-X", "-n", "-P", "--format=JobName", f"--jobs={','.join(array_ids)}")
    while (names := set(run_command(sacct).stdout.split())) != {f"{RUN_NAME}-selfplay"}:
        assert time.monotonic() < deadline, f"sacct job names {names}"
        time.sleep(0.5)


def test_one_sacct_query_per_poll_with_300_tasks_in_flight(executor: SlurmExecutor) -> None:
    refs = executor.submit_array("selfplay", [call(sleep_long, None)] * 300)
    array_ids = {ref.job_id for ref in refs}
    assert len(array_ids) == 1
    script = (executor.folder / "selfplay" / f"{refs[0].job_id}_submission.sh").read_text()
    assert "#SBATCH --array=0-299%16" in script  # the kind's array_parallelism throttles it
    assert f"#SBATCH --job-name={RUN_NAME}-selfplay" in script
    before = executor.scheduler_queries
    polls = 0

    def some_running(states: dict[JobRef, JobState]) -> bool:
        nonlocal polls
        polls += 1
        assert len(states) == 300
        assert {state.status for state in states.values()} <= {JobStatus.PENDING, JobStatus.RUNNING}
        return any(state.status is JobStatus.RUNNING for state in states.values())

    poll_until(executor, refs, some_running)
    assert executor.scheduler_queries - before == polls
    executor.cancel(refs)
    states = poll_until(executor, refs)
    assert {state.status for state in states.values()} == {JobStatus.CANCELLED}
    (array_id,) = array_ids
    deadline = time.monotonic() + WAIT_S
    while run_command(("squeue", "--noheader", f"--jobs={array_id}")).stdout.strip():
        assert time.monotonic() < deadline, "cancelled array tasks are still in squeue"
        time.sleep(0.5)


def test_cancelled_running_job_ends_cancelled(executor: SlurmExecutor, tmp_path: Path) -> None:
    started = tmp_path / "started"
    ref = executor.submit("train", call(sleep_long, str(started)))
    poll_until(executor, [ref], lambda states: started.exists())
    executor.cancel([ref])
    state = poll_until(executor, [ref])[ref]
    assert state.status is JobStatus.CANCELLED
    executor.cancel([ref])  # cancelling an ended job changes nothing and raises nothing
    with pytest.raises(JobError, match=f"Slurm job {ref.key}"):
        executor.result(ref)


def test_failure_surfaces_as_failed_with_the_remote_traceback(executor: SlurmExecutor) -> None:
    tag = f"tag-{os.getpid()}-{time.monotonic_ns()}"
    ref = executor.submit("evaluate", call(fail_loudly, tag))
    state = poll_until(executor, [ref])[ref]
    assert state.status is JobStatus.FAILED
    assert state.exit_code != 0
    text = executor.error_text(ref)
    assert "Traceback" in text and f"ValueError: deliberate failure {tag}" in text
    with pytest.raises(JobError, match=tag):
        executor.result(ref)


def test_restarted_executor_reattaches_by_job_id(tmp_path: Path, executor: SlurmExecutor) -> None:
    started = tmp_path / "started"
    running = executor.submit("train", call(sleep_long, str(started)))
    done = executor.submit_array("selfplay", [call(square, 2), call(square, 3)])
    journal = [ref.to_json() for ref in (running, *done)]
    poll_until(executor, [running], lambda states: started.exists())

    again = SlurmExecutor(executor.folder, run_name=RUN_NAME, slurm=slurm_section(), resolve=resolve_calls)
    refs = [JobRef.from_json(data) for data in journal]
    states = poll_until(again, refs[1:])
    assert again.poll(refs[:1])[refs[0]].status is JobStatus.RUNNING
    assert [states[ref].status for ref in refs[1:]] == [JobStatus.COMPLETED] * 2
    assert [again.result(ref) for ref in refs[1:]] == [4, 9]
    again.cancel(refs[:1])
    assert poll_until(again, refs[:1])[refs[0]].status is JobStatus.CANCELLED


def test_refs_journaled_by_earlier_versions_still_poll(executor: SlurmExecutor) -> None:
    tournament = executor.submit_array("tournament", [call(square, 2), call(square, 3)])
    train = executor.submit("train", call(square, 4))
    script = (executor.folder / "evaluate" / f"{tournament[0].job_id}_submission.sh").read_text()
    assert f"#SBATCH --job-name={RUN_NAME}-tournament" in script  # its own name, evaluation resources
    poll_until(executor, [*tournament, train])
    # Earlier versions journaled the resource kind: a tournament's refs said "evaluate".
    old = [
        {"kind": kind, "job_id": ref.job_id, "task": ref.task}
        for kind, ref in zip(("evaluate", "evaluate", "train"), (*tournament, train), strict=True)
    ]
    refs = [JobRef.from_json(data) for data in old]
    again = SlurmExecutor(executor.folder, run_name=RUN_NAME, slurm=slurm_section(), resolve=resolve_calls)
    states = poll_until(again, refs)
    assert [states[ref].status for ref in refs] == [JobStatus.COMPLETED] * 3
    assert [again.result(ref) for ref in refs] == [4, 9, 16]


def test_cancel_all_cancels_the_runs_jobs_by_name(executor: SlurmExecutor, tmp_path: Path) -> None:
    started = tmp_path / "started"
    running = executor.submit("train", call(sleep_long, str(started)))
    queued = executor.submit_array("selfplay", [call(sleep_long, None)] * 40)
    tournament = executor.submit_array("tournament", [call(sleep_long, None)] * 3)
    poll_until(executor, [running], lambda states: started.exists())
    executor.cancel_all()
    states = poll_until(executor, [running, *queued, *tournament])
    assert {state.status for state in states.values()} == {JobStatus.CANCELLED}
    names = ",".join(f"{RUN_NAME}-{purpose}" for purpose in PURPOSES)
    deadline = time.monotonic() + WAIT_S
    while run_command(("squeue", "--noheader", f"--name={names}")).stdout.strip():
        assert time.monotonic() < deadline, "jobs of the run are still in squeue after cancel_all"
        time.sleep(0.5)
    # A job submitted after the cancellation (a resumed run) is not taken for cancelled.
    after = executor.submit("evaluate", call(square, 6))
    assert poll_until(executor, [after])[after].status is JobStatus.COMPLETED


def visible_gpus() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def test_gpus_of_the_kind_reach_the_job(tmp_path: Path) -> None:
    slurm = slurm_section(train={"partition": "gpu", "cpus": 1, "mem": "200M", "time": 5, "gpus": 1})
    executor = SlurmExecutor(
        tmp_path / "jobs" / "slurm", run_name=RUN_NAME, slurm=slurm, resolve=resolve_calls
    )
    ref = executor.submit("train", call(visible_gpus))
    assert poll_until(executor, [ref])[ref].succeeded
    assert executor.result(ref) in {"0", "1"}


def count_runs_then_sleep(log: str, first_run_s: float) -> int:
    """Appends a line per run; the first run sleeps long enough to be requeued or lost."""
    with open(log, "a") as stream:
        stream.write("run\n")
    runs = len(Path(log).read_text().splitlines())
    if runs == 1:
        time.sleep(first_run_s)
    return runs


def scontrol(*arguments: str) -> None:
    result = run_command(("scontrol", *arguments))
    assert result.ok, result.summary


@pytest.fixture
def node_back_up() -> Iterator[None]:
    """Whatever a test did to the node, it is idle again afterwards: a node just resumed can
    still be not responding, or drained by a job step it failed to kill, for a while."""
    yield
    deadline = time.monotonic() + 90.0
    while (state := node_state()) != "idle":
        assert time.monotonic() < deadline, f"node vm is {state!r} 90 s after the test, not idle"
        for change in ("resume", "undrain"):
            run_command(("scontrol", "update", "nodename=vm", f"state={change}"))
        time.sleep(1.0)


def node_state() -> str:
    result = run_command(("sinfo", "--noheader", "--nodes=vm", "--format=%T"))
    return result.stdout.strip() if result.ok else result.summary


def test_a_job_requeued_by_slurm_runs_again_and_is_never_seen_ended_before_it_completes(
    executor: SlurmExecutor, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    ref = executor.submit("train", call(count_runs_then_sleep, str(log), 60.0))
    poll_until(executor, [ref], lambda states: log.exists())
    scontrol("requeue", ref.key)
    nudge = start_requeued_now(ref.key)
    deadline = time.monotonic() + WAIT_S
    while log.read_text().count("run") < 2:
        assert time.monotonic() < deadline, "the requeued job never ran again"
        assert not executor.poll([ref])[ref].is_terminal, "a requeued job was seen ended"
        nudge()
        time.sleep(0.5)
    state = poll_until(executor, [ref])[ref]
    assert state.status is JobStatus.COMPLETED
    assert executor.result(ref) == 2


def test_a_job_whose_node_went_down_is_lost_not_failed(tmp_path: Path, node_back_up: None) -> None:
    job = {"partition": "cpu", "cpus": 1, "mem": "200M", "time": 5, "extra_sbatch_args": ["--no-requeue"]}
    executor = SlurmExecutor(
        tmp_path / "jobs" / "slurm", run_name=RUN_NAME, slurm=slurm_section(train=job), resolve=resolve_calls
    )
    log = tmp_path / "runs.log"
    ref = executor.submit("train", call(count_runs_then_sleep, str(log), 120.0))
    poll_until(executor, [ref], lambda states: log.exists())
    scontrol("update", "nodename=vm", "state=down", "reason=ringrift-test-node-failure")
    state = poll_until(executor, [ref])[ref]
    assert (state.status, state.detail) == (JobStatus.LOST, "NODE_FAIL")


def test_a_job_submitted_to_a_drained_node_waits_pending_and_runs_once_it_is_back(
    executor: SlurmExecutor, node_back_up: None
) -> None:
    scontrol("update", "nodename=vm", "state=drain", "reason=ringrift-test-maintenance")
    ref = executor.submit("evaluate", call(square, 7))
    waited_until = time.monotonic() + 5.0
    while time.monotonic() < waited_until:
        assert executor.poll([ref])[ref].status is JobStatus.PENDING
        time.sleep(0.5)
    scontrol("update", "nodename=vm", "state=resume")
    state = poll_until(executor, [ref])[ref]
    assert state.status is JobStatus.COMPLETED and executor.result(ref) == 49
