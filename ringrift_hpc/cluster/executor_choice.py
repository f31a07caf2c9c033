"""The executor a run's config asks for."""

from __future__ import annotations

import shutil

from ringrift_hpc.cluster.executor import Executor, JobResolver
from ringrift_hpc.cluster.local_executor import LocalExecutor
from ringrift_hpc.cluster.slurm_executor import SlurmExecutor
from ringrift_hpc.config import Config
from ringrift_hpc.store import RunLayout


def executor_kind(config: Config) -> str:
    """ "slurm" or "local"; ``auto`` means Slurm when ``sbatch`` is on PATH."""
    if config.executor != "auto":
        return config.executor
    return "slurm" if shutil.which("sbatch") is not None else "local"


def make_executor(config: Config, layout: RunLayout, resolve: JobResolver) -> Executor:
    """The run's executor, keeping its job files under ``RUN/jobs/<slurm|local>/``; its jobs run
    the callables ``resolve`` gives for their purposes (``jobs.registry.job_callable``)."""
    if executor_kind(config) == "slurm":
        return SlurmExecutor(
            layout.jobs_dir / "slurm", run_name=config.run.name, slurm=config.slurm, resolve=resolve
        )
    return LocalExecutor(
        layout.jobs_dir / "local",
        resolve=resolve,
        max_parallel_jobs=config.local.max_parallel_jobs,
        threads_per_job=config.local.threads_per_job,
    )
