"""How `halt`, `resume` and `status` reach the P2P agent running over the same run directory."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ringrift_hpc.p2p.auth import Credentials, load_secret
from ringrift_hpc.p2p.wire import Name, WireError, WireModel
from ringrift_hpc.store import RunLayout


def node_dir(layout: RunLayout, node_id: str, *, shared: bool) -> Path:
    """A node's own P2P files: RUN/p2p, or RUN/p2p/nodes/<id> when nodes share RUN."""
    return layout.root / "p2p" / "nodes" / node_id if shared else layout.root / "p2p"


def agent_file(folder: Path) -> Path:
    """Where a running agent leaves its URL, so `halt`, `resume` and `status` can reach it."""
    return folder / "agent.json"


def status_file(folder: Path) -> Path:
    """The agent's status document, rewritten every heartbeat (what GET /v1/status serves)."""
    return folder / "status.json"


def _node_dirs(layout: RunLayout) -> list[Path]:
    nodes = layout.root / "p2p" / "nodes"
    return [layout.root / "p2p", *(sorted(nodes.iterdir()) if nodes.is_dir() else [])]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def read_p2p_status(layout: RunLayout) -> list[dict[str, Any]]:
    """The status documents of the agents serving this run directory (several when shared)."""
    docs = (_read_json(status_file(folder)) for folder in _node_dirs(layout))
    return [doc for doc in docs if doc is not None]


class AgentUnreachableError(RuntimeError):
    """RUN/p2p/agent.json names an agent that does not answer."""


class AgentFile(WireModel):
    """RUN/p2p/agent.json: where the running agent listens and the token to sign requests with."""

    WHAT = "agent file"
    node: Name
    url: Name
    token_file: Name


def ask_agent(layout: RunLayout, path: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """POST to an agent serving this run directory; None when none does (a plain local run).

    On a shared run directory the first agent that answers takes it (each forwards to the
    coordinator)."""
    errors = []
    for folder in _node_dirs(layout):
        where = agent_file(folder)
        doc = _read_json(where)
        if doc is None:
            continue
        try:
            agent = AgentFile.from_json(doc, f"{where}: agent file")
        except WireError as error:
            errors.append(str(error))
            continue
        # aiohttp takes a fifth of a second to import, asyncio a few hundredths: only when an
        # agent serves the run, so a plain run's `halt` and `status` start fast.
        import asyncio

        from ringrift_hpc.p2p.client import PeerError

        try:
            return asyncio.run(_post(agent, path, payload))
        except PeerError as error:
            errors.append(f"{agent.url} (from {where}): {error}")
    if not errors:
        return None
    raise AgentUnreachableError(
        f"no P2P agent of {layout.root} took the request: {'; '.join(errors)}; if no agent runs "
        "there any more, delete those agent.json files"
    )


async def _post(agent: AgentFile, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    from ringrift_hpc.p2p.client import PeerClient

    creds = Credentials(agent.node, load_secret(Path(agent.token_file)))
    async with PeerClient(agent.url, creds, timeout_s=30.0) as client:
        reply: dict[str, Any] = await client.post_json(path, payload)
        return reply


def p2p_status_text(doc: dict[str, Any], *, now: float | None = None) -> str:
    """The P2P part of `ringrift-hpc status`: the same facts as GET /v1/status."""
    now = time.time() if now is None else now
    coordinator = doc.get("coordinator") or {}
    state = f", {doc['state']}" if doc.get("state") else ""
    lines = [
        f"P2P node {doc.get('node')} ({doc.get('role')}{state}), term {doc.get('term')}, "
        f"coordinator {coordinator.get('node') or 'none known'}"
        + (f" at {coordinator.get('url')}" if coordinator.get("url") else "")
        + f"; status written {max(0.0, now - float(doc.get('written_at', now))):.0f}s ago",
    ]
    if doc.get("halted"):
        lines.append("  halted (HALT mirrored from the coordinator)")
    for peer in doc.get("peers", []):
        problem = f"  refused work: {peer['problem']}" if peer.get("problem") else ""
        shown = f", {peer['state']}" if peer.get("state") else ""
        lines.append(
            f"  peer {peer.get('node') or '?'} {peer.get('url', '')}: {peer.get('liveness')}{shown}, "
            f"term {peer.get('term')}, jobs {len(peer.get('running_jobs') or [])}{problem}"
        )
    for node, entry in sorted((doc.get("node_states") or {}).items()):
        why = f": {entry['reason']}" if entry.get("reason") else ""
        lines.append(
            f"  node {node} {entry.get('shown', entry.get('state'))} since "
            f"{max(0.0, now - float(entry.get('changed_at', now))):.0f}s ago "
            f"(by {entry.get('requested_by') or '?'}{why})"
        )
    jobs = doc.get("jobs") or []
    if jobs:
        states: dict[str, int] = {}
        for job in jobs:
            states[str(job.get("state"))] = states.get(str(job.get("state")), 0) + 1
        lines.append("  jobs of this term: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    for job in doc.get("running") or []:
        lines.append(
            f"  running here: job {job['job_id']} ({job['purpose']}, term {job['term']}, {job['state']})"
        )
    if doc.get("work_refused"):
        lines.append(f"  work refused: {doc['work_refused']}")
    return "\n".join(lines)
