"""`ringrift-hpc loop RUN`: take the controller lease, replay the journal, tick until done.

A live lease held by another controller is a polite refusal (`ControllerRunningError`); an
expired or released one is taken over with a larger fencing token, so the old holder's writes
are refused from then on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ringrift_hpc.cluster.executor import Executor
from ringrift_hpc.cluster.executor_choice import make_executor
from ringrift_hpc.config import Config, load_config
from ringrift_hpc.jobs.registry import job_callable
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.metrics import MetricsServer
from ringrift_hpc.store import (
    JournalWriter,
    LeaseHeldError,
    RunLayout,
    acquire_lease,
    read_lease,
    release_lease,
)
from ringrift_hpc.store.fencing import FileLease

log = logging.getLogger(__name__)

MIN_LEASE_TTL_S = 60.0


class ControllerRunningError(RuntimeError):
    """Another live controller holds the run's lease."""


@dataclass(frozen=True)
class LoopOutcome:
    ticks: int
    finished: bool  # every variant reached loop.max_generations


def lease_ttl(config: Config) -> float:
    """Long enough for several slow ticks; a dead controller's lease expires after this."""
    return max(MIN_LEASE_TTL_S, 6 * config.loop.tick_interval_s)


def run_loop(
    layout: RunLayout,
    *,
    once: bool = False,
    max_ticks: int | None = None,
    executor: Executor | None = None,
    lease_ttl_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    after_tick: Callable[[], None] | None = None,
) -> LoopOutcome:
    """Run the controller of the run at `layout` until done, `max_ticks`, or one tick with `once`.

    `lease_ttl_s` overrides the lease's lifetime (tests restart killed controllers quickly);
    `after_tick` is called after each tick (`loop` prints the journal's new records).
    """
    config = load_config(layout.run_config)
    try:
        lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=lease_ttl_s or lease_ttl(config))
    except LeaseHeldError:
        holder = read_lease(layout.lease)
        who = holder.describe() if holder is not None else "another process"
        raise ControllerRunningError(
            f"{layout.root}: a controller is already running ({who}); use `ringrift-hpc status {layout.root}` "
            "to watch it, or stop it before starting another"
        ) from None
    server = MetricsServer.for_run(layout, config.metrics).start() if config.metrics.serve else None
    ticks = 0
    try:
        with JournalWriter(layout.journal) as journal:
            executor = executor or make_executor(config, layout, job_callable)
            controller = Controller(layout, config, executor, FileLease(lease), journal)
            controller.recover_decisions()
            limit = 1 if once else max_ticks
            while True:
                controller.tick()
                ticks += 1
                if after_tick is not None:
                    after_tick()
                if controller.done():
                    return LoopOutcome(ticks, True)
                if limit is not None and ticks >= limit:
                    return LoopOutcome(ticks, False)
                sleep(config.loop.tick_interval_s)
    finally:
        if server is not None:
            server.stop()
        release_lease(lease)
