"""The ``Executor`` of the P2P coordinator's controller: jobs go into its ``WorkQueue``.

Workers on other nodes pull the jobs and report how they ended; what a job made reaches the
coordinator as uploaded artifacts, never as a return value. Every job, array task or not, gets
its own queue id (``JobRef.task`` is None), so workers claim them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ringrift_hpc.cluster.executor import JobError, JobRef, JobState, check_specs
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.p2p.job_codec import encode_job
from ringrift_hpc.p2p.work_queue import Demand, WorkQueue

DemandFor = Callable[[Purpose], Demand]


class P2PExecutor:
    """The ``Executor`` interface over one coordinator term's ``WorkQueue``."""

    def __init__(self, queue: WorkQueue, *, demand_for: DemandFor) -> None:
        self.queue = queue
        self._demand_for = demand_for
        self._queries = 0

    @property
    def scheduler_queries(self) -> int:
        return self._queries

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        return self.submit_array(purpose, [spec])[0]

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        # Every task is encoded before any is queued: a bad one queues none.
        jobs = [encode_job(purpose, spec) for spec in check_specs(specs)]
        demand = self._demand_for(purpose)
        return [JobRef(purpose, self.queue.add(purpose, job, demand)) for job in jobs]

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
            f"P2P job {ref.key} ({ref.purpose}) has no return value here: in P2P mode results travel as "
            f"artifacts its worker uploads to the coordinator; read them from the run directory "
            f"(its state: {self.queue.state(ref.job_id).status.value})"
        )
