"""One node agent in this process (halted, so it runs no job): its HTTP API refuses what it must."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ringrift_hpc.config import parse_config
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.p2p.agent import Agent, AgentSetupError, NodeSettings, serve
from ringrift_hpc.p2p.auth import Credentials
from ringrift_hpc.p2p.client import PeerClient, PeerError
from ringrift_hpc.p2p.membership import NodeView, Resources

SECRET = "0123456789abcdef0123456789abcdef"
CONFIG = {
    "executor": "local",
    "run": {"name": "agent", "variants": ["square8_2p"]},
    "loop": {"tick_interval_s": 0.2},
    "p2p": {"coordinators": ["a"], "heartbeat_interval_s": 0.1, "lease_s": 1.0, "suspect_after_s": 0.5},
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp_path: Path, *, eligible: bool = True) -> NodeSettings:
    run = tmp_path / "run"
    if not run.exists():
        layout = init_run(run, parse_config(CONFIG, source="test"), source="test").layout
        write_halt(layout, "no jobs here")
    token = tmp_path / "token"
    token.write_text(SECRET)
    token.chmod(0o600)
    port = _port()
    return NodeSettings(
        run=run,
        node_id="a",
        host="127.0.0.1",
        port=port,
        url=f"http://127.0.0.1:{port}",
        peers=(),
        eligible=eligible,
        token_file=token,
    )


@asynccontextmanager
async def _running(settings: NodeSettings) -> AsyncIterator[Agent]:
    started: asyncio.Future[Agent] = asyncio.get_running_loop().create_future()

    async def ready(agent: Agent) -> None:
        started.set_result(agent)

    task = asyncio.create_task(serve(settings, ready=ready))
    agent = await asyncio.wait_for(started, 30)
    try:
        deadline = time.monotonic() + 20
        while not agent.is_coordinator():
            assert time.monotonic() < deadline, "the only eligible node never became coordinator"
            await asyncio.sleep(0.05)
        yield agent
    finally:
        agent.stopping.set()
        await asyncio.wait_for(task, 30)


def _view(agent: Agent, node: str, **changes: Any) -> dict[str, Any]:
    view = NodeView(
        node=node,
        url="http://127.0.0.1:1",
        eligible=False,
        resources=Resources(cpus=2, gpus=0, memory_mb=1000, disk_mb=1000),
        running_jobs=(),
        code_version=changes.get("code_version", agent.code_version),
        config_version=changes.get("config_version", agent.config_version),
        term=0,
        coordinator=None,
        sent_at=time.time(),
    )
    return view.to_json()


def test_the_api_refuses_strangers_forgers_other_configs_and_stale_terms(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path)
        async with _running(settings) as agent:
            url = settings.url
            async with aiohttp.ClientSession() as plain:
                # The operator's `curl` on this machine: read-only, unsigned, and nothing secret in it.
                for path in ("/status", "/v1/status"):
                    async with plain.get(f"{url}{path}") as response:
                        assert response.status == 200
                        text = await response.text()
                    assert SECRET not in text and str(settings.token_file) not in text
                    assert json.loads(text)["role"] == "coordinator"
                # Everything else stays signed, from loopback too.
                async with plain.get(f"{url}/v1/artifacts") as response:
                    assert response.status == 401
                async with plain.post(f"{url}/v1/halt", json={"reason": "x", "cancel": False}) as response:
                    assert response.status == 401
                    refusal = (await response.json())["error"]
                    assert "only GET /status is answered without a signature" in refusal
                assert "no jobs here" in agent.layout.halt.read_text()  # the unsigned halt changed nothing
            async with PeerClient(url, Credentials("x", b"another secret of 32 characters!")) as wrong:
                with pytest.raises(PeerError) as refused:
                    await wrong.get_json("/v1/status")
                assert refused.value.status == 401
            async with PeerClient(url, Credentials("x", SECRET.encode())) as x:
                status = await x.get_json("/status")
                assert status["role"] == "coordinator" and status["halted"] is True

                await x.post_json("/v1/heartbeat", _view(agent, "x", config_version="0123456789ab"))
                with pytest.raises(PeerError) as other_config:
                    await x.post_json("/v1/jobs/claim", {"node": "x", "term_seen": 0, "free": {"cpus": 1, "gpus": 0, "memory_mb": 0}})
                assert other_config.value.status == 403
                assert "run.yaml" in other_config.value.payload["error"] or "config" in other_config.value.payload["error"]
                peers = (await x.get_json("/v1/status"))["peers"]
                assert any(p["node"] == "x" and p["problem"] for p in peers)

                with pytest.raises(PeerError) as forged:
                    await x.post_json("/v1/jobs/claim", {"node": "a", "term_seen": 0, "free": {"cpus": 1, "gpus": 0, "memory_mb": 0}})
                assert forged.value.status == 403 and "speaks for" in forged.value.payload["error"]

                with pytest.raises(PeerError) as malformed:
                    await x.post_json("/v1/jobs/claim", {"node": "x", "term_seen": "0", "free": {"cpus": 1, "gpus": 0}})
                assert malformed.value.status == 400
                assert malformed.value.payload["error"] == (
                    "bad claim: field 'term_seen' must be an integer >= 0, got '0'; field 'free': field 'memory_mb' "
                    "is missing (the fields are cpus, gpus, memory_mb)"
                )
                with pytest.raises(PeerError) as unknown:
                    await x.post_json("/v1/heartbeat", _view(agent, "x") | {"load": 0.5})
                assert unknown.value.status == 400
                assert unknown.value.payload["error"].startswith(
                    "bad node view: unknown field 'load' (the fields are v, node, url, eligible,"
                )
                with pytest.raises(PeerError) as blank:
                    await x.post_json("/v1/halt", {"reason": " ", "cancel": False})
                assert blank.value.status == 400 and "field 'reason' must be a reason (not blank)" in str(blank.value)

                with pytest.raises(PeerError) as stale:
                    await x.post_json("/v1/jobs/report", {"node": "x", "job_id": "1000001", "term": 0, "status": "completed"})
                assert stale.value.status == 409

                await x.post_json("/v1/heartbeat", _view(agent, "x"))
                claim = await x.post_json("/v1/jobs/claim", {"node": "x", "term_seen": agent.term, "free": {"cpus": 1, "gpus": 0, "memory_mb": 0}})
                # Halted: nothing was submitted.
                assert claim == {"v": 1, "job": None, "halted": True, "node_state": "active"}

                entry = {"path": "variants/square8_2p/models/x.json"}
                with pytest.raises(PeerError) as fenced:
                    await x.post_json("/v1/artifacts", {"term": agent.term + 7, "entry": entry})
                assert fenced.value.status in (400, 409)

    asyncio.run(scenario())


def test_eligibility_must_match_the_configured_coordinators(tmp_path: Path) -> None:
    with pytest.raises(AgentSetupError, match="--coordinator-eligible"):
        Agent(_settings(tmp_path, eligible=False))
