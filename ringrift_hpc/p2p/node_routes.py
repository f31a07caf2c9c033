"""The node agent's own HTTP handlers: status, heartbeats, votes, replicas, jobs, halt/resume.

Thin: each handler parses the verified JSON body, asks the agent, and answers JSON. A request
that an older term sent, or that reaches a node that is not the coordinator, gets 409 with the
current term and coordinator so the sender can step down or redirect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ringrift_hpc.cluster.executor import JobState, JobStatus
from ringrift_hpc.p2p.election import VoteRequest
from ringrift_hpc.p2p.http_guard import PEER_NODE, json_error, read_json
from ringrift_hpc.p2p.membership import NodeView
from ringrift_hpc.p2p.replica import ReplicaPush
from ringrift_hpc.p2p.work_queue import Demand, StaleTermError, WorkQueue

if TYPE_CHECKING:
    from ringrift_hpc.p2p.agent import Agent


def _forged_sender(request: web.Request, body: dict[str, Any], key: str = "node") -> web.Response | None:
    """Calls name their sender in the body (`key`); it must be the node that signed the request."""
    if str(body.get(key)) != request[PEER_NODE]:
        return json_error(403, f"request signed by node {request[PEER_NODE]} speaks for node {body.get(key)!r}")
    return None


def node_routes(agent: Agent) -> list[web.RouteDef]:
    async def status(request: web.Request) -> web.Response:
        return web.json_response(agent.status_document())

    async def heartbeat(request: web.Request) -> web.Response:
        body = await read_json(request)
        if (forged := _forged_sender(request, body)) is not None:
            return forged
        try:
            view = NodeView.from_json(body)
        except (ValueError, TypeError) as error:
            return json_error(400, f"bad heartbeat: {error}")
        agent.heard(view)
        return web.json_response(agent.own_view().to_json())

    async def vote(request: web.Request) -> web.Response:
        if agent.elector is None:
            return json_error(403, f"node {agent.node_id} is not coordinator-eligible and does not vote")
        body = await read_json(request)
        if (forged := _forged_sender(request, body, "candidate")) is not None:
            return forged
        try:
            ask = VoteRequest.from_json(body)
        except (ValueError, TypeError) as error:
            return json_error(400, f"bad vote request: {error}")
        return web.json_response(agent.vote(ask).to_json())

    async def replica(request: web.Request) -> web.Response:
        body = await read_json(request)
        if (forged := _forged_sender(request, body, "leader")) is not None:
            return forged
        try:
            push = ReplicaPush.from_json(body)
        except (ValueError, TypeError) as error:
            return json_error(400, f"bad replica push: {error}")
        return web.json_response((await agent.accept_replica(push)).to_json())

    async def coordinator_call(request: web.Request) -> tuple[WorkQueue, dict[str, Any]] | web.Response:
        """The work queue and the verified body, or the refusal: not the coordinator, or forged."""
        queue, refusal = agent.coordinator_queue()
        if queue is None:
            return json_error(409, refusal, **agent.leader_hint())
        body = await read_json(request)
        forged = _forged_sender(request, body)
        return forged if forged is not None else (queue, body)

    async def claim(request: web.Request) -> web.Response:
        call = await coordinator_call(request)
        if isinstance(call, web.Response):
            return call
        queue, body = call
        try:
            node, term_seen = str(body["node"]), int(body["term_seen"])
            free = Demand.from_json(body["free"])
        except (KeyError, TypeError, ValueError) as error:
            return json_error(
                400, f"bad claim: {error}; send node, term_seen and free {{cpus, gpus, memory_mb}}"
            )
        problem = agent.refusal_for(node)
        if problem:
            return json_error(403, problem, **agent.leader_hint())
        try:
            job = queue.claim(node, free, term_seen=term_seen)
        except StaleTermError as error:
            agent.observe_term(term_seen)
            return json_error(409, str(error), **agent.leader_hint())
        doc: dict[str, Any] = {"job": job.to_json() if job else None, "halted": agent.halted()}
        return web.json_response(doc)

    async def job_heartbeat(request: web.Request) -> web.Response:
        queue, refusal = agent.coordinator_queue()
        body = await read_json(request)
        if (forged := _forged_sender(request, body)) is not None:
            return forged
        if queue is None:
            return web.json_response(
                {"ok": False, "cancel": False, "reason": refusal, "halted": agent.halted()}
            )
        try:
            reply = queue.heartbeat(str(body["node"]), str(body["job_id"]), int(body["term"]))
        except (KeyError, TypeError, ValueError) as error:
            return json_error(400, f"bad job heartbeat: {error}")
        return web.json_response(
            {"ok": reply.ok, "cancel": reply.cancel, "reason": reply.reason, "halted": agent.halted()}
        )

    async def report(request: web.Request) -> web.Response:
        call = await coordinator_call(request)
        if isinstance(call, web.Response):
            return call
        queue, body = call
        try:
            state = JobState(
                JobStatus(str(body["status"])),
                None if body.get("exit_code") is None else int(body["exit_code"]),
                int(body.get("elapsed_s", 0)),
                str(body["node"]),
                str(body.get("error", ""))[-200:],
            )
            reply = queue.report(
                str(body["node"]), str(body["job_id"]), int(body["term"]), state, str(body.get("error", ""))
            )
        except (KeyError, TypeError, ValueError) as error:
            return json_error(400, f"bad job report: {error}")
        if not reply.accepted:
            return json_error(409, reply.reason, term=agent.term)
        return web.json_response({"accepted": True, "reason": reply.reason})

    async def halt(request: web.Request) -> web.Response:
        body = await read_json(request)
        reason = str(body.get("reason") or "")
        if not reason.strip():
            return json_error(400, "halt needs a reason")
        return web.json_response(await agent.halt(reason, cancel=bool(body.get("cancel"))))

    async def resume(request: web.Request) -> web.Response:
        return web.json_response(await agent.resume())

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
    ]
