"""One claimed P2P job in its own process: ``python -m ringrift_hpc.p2p.job_process JOB.json``.

``JOB.json`` is a job document (``job_codec``) already rebased to this node's run directory;
the process runs its purpose's job (``jobs.registry``) on its spec and exits 0, or prints the traceback on stderr
and exits 1. What the job made is in the run directory, published with manifests; the worker
uploads it from there. ``start_job`` starts such a process in its own process group, so that
``terminate`` reaches the job's own children (training's DDP workers) too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from ringrift_hpc.cluster.executor import tail_text
from ringrift_hpc.cluster.local_executor import _THREAD_VARIABLES, _signal_group
from ringrift_hpc.jobs.registry import job_callable
from ringrift_hpc.p2p.job_codec import decode_job, rebase_job
from ringrift_hpc.store.atomic import atomic_write_json, ensure_dir

JOB_FILE = "JOB.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


def run_job_file(path: Path) -> int:
    """Run the job in ``path``; the process exit code."""
    try:
        purpose, spec = decode_job(json.loads(path.read_text()))
        job_callable(purpose)(spec)
    except Exception:  # noqa: BLE001  # whatever the job raised is its failure: the worker reports it
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        return 1
    return 0


class RunningJob:
    """A started job process; ``wait`` for its end or ``terminate`` it."""

    def __init__(self, process: asyncio.subprocess.Process, work_dir: Path) -> None:
        self.process = process
        self.work_dir = work_dir

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait(self) -> tuple[int, str]:
        """The exit code (negative: killed by that signal) and the tail of the job's stderr."""
        code = await self.process.wait()
        stderr = self.work_dir / STDERR_FILE
        return code, tail_text(stderr.read_text(errors="replace")) if stderr.exists() else ""

    async def terminate(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the job's process group; SIGKILL to it after ``grace_s`` if the job still runs."""
        if self.process.returncode is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace_s)
            except asyncio.TimeoutError:
                _signal_group(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        # Children that outlived the job's main process would keep its CPUs or GPU.
        _signal_group(self.process.pid, signal.SIGKILL)


async def start_job(job: Mapping[str, str], run_root: Path, work_dir: Path, *, threads: int) -> RunningJob:
    """Write ``job`` rebased to ``run_root`` into ``work_dir`` and start it with ``threads`` threads."""
    if threads < 1:
        raise ValueError(f"threads is {threads}; a job needs at least 1")
    ensure_dir(work_dir)
    job_file = work_dir / JOB_FILE
    atomic_write_json(job_file, rebase_job(job, run_root))
    env = dict(os.environ)
    env.update({name: str(threads) for name in _THREAD_VARIABLES})
    # The jobs size torch's thread pool from these (jobs.slurm_env.available_cpus); Slurm's
    # variable too, as it wins there and an agent may run inside a Slurm allocation.
    env["SLURM_CPUS_PER_TASK"] = str(threads)
    with (work_dir / STDOUT_FILE).open("wb") as out, (work_dir / STDERR_FILE).open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ringrift_hpc.p2p.job_process",
            str(job_file),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=work_dir,
            start_new_session=True,
        )
    return RunningJob(process, work_dir)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ringrift_hpc.p2p.job_process JOB.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return run_job_file(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
