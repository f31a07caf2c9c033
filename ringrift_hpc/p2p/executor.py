"""The ``Executor`` of the P2P coordinator's controller: jobs go into its ``WorkQueue``.

Workers on other nodes pull the jobs and report how they ended; what a job made reaches the
coordinator as uploaded artifacts, never as a return value. Every job, array task or not, gets
its own queue id (``JobRef.task`` is None), so workers claim them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ringrift_hpc.cluster.executor import JobError, JobRef, JobState, check_args_list
from ringrift_hpc.config.slurm import JobKind
from ringrift_hpc.p2p.job_codec import encode_job
from ringrift_hpc.p2p.work_queue import Demand, WorkQueue

DemandFor = Callable[[str, Mapping[str, str]], Demand]


class P2PExecutor:
    """The ``Executor`` interface over one coordinator term's ``WorkQueue``."""

    def __init__(self, queue: WorkQueue, *, demand_for: DemandFor) -> None:
        self.queue = queue
        self._demand_for = demand_for
        self._queries = 0

    @property
    def scheduler_queries(self) -> int:
        return self._queries

    def submit(self, kind: JobKind, fn: Callable[..., Any], args: Sequence[Any]) -> JobRef:
        return self.submit_array(kind, fn, [args])[0]

    def submit_array(
        self, kind: JobKind, fn: Callable[..., Any], args_list: Sequence[Sequence[Any]]
    ) -> list[JobRef]:
        # Every task is encoded before any is queued: a bad one queues none.
        jobs = [encode_job(fn, args) for args in check_args_list(args_list)]
        demands = [self._demand_for(kind, job) for job in jobs]
        return [JobRef(kind, self.queue.add(kind, job, demand)) for job, demand in zip(jobs, demands)]

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        """One look at the queue: lapsed leases go back in line first."""
        self._queries += 1
        self.queue.expire()
        return {ref: self.queue.state(ref.job_id) for ref in refs}

    def cancel(self, refs: Iterable[JobRef]) -> None:
        self.queue.cancel(ref.job_id for ref in refs)

    def cancel_all(self) -> None:
        self.queue.cancel_all()

    def error_text(self, ref: JobRef) -> str:
        return self.queue.error_text(ref.job_id)

    def result(self, ref: JobRef) -> Any:
        raise JobError(
            f"P2P job {ref.key} ({ref.kind}) has no return value here: in P2P mode results travel as "
            f"artifacts its worker uploads to the coordinator; read them from the run directory "
            f"(its state: {self.queue.state(ref.job_id).status.value})"
        )
