"""submitit jobs on the real local Slurm cluster, their final states read back through sacct.

Needs ``bin/local-slurm up`` and its ``env`` (see tests/conftest.py for skip/fail).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cloudpickle  # type: ignore[import-untyped]  # no stubs; comes with submitit
import pytest
import submitit

from ringrift_hpc.cluster.slurm_parse import JobRecord, index_by_task
from ringrift_hpc.cluster.slurm_query import (
    check_accounting,
    check_commands,
    check_max_array_size,
    check_partitions,
    query_jobs,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]

# The jobs' Python cannot import this test module, so its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SACCT_WAIT_S = 30.0


def square(x: int) -> int:
    return x * x


def fail_loudly(tag: str) -> None:
    raise ValueError(f"deliberate failure {tag}")


def sleep_long(started: str) -> None:
    # submitit ignores SIGTERM; a job that does keeps the node COMPLETING for KillWait (5 s)
    # after scancel, and Slurm starts nothing new on it meanwhile.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    Path(started).touch()
    time.sleep(300)


def visible_gpus() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def wait_for_accounting(
    job_ids: Sequence[str], settled: Callable[[dict[str, JobRecord]], bool], timeout_s: float = SACCT_WAIT_S
) -> dict[str, JobRecord]:
    """Poll sacct (which lags the controller by a second or two) until ``settled`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        index = index_by_task(query_jobs(job_ids))
        if settled(index):
            return index
        if time.monotonic() > deadline:
            seen = {key: record.state for key, record in sorted(index.items())}
            pytest.fail(f"sacct did not settle within {timeout_s:g}s; last seen: {seen}")
        time.sleep(0.25)


def all_in_state(keys: Sequence[str], state: str) -> Callable[[dict[str, JobRecord]], bool]:
    return lambda index: all(key in index and index[key].state == state for key in keys)


@pytest.fixture
def executor(tmp_path: Path) -> submitit.AutoExecutor:
    # cluster="slurm": never fall back silently to local processes.
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(
        slurm_partition="cpu", timeout_min=5, mem_gb=1, cpus_per_task=1, slurm_array_parallelism=16
    )
    return executor


@pytest.fixture
def cancel_leftovers() -> Iterator[list[submitit.Job[object]]]:
    """Jobs put here are cancelled after the test, so a failed test leaves no sleeper behind."""
    jobs: list[submitit.Job[object]] = []
    yield jobs
    for job in jobs:
        job.cancel(check=False)


def test_single_job_runs_and_sacct_records_it_completed(executor: submitit.AutoExecutor) -> None:
    job = executor.submit(square, 7)
    assert job.result() == 49
    # Until the job's start record reaches the database, its row can show no partition.
    record = wait_for_accounting(
        [job.job_id],
        lambda index: all_in_state([job.job_id], "COMPLETED")(index) and index[job.job_id].partition != "",
    )[job.job_id]
    assert (record.exit_code, record.partition, record.array_job_id) == (0, "cpu", None)


def test_map_array_of_16_tasks_completes_and_one_sacct_call_sees_every_task(
    executor: submitit.AutoExecutor,
) -> None:
    jobs = executor.map_array(square, range(16))
    assert [job.result() for job in jobs] == [x * x for x in range(16)]
    array_id = jobs[0].job_id.split("_")[0]
    task_keys = [job.job_id for job in jobs]
    assert task_keys == [f"{array_id}_{task}" for task in range(16)]
    index = wait_for_accounting([array_id], all_in_state(task_keys, "COMPLETED"))
    assert {index[key].array_job_id for key in task_keys} == {array_id}
    assert all(index[key].exit_code == 0 for key in task_keys)


def test_cancelled_running_job_ends_cancelled(
    executor: submitit.AutoExecutor, cancel_leftovers: list[submitit.Job[object]], tmp_path: Path
) -> None:
    started = tmp_path / "started"
    job = executor.submit(sleep_long, str(started))
    cancel_leftovers.append(job)
    # The job's own mark, not sacct: the start record can reach the database seconds late.
    deadline = time.monotonic() + SACCT_WAIT_S
    while not started.exists():
        assert time.monotonic() < deadline, f"job {job.job_id} did not start within {SACCT_WAIT_S:g}s"
        time.sleep(0.1)
    job.cancel()
    record = wait_for_accounting([job.job_id], all_in_state([job.job_id], "CANCELLED"))[job.job_id]
    assert record.is_terminal
    # A fresh sacct poll, not submitit's cached state; result() would block ~15 s here.
    assert job.done(force_check=True)
    assert job.state.startswith("CANCELLED")


def test_failing_job_surfaces_the_remote_traceback(executor: submitit.AutoExecutor) -> None:
    tag = f"tag-{os.getpid()}-{time.monotonic_ns()}"
    job = executor.submit(fail_loudly, tag)
    with pytest.raises(submitit.core.utils.FailedJobError) as failure:
        job.result()
    message = str(failure.value)
    assert "Traceback" in message and f"ValueError: deliberate failure {tag}" in message
    record = wait_for_accounting([job.job_id], all_in_state([job.job_id], "FAILED"))[job.job_id]
    assert record.exit_code != 0


def test_gpu_partition_hands_out_the_fake_gpus(executor: submitit.AutoExecutor) -> None:
    executor.update_parameters(slurm_partition="gpu", gpus_per_node=1)
    jobs = executor.map_array(lambda _: visible_gpus(), range(2))
    assert {job.result() for job in jobs} <= {"0", "1"}


def test_preflight_checks_pass_on_the_local_cluster() -> None:
    results = [
        *check_commands(partition="gpu"),
        check_partitions(["cpu", "gpu"]),
        check_max_array_size(),
        check_accounting(),
    ]
    assert [result.name for result in results if not result.ok] == [], results
    assert check_partitions(["cpu", "no-such-partition"]).detail.startswith("no partition no-such-partition")
