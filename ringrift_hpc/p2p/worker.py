"""A node's worker side: claim jobs that fit, fetch their inputs, run them, push the results.

Every call goes to the coordinator over HTTP, the coordinator's own worker included, so there
is one path. A job runs in a subprocess in this node's run directory; its lease is kept by
heartbeats and a `cancel` answer (halt --cancel, a lapsed lease, a new term) terminates it.
Only the artifacts the job itself published, in the folders its purpose publishes into
(``jobs.registry``), are uploaded, tagged with the job's term, so the coordinator of a later
term refuses a stale job's output. "The job itself" includes earlier runs of the same job
document on this node that published but delivered nothing (``undelivered``): the retry of an
idempotent job finds their output and makes nothing new, so it delivers theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.loop.halt import clear_halt, read_halt, write_halt
from ringrift_hpc.p2p import undelivered
from ringrift_hpc.p2p.artifacts import ArtifactEntry, artifact_index
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.job_messages import ClaimReply, ClaimRequest, JobHeartbeat, JobHeartbeatReply, JobReport
from ringrift_hpc.p2p.membership import Resources
from ringrift_hpc.p2p.node_states import ACTIVE, Setting
from ringrift_hpc.p2p.preload import preload
from ringrift_hpc.p2p.sync import SyncError, list_artifacts, sync_runs
from ringrift_hpc.p2p.wire import WireError
from ringrift_hpc.p2p.work_queue import ClaimedJob, Demand
from ringrift_hpc.store import RunLayout

log = logging.getLogger(__name__)

MIRRORED_HALT = "halted by the P2P coordinator"
# A stopping agent gives its running jobs this long after SIGTERM, then kills them: the agent
# must be gone within a few seconds of its own SIGTERM.
STOP_GRACE_S = 2.0
JOB_CODE = "ringrift_hpc.p2p.job_process"  # imports job_codec and every job


@dataclass
class RunningTask:
    job_id: str
    term: int
    purpose: str
    demand: Demand
    state: str = "fetching"
    cancelled: bool = False


@dataclass
class Worker:
    """Pulls and runs jobs for one node; `step` is one claim attempt."""

    layout: RunLayout
    node_id: str
    resources: Resources
    max_jobs: int
    threads_per_job: int
    job_lease_s: float
    coordinator: Callable[[], PeerClient | None]
    known_term: Callable[[], int]
    running: dict[str, RunningTask] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    last_refusal: str = ""
    completed: int = 0  # jobs this node ran to an end (any end), for the status document
    node_state: Setting = ACTIVE  # as the coordinator's last claim reply said (drain, retire)

    def free(self) -> Demand:
        used_cpus = sum(t.demand.cpus for t in self.running.values())
        used_gpus = sum(t.demand.gpus for t in self.running.values())
        slots = self.max_jobs - len(self.running)
        cpus = min(self.resources.cpus - used_cpus, slots * self.threads_per_job) if slots > 0 else 0
        return Demand(
            cpus=max(cpus, 0),
            gpus=max(self.resources.gpus - used_gpus, 0),
            memory_mb=self.resources.memory_mb,
        )

    async def step(self) -> None:
        """Ask the coordinator for one job if a slot is free; start it in the background."""
        client = self.coordinator()
        if client is None or len(self.running) >= self.max_jobs:
            return
        # The job code brings torch and h5py: loaded once there is work to ask for, not at start.
        await preload(JOB_CODE)
        ask = ClaimRequest(node=self.node_id, term_seen=self.known_term(), free=self.free())
        try:
            reply = ClaimReply.from_json(await client.post_json("/v1/jobs/claim", ask.to_json()))
        except PeerError as error:
            self.last_refusal = error.payload.get("error", str(error))
            return
        except WireError as error:
            self.last_refusal = f"the coordinator's answer to a claim is malformed: {error}"
            return
        self.last_refusal = ""
        self.node_state = reply.node_state
        self.mirror_halt(reply.halted)
        if reply.job is not None:
            task = asyncio.create_task(self._run(client, reply.job))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def mirror_halt(self, halted: bool) -> None:
        """Keep this node's HALT in step with the coordinator's, so running jobs stop starting work."""
        current = read_halt(self.layout)
        if halted and current is None:
            write_halt(self.layout, MIRRORED_HALT)
        elif not halted and current is not None and current.reason == MIRRORED_HALT:
            clear_halt(self.layout)

    async def _run(self, client: PeerClient, claimed: ClaimedJob) -> None:
        from ringrift_hpc.p2p.job_process import start_job  # preloaded by `step`

        job_id, term, job = claimed.job_id, claimed.term, claimed.job
        task = RunningTask(
            job_id, term, claimed.purpose, Demand(cpus=self.threads_per_job, gpus=0, memory_mb=0)
        )
        self.running[job_id] = task
        beat = asyncio.create_task(self._heartbeats(client, task))
        started = time.monotonic()
        status, exit_code, error = JobStatus.FAILED, None, ""
        before: set[str] | None = None  # the run's artifacts when the job started
        delivered = False
        try:
            await self._fetch_inputs(client, task.purpose)
            # After the fetch: what it copied in is the coordinator's, not the job's.
            before = {e.path for e in artifact_index(self.layout)}
            work_dir = self.layout.root / "p2p" / "work" / job_id
            running = await start_job(job, self.layout.root, work_dir, threads=self.threads_per_job)
            # The pid lets an operator (or a test) find a job that outlived a killed agent.
            (work_dir / "pid").write_text(str(running.pid))
            task.state = "running"
            waiter = asyncio.create_task(running.wait())
            try:
                while not waiter.done():
                    await asyncio.wait({waiter}, timeout=0.5)
                    if task.cancelled and not waiter.done():
                        await running.terminate()
            except asyncio.CancelledError:
                # The agent stops (`close`): the job runs in a session of its own and would
                # outlive it, keeping its CPUs and writing into the run directory.
                await running.terminate(grace_s=STOP_GRACE_S)
                raise
            exit_code, error = waiter.result()
            if exit_code == 0 and not task.cancelled:
                task.state = "uploading"
                await self._upload_new(client, job, before, term, task.purpose)
                delivered = True
                status = JobStatus.COMPLETED
            elif task.cancelled:
                status = JobStatus.CANCELLED
        except (PeerError, SyncError, OSError, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if not delivered and before is not None:
                self._keep_undelivered(job, before, task.purpose)
        report = JobReport(
            node=self.node_id,
            job_id=job_id,
            term=term,
            status=status,
            exit_code=exit_code,
            elapsed_s=int(time.monotonic() - started),
            error=error[-4000:],
        )
        try:
            await client.post_json("/v1/jobs/report", report.to_json())
        except PeerError as refused:
            log.warning("job %s (term %d): report refused: %s", job_id, term, refused)
        finally:
            self.running.pop(job_id, None)
            self.completed += 1

    async def _heartbeats(self, client: PeerClient, task: RunningTask) -> None:
        while True:
            await asyncio.sleep(self.job_lease_s / 3)
            if self.known_term() > task.term:
                # A newer coordinator refuses this job's result; stop spending the CPU on it.
                log.warning(
                    "job %s: term %d is over (now %d); stopping it", task.job_id, task.term, self.known_term()
                )
                task.cancelled = True
                return
            beat = JobHeartbeat(node=self.node_id, job_id=task.job_id, term=task.term)
            try:
                reply = JobHeartbeatReply.from_json(
                    await client.post_json("/v1/jobs/heartbeat", beat.to_json())
                )
            except PeerError as error:
                if error.status is None:
                    continue  # coordinator unreachable: the job lease decides, not one lost beat
                reply = JobHeartbeatReply(ok=False, cancel=True, reason=str(error), halted=False)
            except WireError as error:
                log.warning("job %s: malformed heartbeat reply: %s", task.job_id, error)
                continue  # as an unanswered beat: the job lease decides
            self.mirror_halt(reply.halted)
            if reply.cancel:
                log.warning("job %s: coordinator says cancel (%s)", task.job_id, reply.reason)
                task.cancelled = True

    async def _fetch_inputs(self, client: PeerClient, purpose: str) -> None:
        from ringrift_hpc.p2p.job_codec import job_inputs  # preloaded by `step`

        folders = tuple(f"/{name}/" for name in job_inputs(purpose))
        await sync_runs(client, self.layout, only=lambda e: any(f in f"/{e.path}" for f in folders))

    async def _upload_new(
        self, client: PeerClient, job: dict[str, str], before: set[str], term: int, purpose: str
    ) -> None:
        # What the job made in the folders its purpose publishes into, and what earlier runs of
        # the same job document made here and did not deliver; no other local artifact.
        made = _made_by(before, purpose)
        owed = undelivered.recorded(self.layout, job)
        if owed:
            # Another node's run of the job may have delivered meanwhile: the coordinator's stands.
            owed -= {e.path for e in await list_artifacts(client)}
        await sync_runs(self.layout, client, term=term, only=lambda e: made(e) or e.path in owed)
        undelivered.forget(self.layout, job)

    def _keep_undelivered(self, job: dict[str, str], before: set[str], purpose: str) -> None:
        """Record what this run of ``job`` published, for a retry of it on this node to deliver."""
        try:
            made = _made_by(before, purpose)
            undelivered.record(self.layout, job, (e.path for e in artifact_index(self.layout) if made(e)))
        except (OSError, ValueError) as failure:
            # Not fatal to the report: the artifacts stay in this run directory for `sync`.
            log.warning("could not record the undelivered artifacts of a %s job: %s", purpose, failure)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _made_by(before: set[str], purpose: str) -> Callable[[ArtifactEntry], bool]:
    """Whether an artifact is new since ``before``, in a folder a ``purpose`` job publishes into."""
    from ringrift_hpc.p2p.job_codec import job_outputs  # preloaded by `Worker.step`

    folders = tuple(f"/{name}/" for name in job_outputs(purpose))
    return lambda e: e.path not in before and any(f in f"/{e.path}" for f in folders)
