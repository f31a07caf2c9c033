"""`ringrift-hpc p2p`: one node's agent — HTTP API, membership, election, worker, coordinator.

Every node runs the same agent over its own run directory. Eligible nodes vote and may win a
term; the winner runs the ordinary controller (`CoordinatorTerm`) and hands jobs to workers.
Every node, the coordinator included, works through the same HTTP calls. The status document
served at GET /v1/status is also written to RUN/p2p/status.json, which `ringrift-hpc status`
shows, so both tell the same story.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ringrift_hpc.config import load_config
from ringrift_hpc.loop.halt import clear_halt, write_halt
from ringrift_hpc.p2p.agent_link import AgentFile, agent_file, node_dir, status_file
from ringrift_hpc.p2p.artifact_routes import artifact_routes, is_streaming
from ringrift_hpc.p2p.artifacts import clean_stale_blobs
from ringrift_hpc.p2p.auth import Credentials, RequestVerifier, load_secret
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.election import Elector, VoteReply, VoteRequest
from ringrift_hpc.p2p.http_guard import guard_middleware
from ringrift_hpc.p2p.job_messages import HaltRequest
from ringrift_hpc.p2p.keepalive import keepalive_hook
from ringrift_hpc.p2p.membership import (
    NodeView,
    PeerTable,
    code_version,
    config_version,
    incompatibility,
    local_resources,
)
from ringrift_hpc.p2p.node_routes import node_routes
from ringrift_hpc.p2p.node_states import (
    DRAINING,
    RETIRED,
    NodeStateBook,
    NodeStateRequest,
    NodeStatesError,
    Setting,
    node_states_path,
    shown_state,
)
from ringrift_hpc.p2p.open_status import unsigned_status_allowed
from ringrift_hpc.p2p.preload import preload
from ringrift_hpc.p2p.replica import LeaderReplication, ReplicaPush, ReplicaReply, apply_push, log_position
from ringrift_hpc.p2p.sync import SyncError, sync_runs
from ringrift_hpc.p2p.vote_lease import VoteLease
from ringrift_hpc.p2p.wire import WireError
from ringrift_hpc.p2p.work_queue import WorkQueue
from ringrift_hpc.p2p.worker import Worker
from ringrift_hpc.store import (
    Lease,
    LeaseHeldError,
    LeaseLostError,
    RunLayout,
    StoreError,
    acquire_lease,
    atomic_write_json,
    release_lease,
    renew_lease,
)
from ringrift_hpc.store.fencing import FencingLease, FileLease

if TYPE_CHECKING:
    from ringrift_hpc.p2p.coordinator import CoordinatorTerm

log = logging.getLogger(__name__)

STATUS_FORMAT = "ringrift-hpc.p2p-status"
STALE_BLOB_S = 3600.0
# An open connection must not hold a stopping agent: SIGTERM to exit stays within a few seconds.
SHUTDOWN_TIMEOUT_S = 1.0
# The controller brings torch and h5py: an eligible node loads it before it first campaigns (in a
# thread, so the agent serves at once), a worker-only node never.
COORDINATOR_CODE = "ringrift_hpc.p2p.coordinator"


class AgentSetupError(ValueError):
    """The node cannot start as asked (eligibility, token, run directory); the message says why."""


@dataclass(frozen=True)
class NodeSettings:
    run: Path
    node_id: str
    host: str
    port: int
    url: str  # how peers reach this node
    peers: tuple[str, ...]
    eligible: bool
    token_file: Path
    max_jobs: int | None = None
    shared: bool = False  # RUN is on a filesystem every node mounts: file lease, no copies


class Agent:
    """One node's state; the coroutines in `serve` drive it."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.layout = RunLayout(settings.run)
        if not self.layout.run_config.exists():
            raise AgentSetupError(
                f"{settings.run} is not a run directory (no run.yaml); create it on every node with "
                f"`ringrift-hpc init {settings.run} --config FILE` using the same config file"
            )
        self.config = load_config(self.layout.run_config)
        p2p = self.config.p2p
        self.node_id = settings.node_id
        listed = settings.node_id in p2p.coordinators
        if settings.eligible != listed:
            raise AgentSetupError(
                f"{self.layout.run_config}: p2p.coordinators is {list(p2p.coordinators)} but node "
                f"{settings.node_id} was started {'with' if settings.eligible else 'without'} "
                "--coordinator-eligible; the flag and the list must agree (add the node to the list in "
                "the config of every node, or drop the flag)"
            )
        if not p2p.coordinators:
            raise AgentSetupError(
                f"{self.layout.run_config}: p2p.coordinators is empty, so no node may coordinate; list "
                "the ids of the 1, 3 or 5 nodes that may (the same list on every node)"
            )
        self.folder = node_dir(self.layout, settings.node_id, shared=settings.shared)
        try:
            self.node_states = NodeStateBook(node_states_path(self.layout))
        except NodeStatesError as error:
            raise AgentSetupError(str(error)) from None
        self.node_states_lock = asyncio.Lock()
        self.creds = Credentials(settings.node_id, load_secret(settings.token_file))
        self.verifier = RequestVerifier(self.creds.secret, window_s=p2p.request_window_s)
        self.peers = PeerTable(
            settings.peers, suspect_after_s=p2p.suspect_after_s, dead_after_s=p2p.dead_after_s
        )
        self.code_version = code_version()
        self.config_version = config_version(self.layout.run_config)
        self.resources = local_resources(self.layout.root)
        self.leader: str | None = None
        self.leader_heard = 0.0
        self.journal_lock = asyncio.Lock()
        self.elector = (
            Elector(
                self.node_id,
                p2p.coordinators,
                lease_s=p2p.lease_s,
                clock_drift=p2p.clock_drift,
                ask=self._ask_vote,
                own_log=lambda: log_position(self.layout.journal),
                vote_path=self.folder / "vote.json",
            )
            if settings.eligible and not settings.shared
            else None
        )
        self.file_lease: Lease | None = None
        self.file_lease_until = -math.inf
        # After a restart the fence starts at the newest term this node knows of, so a delayed
        # push of an older term cannot rewrite records of a newer one.
        self.term = max(
            log_position(self.layout.journal).term, self.elector.max_term_seen if self.elector else 0
        )
        self.session: CoordinatorTerm | None = None
        self.session_task: asyncio.Task[None] | None = None
        self.terms_led = 0
        self.clients: dict[str, PeerClient] = {}
        self.worker = Worker(
            self.layout,
            self.node_id,
            self.resources,
            settings.max_jobs or self.config.local.max_parallel_jobs,
            self.config.local.threads_per_job,
            p2p.job_lease_s,
            coordinator=self.leader_client,
            known_term=lambda: self.term,
        )
        self.keepalive = keepalive_hook(p2p)
        self.stopping = asyncio.Event()

    # -- who is who ---------------------------------------------------------------------------

    def own_view(self) -> NodeView:
        return NodeView(
            node=self.node_id,
            url=self.settings.url,
            eligible=self.settings.eligible,
            resources=self.resources,
            running_jobs=tuple(sorted(self.worker.running)),
            code_version=self.code_version,
            config_version=self.config_version,
            term=self.term,
            coordinator=self.leader,
            sent_at=time.time(),
        )

    def is_coordinator(self) -> bool:
        if self.session is None:
            return False
        if self.elector is not None:
            return self.elector.term == self.session.term and self.elector.is_coordinator()
        return (
            self.file_lease is not None
            and self.file_lease.token == self.session.term
            and time.monotonic() < self.file_lease_until
        )

    def heard(self, view: NodeView) -> None:
        now = time.monotonic()
        self.peers.heard(view, now)
        if view.coordinator is not None and view.term > self.term:
            self.observe_term(view.term, view.coordinator)
        elif view.coordinator is not None and view.term == self.term and self.leader is None:
            self.leader = view.coordinator
        if view.node == self.leader and view.coordinator == view.node and view.term == self.term:
            self.leader_heard = now

    def observe_term(self, term: int, leader: str | None = None) -> None:
        """A newer term exists somewhere: follow it (and stop coordinating an older one)."""
        if term < self.term or (term == self.term and leader is None):
            return
        if term > self.term:
            log.info("term %d (coordinator %s) replaces term %d", term, leader, self.term)
        self.term = term
        if leader is not None:
            self.leader = leader
        if self.elector is not None:
            self.elector.observe_term(term)
        if self.session is not None and self.session.term < term:
            self.session.stop()

    def url_of(self, node: str | None) -> str | None:
        if node is None:
            return None
        if node == self.node_id:
            return self.settings.url
        view = self.peers.view(node)
        return view.url if view is not None else None

    def client(self, url: str) -> PeerClient:
        if url not in self.clients:
            self.clients[url] = PeerClient(
                url, self.creds, timeout_s=max(2.0, self.config.p2p.heartbeat_interval_s * 3)
            )
        return self.clients[url]

    def leader_client(self) -> PeerClient | None:
        url = self.url_of(self.leader)
        return self.client(url) if url is not None else None

    def leader_hint(self) -> dict[str, Any]:
        return {"term": self.term, "coordinator": self.leader, "coordinator_url": self.url_of(self.leader)}

    def refusal_for(self, node: str) -> str:
        """Why `node` may not take work from this coordinator; "" when it may."""
        view = self.peers.view(node) if node != self.node_id else self.own_view()
        if view is None:
            return f"node {node} has sent no heartbeat to the coordinator yet; wait a moment"
        return incompatibility(view, self.own_view()) or ""

    def holds_node_states(self) -> bool:
        """Whether this node's copy of the node states is the coordinator's: its own, a replica
        (eligible nodes) or the one shared file. A worker-only node learns only its own state."""
        return self.is_coordinator() or self.settings.eligible or self.settings.shared

    def shown_state(self, node: str) -> str:
        """active, draining, drained or retired, by this node's copy of the node states."""
        setting = self.node_states.current().setting(node)
        if setting != DRAINING:
            return setting
        view = self.own_view() if node == self.node_id else self.peers.view(node)
        running = set(view.running_jobs) if view is not None else set()
        if self.is_coordinator() and self.session is not None:
            running |= {
                job["id"]
                for job in self.session.queue.snapshot()
                if job["node"] == node and job["state"] == "running"
            }
        return shown_state(setting, len(running))

    def own_state(self) -> str:
        if self.holds_node_states():
            return self.shown_state(self.node_id)
        return shown_state(self.worker.node_state, len(self.worker.running))

    def coordinator_queue(self) -> tuple[WorkQueue | None, str]:
        if self.is_coordinator() and self.session is not None:
            return self.session.queue, ""
        return (
            None,
            f"node {self.node_id} is not the coordinator of term {self.term} (coordinator: {self.leader})",
        )

    def halted(self) -> bool:
        return self.layout.halt.exists()

    def may_install(self, term: int) -> str | None:
        """Uploads are fenced: only the current term's jobs (or an operator's `sync`, term 0)."""
        if term == 0:
            return None
        if not self.is_coordinator() or self.session is None:
            return f"node {self.node_id} is not the coordinator; upload to {self.leader}"
        if term != self.session.term:
            return f"upload from a job of term {term} refused: the current term is {self.session.term}"
        return None

    # -- requests from peers ------------------------------------------------------------------

    def vote(self, request: VoteRequest) -> VoteReply:
        assert self.elector is not None
        reply = self.elector.handle_vote(request)
        if reply.granted and not request.probe and request.term > self.term:
            self.term = request.term
            self.leader = None
        return reply

    async def accept_replica(self, push: ReplicaPush) -> ReplicaReply:
        if push.term >= self.term:
            self.observe_term(push.term, push.leader)
            self.leader_heard = time.monotonic()
        if self.session_task is not None and self.session is not None and self.session.term < push.term:
            await self._end_session()
        async with self.journal_lock:
            return await asyncio.to_thread(apply_push, self.layout, push, known_term=self.term)

    async def halt(self, reason: str, *, cancel: bool) -> dict[str, Any]:
        if self.is_coordinator() and self.session is not None:
            write_halt(self.layout, reason)
            if cancel:
                self.session.executor.cancel_all()
            return {"halted": True, "coordinator": self.node_id, "cancelled": cancel}
        return await self._forward("/v1/halt", HaltRequest(reason=reason, cancel=cancel).to_json())

    async def resume(self) -> dict[str, Any]:
        if self.is_coordinator():
            return {"resumed": clear_halt(self.layout), "coordinator": self.node_id}
        return await self._forward("/v1/resume", {})

    async def set_node_state(self, ask: NodeStateRequest) -> dict[str, Any]:
        """Drain, retire or unretire a node: written by the coordinator, forwarded by the others."""
        if not (self.is_coordinator() and self.session is not None):
            return await self._forward("/v1/nodes/state", ask.to_json())
        term = self.session.term
        async with self.node_states_lock:
            before = self.node_states.current()
            previous: Setting = before.setting(ask.target)
            after = before.changed(
                ask.target,
                ask.state,
                reason=ask.reason,
                requested_by=ask.requested_by,
                at=time.time(),
                term=term,
            )
            await asyncio.to_thread(self.node_states.write, after)
        log.warning(
            "node %s: %s -> %s, requested by %s (%s)",
            ask.target,
            previous,
            ask.state,
            ask.requested_by,
            ask.reason,
        )
        known = ask.target == self.node_id or self.peers.view(ask.target) is not None
        return {
            "node": ask.target,
            "state": self.shown_state(ask.target),
            "previous": previous,
            "coordinator": self.node_id,
            "term": term,
            "known": known,
        }

    async def _forward(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        client = self.leader_client()
        if client is None or self.leader == self.node_id:
            return {"error": "no coordinator is known yet; try again in a few seconds", **self.leader_hint()}
        try:
            reply: dict[str, Any] = await client.post_json(path, payload)
        except PeerError as error:
            return {"error": str(error), **self.leader_hint()}
        return reply

    # -- status -------------------------------------------------------------------------------

    def status_document(self) -> dict[str, Any]:
        now = time.monotonic()
        coordinating = self.is_coordinator()
        deadline = self.elector.deadline if self.elector is not None else self.file_lease_until
        lease_left = max(0.0, deadline - now) if coordinating else None
        session = self.session
        held = self.holds_node_states()
        peers = self.peers.peers(now, coordinator=self.own_view() if coordinating else None)
        for row in peers:
            if row.get("node") is not None:
                row["state"] = self.shown_state(str(row["node"])) if held else None
        states = self.node_states.current()
        return {
            "format": STATUS_FORMAT,
            "format_version": 1,
            "node": self.node_id,
            "url": self.settings.url,
            "eligible": self.settings.eligible,
            "role": "coordinator" if coordinating else "worker",
            "mode": "shared run directory (file lease)" if self.settings.shared else "own run directory (votes)",
            "term": self.term,
            "coordinator": {
                "node": self.leader,
                "url": self.url_of(self.leader),
                "lease_remaining_s": lease_left,
            },
            "terms_led": self.terms_led,
            "halted": self.halted(),
            "code_version": self.code_version,
            "config_version": self.config_version,
            "resources": self.resources.to_json(),
            "state": self.own_state(),
            "node_states": (
                {
                    node: {**entry.to_json(), "shown": self.shown_state(node)}
                    for node, entry in states.nodes.items()
                }
                if held
                else None
            ),
            "peers": peers,
            "controller": (
                {
                    "term": session.term,
                    "ticks": session.ticks,
                    "finished": session.finished,
                    "error": session.error,
                }
                if session is not None
                else None
            ),
            "jobs": session.queue.snapshot() if coordinating and session is not None else [],
            "running": [
                {"job_id": t.job_id, "term": t.term, "purpose": t.purpose, "state": t.state}
                for t in self.worker.running.values()
            ],
            "jobs_finished_here": self.worker.completed,
            "work_refused": self.worker.last_refusal,
            "keepalive": [dataclasses.asdict(o) for o in self.keepalive.history] if self.keepalive else [],
            "written_at": time.time(),
        }

    # -- loops --------------------------------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        interval = self.config.p2p.heartbeat_interval_s
        # One beat in flight per peer: a peer that does not answer must not delay the others
        # (or this node's own status file) by its connection timeout.
        beating: dict[str, asyncio.Task[None]] = {}
        while not self.stopping.is_set():
            for url in self.peers.urls():
                if url != self.settings.url and (url not in beating or beating[url].done()):
                    beating[url] = asyncio.create_task(self._beat(url))
            await asyncio.to_thread(atomic_write_json, status_file(self.folder), self.status_document())
            await self._sleep(interval)
        for task in beating.values():
            task.cancel()

    async def _beat(self, url: str) -> None:
        try:
            reply = await self.client(url).post_json("/v1/heartbeat", self.own_view().to_json())
            self.heard(NodeView.from_json(reply))
        except (PeerError, WireError) as error:
            log.debug("heartbeat to %s failed: %s", url, error)

    async def election_loop(self) -> None:
        assert self.elector is not None
        p2p = self.config.p2p
        next_renewal = 0.0
        await preload(COORDINATOR_CODE)
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.is_coordinator():
                if now >= next_renewal:
                    next_renewal = now + p2p.lease_s / 3
                    if not await self.elector.renew():
                        log.warning("term %d: renewal not granted by a majority", self.elector.term)
                if not self.elector.is_coordinator():
                    log.warning("term %d: lease expired without a majority; stepping down", self.elector.term)
                    await self._end_session()
            else:
                if self.session is not None:
                    await self._end_session()
                if self._leader_missing(now):
                    await self._sleep(random.uniform(0, p2p.heartbeat_interval_s))
                    if await self.elector.campaign():
                        await self._start_session()
                        next_renewal = time.monotonic() + p2p.lease_s / 3
            await self._sleep(p2p.heartbeat_interval_s / 2)

    async def file_lease_loop(self) -> None:
        """On a shared run directory the store's file lease decides who coordinates; its fencing
        token is the term."""
        p2p = self.config.p2p
        next_renewal = 0.0
        await preload(COORDINATOR_CODE)
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.file_lease is not None:
                if now >= next_renewal:
                    next_renewal = now + p2p.lease_s / 3
                    try:
                        await asyncio.to_thread(renew_lease, self.file_lease)
                        self.file_lease_until = now + p2p.lease_s * (1 - p2p.clock_drift)
                    except LeaseLostError as error:
                        log.warning("file lease lost: %s", error)
                        self.file_lease_until = -math.inf
                if time.monotonic() >= self.file_lease_until:
                    log.warning("token %d: file lease not renewed in time; stepping down", self.file_lease.token)
                    self.file_lease = None
                    await self._end_session()
            elif self._leader_missing(now):
                if self.session is not None:
                    await self._end_session()
                try:
                    lease = await asyncio.to_thread(
                        acquire_lease, self.layout.lease, self.layout.fence_dir, ttl_s=p2p.lease_s
                    )
                except LeaseHeldError:
                    pass
                else:
                    self.file_lease, self.file_lease_until = lease, now + p2p.lease_s * (1 - p2p.clock_drift)
                    next_renewal = now + p2p.lease_s / 3
                    await self._start_session()
            await self._sleep(p2p.heartbeat_interval_s / 2)

    def _leader_missing(self, now: float) -> bool:
        if self.leader is None or self.leader == self.node_id:
            return True
        return now - self.leader_heard > self.config.p2p.suspect_after_s

    async def _ask_vote(self, node: str, request: VoteRequest) -> VoteReply | None:
        url = self.url_of(node)
        if url is None:
            return None
        try:
            return VoteReply.from_json(await self.client(url).post_json("/v1/vote", request.to_json()))
        except (PeerError, WireError):
            return None

    async def _send_replica(self, node: str, push: ReplicaPush) -> ReplicaReply | None:
        url = self.url_of(node)
        if url is None:
            return None
        try:
            return ReplicaReply.from_json(await self.client(url).post_json("/v1/replica", push.to_json()))
        except (PeerError, WireError):
            return None

    async def _start_session(self) -> None:
        lease: FencingLease
        if self.elector is not None:
            lease = VoteLease(self.elector, self.elector.term)
            replication = LeaderReplication(
                self.layout, self.node_id, self.config.p2p.coordinators, send=self._send_replica
            )
            await self._gather_artifacts()
        else:
            assert self.file_lease is not None
            lease, replication = FileLease(self.file_lease), None
        self.term, self.leader, self.terms_led = lease.token, self.node_id, self.terms_led + 1
        log.warning("node %s coordinates term %d", self.node_id, lease.token)
        from ringrift_hpc.p2p.coordinator import CoordinatorTerm  # preloaded by the election loops

        self.session = CoordinatorTerm(
            self.layout, self.config, self.node_id, lease, replication, self.journal_lock, self.observe_term
        )
        self.session_task = asyncio.create_task(self.session.run())

    async def _end_session(self) -> None:
        if self.session is not None:
            self.session.stop()
        if self.session_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.session_task
        self.session, self.session_task = None, None

    async def _gather_artifacts(self) -> None:
        """A new coordinator first fetches what any live peer has published and it lacks."""
        for view in self.peers.views():
            if view.node != self.node_id and self.peers.liveness(view.node, time.monotonic()) == "alive":
                await self._pull_from(self.client(view.url))

    async def _pull_from(self, client: PeerClient) -> int:
        try:
            return len((await sync_runs(client, self.layout)).copied)
        except (PeerError, SyncError, StoreError, OSError, ValueError) as error:
            log.warning("pulling artifacts from %s failed: %s", client, error)
            return 0

    async def artifact_loop(self) -> None:
        """Eligible followers mirror the coordinator's artifacts, ready to take over; every node
        drops uploads staged an hour ago whose install never came."""
        while not self.stopping.is_set():
            client = self.leader_client()
            if self.elector is not None and client is not None and self.leader != self.node_id:
                await self._pull_from(client)
            await asyncio.to_thread(clean_stale_blobs, self.layout, min_age_s=STALE_BLOB_S)
            await self._sleep(self.config.p2p.sync_interval_s)

    async def worker_loop(self) -> None:
        while not self.stopping.is_set():
            if self.leader is not None:
                await self.worker.step()
            await self._sleep(self.config.p2p.heartbeat_interval_s)

    async def keepalive_loop(self) -> None:
        assert self.keepalive is not None
        while not self.stopping.is_set():
            if self.is_coordinator():
                now = time.monotonic()
                states = self.node_states.current()
                for view in self.peers.views():
                    if states.setting(view.node) == RETIRED:
                        continue  # switched off on purpose: reviving it would undo the operator's retire
                    if self.peers.liveness(view.node, now) == "dead":
                        await self.keepalive.tend(view.node, view.url)
                    else:
                        self.keepalive.alive(view.node)
            await self._sleep(self.config.p2p.heartbeat_interval_s)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def close(self) -> None:
        self.stopping.set()
        await self._end_session()
        if self.file_lease is not None:
            # Handing the lease back lets the next node take over at once, not after its ttl.
            await asyncio.to_thread(release_lease, self.file_lease)
        await self.worker.close()
        for client in self.clients.values():
            await client.close()


async def serve(settings: NodeSettings, *, ready: Callable[[Agent], Awaitable[None]] | None = None) -> None:
    """Run the agent until `stop` is set (SIGTERM/SIGINT in the CLI)."""
    agent = Agent(settings)
    p2p = agent.config.p2p
    max_body = p2p.max_body_mb << 20
    app = web.Application(
        middlewares=[
            guard_middleware(
                agent.verifier,
                max_body_bytes=max_body,
                streaming=is_streaming,
                unsigned=lambda request: unsigned_status_allowed(
                    request.method, request.path, request.remote, public=p2p.public_status
                ),
                unsigned_hint="only GET /status is answered without a signature, from this machine or, with "
                "p2p.public_status: true, from anywhere",
            )
        ],
        client_max_size=max_body,
    )
    app.add_routes(node_routes(agent))
    app.add_routes(artifact_routes(agent.layout, may_install=agent.may_install, max_body_bytes=max_body))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        if ready is not None:
            # Before the agent file announces the node: a SIGTERM from then on stops it cleanly
            # (the CLI's `ready` installs the signal handlers).
            await ready(agent)
        agent.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            agent_file(agent.folder),
            AgentFile(
                node=agent.node_id, url=settings.url, token_file=str(settings.token_file.resolve())
            ).to_json(),
        )
        log.warning("node %s serving %s on %s:%d", agent.node_id, settings.url, settings.host, settings.port)
        loops = [agent.heartbeat_loop(), agent.worker_loop(), agent.artifact_loop()]
        if agent.elector is not None:
            loops.append(agent.election_loop())
        elif settings.shared and settings.eligible:
            loops.append(agent.file_lease_loop())
        if agent.keepalive is not None:
            loops.append(agent.keepalive_loop())
        tasks = [asyncio.create_task(loop) for loop in loops]
        await agent.stopping.wait()
    finally:
        await agent.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            agent_file(agent.folder).unlink()
