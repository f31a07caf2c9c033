"""The coordinator's side of a term: the ordinary controller with a P2P executor.

Each round: one controller tick (in a thread: it does blocking file and rating work), then the
journal and pointer files go to the other eligible nodes; the jobs that tick submitted become
claimable only once a majority holds the journal that submitted them, so a coordinator elected
after a crash has every record any worker acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import Config
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.events import Coordinator
from ringrift_hpc.p2p.executor import P2PExecutor
from ringrift_hpc.p2p.replica import LeaderReplication, SupersededError, log_position
from ringrift_hpc.p2p.work_queue import Demand, WorkQueue
from ringrift_hpc.store import JournalWriter, LeaseLostError, RunLayout
from ringrift_hpc.store.fencing import FencingLease

log = logging.getLogger(__name__)


def job_demand(config: Config) -> Callable[[Purpose], Demand]:
    """What a job of the run needs from a worker: the configured threads, a GPU if on CUDA."""
    devices: Mapping[Purpose, str] = {
        "selfplay": config.selfplay.device,
        "train": config.training.device,
        "evaluate": config.evaluation.device,
        "tournament": config.evaluation.device,
    }

    def demand(purpose: Purpose) -> Demand:
        gpus = 1 if devices[purpose] == "cuda" else 0
        return Demand(cpus=config.local.threads_per_job, gpus=gpus, memory_mb=0)

    return demand


@dataclass
class CoordinatorTerm:
    """Everything one term of coordination holds; `run` returns when the lease is lost or stopped.

    `replication` is None on a shared filesystem: every node reads the same journal, and the
    store's file lease (`lease`) fences it.
    """

    layout: RunLayout
    config: Config
    node_id: str
    lease: FencingLease
    replication: LeaderReplication | None
    journal_lock: asyncio.Lock
    on_superseded: Callable[[int], None]

    def __post_init__(self) -> None:
        self.term = self.lease.token
        self.queue = WorkQueue(self.term, job_lease_s=self.config.p2p.job_lease_s)
        self.executor = P2PExecutor(self.queue, demand_for=job_demand(self.config))
        self.stopping = asyncio.Event()
        self.finished = False
        self.ticks = 0
        self.error = ""

    async def run(self) -> None:
        try:
            async with self.journal_lock:
                journal = JournalWriter(self.layout.journal)
            try:
                controller = Controller(self.layout, self.config, self.executor, self.lease, journal)
                # Inherited records count as committed only once a majority holds a record of this
                # term after them (Raft's rule); nothing inherited is acted on before that.
                await asyncio.to_thread(controller.record, Coordinator(node=self.node_id, term=self.term))
                await self._commit_own_term()
                await asyncio.to_thread(controller.recover_decisions)
                while not self.stopping.is_set():
                    async with self.journal_lock:
                        await asyncio.to_thread(controller.tick)
                        self.ticks += 1
                        self.finished = controller.done()
                        committed = await self._replicate()
                    length = log_position(self.layout.journal).length
                    if committed >= length:
                        self.queue.publish()
                    else:
                        log.warning(
                            "term %d: journal not yet held by a majority (%d of %d bytes); jobs stay hidden",
                            self.term,
                            committed,
                            length,
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), self.config.loop.tick_interval_s)
            finally:
                journal.close()
        except SupersededError as error:
            self.error = f"a node knows a newer term ({error}); stepped down"
            self.on_superseded(error.term)
        except LeaseLostError as error:
            self.error = str(error)
        log.warning("term %d ends: %s", self.term, self.error or "stopped")

    async def _replicate(self) -> int:
        """The journal length a majority holds (all of it on a shared filesystem)."""
        if self.replication is None:
            return log_position(self.layout.journal).length
        return await self.replication.replicate(self.term)

    async def _commit_own_term(self) -> None:
        length = log_position(self.layout.journal).length
        while await self._replicate() < length:
            self.lease.check()  # LeaseLostError ends the term if no majority answers in time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.config.p2p.heartbeat_interval_s)
            if self.stopping.is_set():
                return

    def stop(self) -> None:
        self.stopping.set()
