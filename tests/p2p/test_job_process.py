"""A claimed job in its own process: a tiny bootstrap selfplay task runs end to end in the
worker's own run directory, a failing job exits 1 with its traceback, and terminate ends the
job's whole process group."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loop.tiny_run import make_tiny_run

from ringrift_hpc.cluster.local_files import process_alive
from ringrift_hpc.config import load_config
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.p2p.job_codec import encode_job
from ringrift_hpc.p2p.job_process import STDERR_FILE, RunningJob, main, run_job_file, start_job
from ringrift_hpc.store import read_manifest

from .job_specs import selfplay_spec

DEADLINE_S = 120.0


def test_a_selfplay_job_publishes_its_shard_in_the_workers_run(tmp_path: Path) -> None:
    worker = make_tiny_run(tmp_path / "worker")  # `ringrift-hpc init` of the worker's own run
    config = load_config(worker.run_config)
    spec = SelfplaySpec.from_config(
        config,
        run_root=tmp_path / "coordinator",
        variant="square8_2p",
        generation=0,
        task_index=3,
        model_id="none",
    )
    job = encode_job("selfplay", spec)

    async def run() -> tuple[int, str]:
        running = await start_job(job, worker.root, tmp_path / "work", threads=1)
        try:
            return await asyncio.wait_for(running.wait(), DEADLINE_S)
        finally:
            await running.terminate(grace_s=5.0)  # a no-op unless the job overran

    code, tail = asyncio.run(run())
    assert code == 0, tail
    shard = worker.selfplay_shard("square8_2p", 0, "000003")
    manifest = read_manifest(shard, verify=True).manifest
    assert manifest.metadata["games"] == config.selfplay.games_per_task
    assert not (tmp_path / "coordinator").exists()
    assert (tmp_path / "work" / "JOB.json").exists()


def test_a_failing_job_exits_1_with_the_traceback_tail(tmp_path: Path) -> None:
    missing_model = "ab" * 32
    spec = selfplay_spec(tmp_path / "elsewhere").replace(generation=1, model_id=missing_model)
    job = encode_job("selfplay", spec)

    async def run() -> tuple[int, str]:
        running = await start_job(job, tmp_path / "run", tmp_path / "work", threads=1)
        try:
            return await asyncio.wait_for(running.wait(), DEADLINE_S)
        finally:
            await running.terminate(grace_s=5.0)

    code, tail = asyncio.run(run())
    assert code == 1
    assert tail.startswith("Traceback") or "\nTraceback" in tail
    assert tail.rstrip().splitlines()[-1].startswith("ValueError: ")
    assert "does not exist, but the spec's model_id is " + missing_model in tail


def test_a_bad_job_file_is_a_failure_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "JOB.json"
    path.write_text('{"purpose": "mine", "spec": "{}"}')
    assert run_job_file(path) == 1
    assert "JobDocumentError: job document: field 'purpose' must be one of" in capsys.readouterr().err
    assert main([]) == 2


def test_start_job_gives_the_job_its_own_group_and_thread_count(tmp_path: Path) -> None:
    job = encode_job("selfplay", selfplay_spec(tmp_path / "run", games=100_000))

    async def run() -> tuple[int, int, dict[str, str], int]:
        running = await start_job(job, tmp_path / "run", tmp_path / "work", threads=2)
        try:
            environ = (Path("/proc") / str(running.pid) / "environ").read_bytes().split(b"\0")
            env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
            group = os.getpgid(running.pid)
        finally:
            await asyncio.wait_for(running.terminate(grace_s=DEADLINE_S), DEADLINE_S)
        code, _ = await running.wait()
        return running.pid, group, env, code

    pid, group, env, code = asyncio.run(run())
    assert group == pid != os.getpgid(0)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["SLURM_CPUS_PER_TASK"] == "2"
    assert code == -signal.SIGTERM


_IGNORE_TERM = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
_SLEEP = "import time; time.sleep(300)"


def _stubborn_job(leader_ignores_term: bool) -> str:
    """A job whose child ignores SIGTERM (and prints its pid once it does), as does the job itself
    if ``leader_ignores_term``."""
    child = f"{_IGNORE_TERM}; import os; print(os.getpid(), flush=True); {_SLEEP}"
    return "\n".join(
        [
            "import subprocess, sys",
            _IGNORE_TERM if leader_ignores_term else "",
            f"subprocess.Popen([sys.executable, '-c', {child!r}])",
            _SLEEP,
        ]
    )


@pytest.mark.parametrize("leader_ignores_term", [True, False])
def test_terminate_leaves_nothing_of_the_group_alive(tmp_path: Path, leader_ignores_term: bool) -> None:
    """SIGKILL after the grace for a job that ignores SIGTERM; either way its children die too."""

    async def run() -> tuple[int, int, float]:
        with (tmp_path / "out").open("wb") as out, (tmp_path / STDERR_FILE).open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _stubborn_job(leader_ignores_term),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        running = RunningJob(process, tmp_path)
        try:
            started = time.monotonic()
            while not (tmp_path / "out").read_text().strip():
                assert time.monotonic() - started < DEADLINE_S, "the job never started its child"
                await asyncio.sleep(0.05)
            child = int((tmp_path / "out").read_text())
            begun = time.monotonic()
            await asyncio.wait_for(running.terminate(grace_s=1.0), DEADLINE_S)
            took = time.monotonic() - begun
            code, _ = await running.wait()
            return child, code, took
        finally:
            await running.terminate(grace_s=0.0)  # whatever failed above, nothing is left running

    child, code, took = asyncio.run(run())
    if leader_ignores_term:
        assert code == -signal.SIGKILL and took >= 1.0
    else:
        assert code == -signal.SIGTERM and took < 1.0
    deadline = time.monotonic() + 10
    while process_alive(child, None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child, None)
