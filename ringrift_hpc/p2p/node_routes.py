"""The node agent's own HTTP handlers: status, heartbeats, votes, replicas, jobs, halt/resume,
node states (drain, retire).

Thin: each handler parses the verified JSON body into its wire document (400 naming every bad
field), checks that the sender it names signed the request, asks the agent, and answers JSON.
A request that an older term sent, or that reaches a node that is not the coordinator, gets
409 with the current term and coordinator so the sender can step down or redirect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from ringrift_hpc.cluster.executor import JobState
from ringrift_hpc.p2p.election import VoteRequest
from ringrift_hpc.p2p.http_guard import PEER_NODE, json_error, read_json
from ringrift_hpc.p2p.job_messages import (
    ClaimReply,
    ClaimRequest,
    HaltRequest,
    JobHeartbeat,
    JobHeartbeatReply,
    JobReport,
    JobReportReply,
)
from ringrift_hpc.p2p.membership import NodeView
from ringrift_hpc.p2p.node_states import ACTIVE, NodeStateRequest
from ringrift_hpc.p2p.open_status import public_status
from ringrift_hpc.p2p.replica import ReplicaPush
from ringrift_hpc.p2p.wire import WireError, WireModel
from ringrift_hpc.p2p.work_queue import StaleTermError, WorkQueue

if TYPE_CHECKING:
    from ringrift_hpc.p2p.agent import Agent

_D = TypeVar("_D", bound=WireModel)
_Job = TypeVar("_Job", ClaimRequest, JobReport)


def _forged(request: web.Request, sender: str) -> web.Response | None:
    """Calls name their sender in the body; it must be the node that signed the request."""
    if sender != request[PEER_NODE]:
        return json_error(403, f"request signed by node {request[PEER_NODE]} speaks for node {sender!r}")
    return None


async def _parse(request: web.Request, document: type[_D]) -> _D | web.Response:
    """The verified body as `document`, or the 400 answer naming every bad field."""
    body = await read_json(request)
    try:
        return document.from_json(body)
    except WireError as error:
        return json_error(400, f"bad {error}")


def node_routes(agent: Agent) -> list[web.RouteDef]:
    async def status(request: web.Request) -> web.Response:
        doc = agent.status_document()
        # Unsigned (a status read the guard let through): only what anyone may see.
        return web.json_response(doc if PEER_NODE in request else public_status(doc))

    async def heartbeat(request: web.Request) -> web.Response:
        view = await _parse(request, NodeView)
        if isinstance(view, web.Response):
            return view
        if (forged := _forged(request, view.node)) is not None:
            return forged
        agent.heard(view)
        return web.json_response(agent.own_view().to_json())

    async def vote(request: web.Request) -> web.Response:
        if agent.elector is None:
            return json_error(403, f"node {agent.node_id} is not coordinator-eligible and does not vote")
        ask = await _parse(request, VoteRequest)
        if isinstance(ask, web.Response):
            return ask
        if (forged := _forged(request, ask.candidate)) is not None:
            return forged
        return web.json_response(agent.vote(ask).to_json())

    async def replica(request: web.Request) -> web.Response:
        push = await _parse(request, ReplicaPush)
        if isinstance(push, web.Response):
            return push
        if (forged := _forged(request, push.leader)) is not None:
            return forged
        return web.json_response((await agent.accept_replica(push)).to_json())

    async def coordinator_call(
        request: web.Request, document: type[_Job]
    ) -> tuple[WorkQueue, _Job] | web.Response:
        """The work queue and the parsed body, or the refusal: not the coordinator, malformed, or forged."""
        queue, refusal = agent.coordinator_queue()
        if queue is None:
            return json_error(409, refusal, **agent.leader_hint())
        call = await _parse(request, document)
        if isinstance(call, web.Response):
            return call
        forged = _forged(request, call.node)
        return forged if forged is not None else (queue, call)

    async def claim(request: web.Request) -> web.Response:
        call = await coordinator_call(request, ClaimRequest)
        if isinstance(call, web.Response):
            return call
        queue, ask = call
        problem = agent.refusal_for(ask.node)
        if problem:
            return json_error(403, problem, **agent.leader_hint())
        setting = agent.node_states.current().setting(ask.node)
        if setting != ACTIVE:  # drained or retired: no new job; running ones go on
            return web.json_response(
                ClaimReply(job=None, halted=agent.halted(), node_state=setting).to_json()
            )
        try:
            job = queue.claim(ask.node, ask.free, term_seen=ask.term_seen)
        except StaleTermError as error:
            agent.observe_term(ask.term_seen)
            return json_error(409, str(error), **agent.leader_hint())
        return web.json_response(ClaimReply(job=job, halted=agent.halted()).to_json())

    async def job_heartbeat(request: web.Request) -> web.Response:
        beat = await _parse(request, JobHeartbeat)
        if isinstance(beat, web.Response):
            return beat
        if (forged := _forged(request, beat.node)) is not None:
            return forged
        queue, refusal = agent.coordinator_queue()
        if queue is None:
            reply = JobHeartbeatReply(ok=False, cancel=False, reason=refusal, halted=agent.halted())
        else:
            kept = queue.heartbeat(beat.node, beat.job_id, beat.term)
            reply = JobHeartbeatReply(
                ok=kept.ok, cancel=kept.cancel, reason=kept.reason, halted=agent.halted()
            )
        return web.json_response(reply.to_json())

    async def report(request: web.Request) -> web.Response:
        call = await coordinator_call(request, JobReport)
        if isinstance(call, web.Response):
            return call
        queue, sent = call
        state = JobState(sent.status, sent.exit_code, sent.elapsed_s, sent.node, sent.error[-200:])
        reply = queue.report(sent.node, sent.job_id, sent.term, state, sent.error)
        if not reply.accepted:
            return json_error(409, reply.reason, term=agent.term)
        return web.json_response(JobReportReply(accepted=True, reason=reply.reason).to_json())

    async def halt(request: web.Request) -> web.Response:
        ask = await _parse(request, HaltRequest)
        if isinstance(ask, web.Response):
            return ask
        return web.json_response(await agent.halt(ask.reason, cancel=ask.cancel))

    async def resume(request: web.Request) -> web.Response:
        return web.json_response(await agent.resume())

    async def node_state(request: web.Request) -> web.Response:
        ask = await _parse(request, NodeStateRequest)
        if isinstance(ask, web.Response):
            return ask
        return web.json_response(await agent.set_node_state(ask))

    return [
        web.get("/v1/status", status),
        web.get("/status", status),  # unversioned alias: what an operator types first
        web.post("/v1/heartbeat", heartbeat),
        web.post("/v1/vote", vote),
        web.post("/v1/replica", replica),
        web.post("/v1/jobs/claim", claim),
        web.post("/v1/jobs/heartbeat", job_heartbeat),
        web.post("/v1/jobs/report", report),
        web.post("/v1/halt", halt),
        web.post("/v1/resume", resume),
        web.post("/v1/nodes/state", node_state),
    ]
