"""Drain, retire, unretire: the table, its file, and what a coordinator does with it.

The agent tests run one real agent (the only eligible node, so it coordinates at once) over a
halted run, put jobs straight into its work queue, and claim them as a peer over signed HTTP.
The agent's own node is drained first, so that only the test's peer takes those jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ringrift_hpc.config import parse_config
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.p2p.agent import Agent, AgentSetupError, NodeSettings
from ringrift_hpc.p2p.agent_link import p2p_status_text
from ringrift_hpc.p2p.auth import Credentials
from ringrift_hpc.p2p.client import PeerClient
from ringrift_hpc.p2p.membership import NodeView
from ringrift_hpc.p2p.node_states import (
    ACTIVE,
    DRAINED,
    DRAINING,
    RETIRED,
    NodeStateBook,
    NodeStates,
    NodeStatesError,
    parse_node_states,
    shown_state,
)
from ringrift_hpc.p2p.work_queue import Demand

from .test_agent import SECRET, _port, _running, _view

FREE = {"cpus": 4, "gpus": 0, "memory_mb": 0}
DEMAND = Demand(cpus=1, gpus=0, memory_mb=0)
# Records each call; every instance is dead, so a check is followed by a restart.
PROVIDER = """#!/bin/bash
printf '%s\\n' "$*" >>"$(dirname "$0")/calls"
[ "$1" = check ] && exit 1
exit 0
"""


# ----------------------------------------------------------------------------- the table


def test_a_table_records_only_nodes_that_are_not_active() -> None:
    table = NodeStates()
    assert table.setting("gpu2") == ACTIVE
    drained = table.changed("gpu2", DRAINING, reason="disk swap", requested_by="ops", at=5.0, term=3)
    retired = drained.changed("gpu1", RETIRED, reason="", requested_by="ops", at=6.0, term=3)
    assert (retired.setting("gpu1"), retired.setting("gpu2"), retired.setting("gpu3")) == (
        RETIRED,
        DRAINING,
        ACTIVE,
    )
    assert list(retired.nodes) == ["gpu1", "gpu2"]
    assert retired.nodes["gpu2"].reason == "disk swap" and retired.nodes["gpu2"].term == 3
    back = retired.changed("gpu2", ACTIVE, reason="", requested_by="ops", at=7.0, term=4)
    assert list(back.nodes) == ["gpu1"] and table.nodes == {}  # tables are values: the old ones stay


def test_a_draining_node_shows_as_drained_once_it_runs_nothing() -> None:
    assert shown_state(DRAINING, 2) == DRAINING
    assert shown_state(DRAINING, 0) == DRAINED
    assert shown_state(RETIRED, 0) == RETIRED and shown_state(ACTIVE, 0) == ACTIVE


def test_the_file_round_trips_and_a_bad_one_names_the_file_the_field_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "node_states.json"
    table = NodeStates().changed("gpu2", RETIRED, reason="gone", requested_by="ops", at=5.0, term=1)
    assert parse_node_states(json.dumps(table.to_json()).encode(), path) == table
    bad = table.to_json()
    bad["nodes"]["gpu2"]["state"] = "asleep"
    with pytest.raises(NodeStatesError) as error:
        parse_node_states(json.dumps(bad).encode(), path)
    assert str(path) in str(error.value) and "'state'" in str(error.value) and "move" in str(error.value)
    bad = table.to_json()
    bad["nodes"] = {"no spaces": bad["nodes"]["gpu2"]}
    with pytest.raises(NodeStatesError, match="key 'no spaces'"):
        parse_node_states(json.dumps(bad).encode(), path)
    with pytest.raises(NodeStatesError, match="format_version"):
        parse_node_states(json.dumps({**table.to_json(), "format_version": 2}).encode(), path)
    with pytest.raises(NodeStatesError, match="not valid JSON"):
        parse_node_states(b"{", path)


def test_the_book_follows_the_file_and_keeps_the_last_good_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p2p" / "node_states.json"
    book = NodeStateBook(path)
    assert book.current() == NodeStates()
    retired = NodeStates().changed("gpu2", RETIRED, reason="", requested_by="ops", at=5.0, term=1)
    book.write(retired)
    assert NodeStateBook(path).current() == retired  # the next agent reads what this one wrote
    # A replica push replaces the file: the book sees it.
    other = NodeStateBook(path)
    drained = NodeStates().changed("gpu3", DRAINING, reason="", requested_by="ops", at=6.0, term=1)
    other.write(drained)
    assert book.current() == drained
    path.write_text("{ torn")
    with caplog.at_level(logging.ERROR):
        assert book.current() == drained
        assert book.current() == drained
    assert len([r for r in caplog.records if "keeping the node states" in r.message]) == 1
    with pytest.raises(NodeStatesError):
        NodeStateBook(path)  # at start there is no good table to keep: the agent refuses to start
    path.unlink()
    assert book.current() == NodeStates()  # removed by a push: every node is active


# ----------------------------------------------------------------------------- one agent


def _settings(tmp_path: Path, *, host: str = "127.0.0.1", **p2p: Any) -> NodeSettings:
    run = tmp_path / "run"
    if not run.exists():
        config = {
            "executor": "local",
            "run": {"name": "states", "variants": ["square8_2p"]},
            "loop": {"tick_interval_s": 0.2},
            "p2p": {
                "coordinators": ["a"],
                "heartbeat_interval_s": 0.1,
                "lease_s": 1.0,
                "suspect_after_s": 0.5,
                **p2p,
            },
        }
        layout = init_run(run, parse_config(config, source="test"), source="test").layout
        write_halt(layout, "no jobs but those the test adds")
    token = tmp_path / "token"
    token.write_text(SECRET)
    token.chmod(0o600)
    port = _port()
    return NodeSettings(
        run=run,
        node_id="a",
        host=host,
        port=port,
        url=f"http://127.0.0.1:{port}",
        peers=(),
        eligible=True,
        token_file=token,
    )


def _provider(tmp_path: Path) -> Path:
    script = tmp_path / "provider" / "hook.sh"
    script.parent.mkdir()
    script.write_text(PROVIDER)
    script.chmod(0o755)
    return script


def _add_jobs(agent: Agent, count: int) -> list[str]:
    assert agent.session is not None
    ids = [agent.session.queue.add("selfplay", {"job": str(n)}, DEMAND) for n in range(count)]
    agent.session.queue.publish()
    return ids


async def _claim(x: PeerClient, agent: Agent) -> dict[str, Any]:
    reply: dict[str, Any] = await x.post_json(
        "/v1/jobs/claim", {"node": "x", "term_seen": agent.term, "free": FREE}
    )
    return reply


async def _set(client: PeerClient, target: str, state: str, reason: str = "") -> dict[str, Any]:
    reply: dict[str, Any] = await client.post_json(
        "/v1/nodes/state", {"target": target, "state": state, "reason": reason, "requested_by": "test"}
    )
    return reply


def _peer(status: dict[str, Any], node: str) -> dict[str, Any]:
    return next(p for p in status["peers"] if p["node"] == node)


def test_drain_and_retire_stop_new_work_let_running_jobs_finish_and_survive_a_restart(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, keepalive_command=shlex.quote(str(_provider(tmp_path))), keepalive_backoff_s=1000.0
    )
    calls = tmp_path / "provider" / "calls"

    async def first_term() -> None:
        async with (
            _running(settings) as agent,
            PeerClient(settings.url, Credentials("x", SECRET.encode())) as x,
        ):
            await x.post_json("/v1/heartbeat", _view(agent, "x"))
            assert (await _set(x, "a", DRAINING, "the test's peer does the work"))["state"] == DRAINED
            first, second = _add_jobs(agent, 2)
            claimed = await _claim(x, agent)
            assert claimed["job"]["job_id"] == first and claimed["node_state"] == ACTIVE

            drained = await _set(x, "x", DRAINING, "disk swap")
            assert drained == {
                "node": "x", "state": DRAINING, "previous": ACTIVE, "coordinator": "a", "term": agent.term, "known": True
            }  # fmt: skip
            refused = await _claim(x, agent)
            assert refused == {"v": 1, "job": None, "halted": True, "node_state": DRAINING}
            assert agent.session is not None
            waiting = {job["id"]: job["state"] for job in agent.session.queue.snapshot()}
            assert waiting == {first: "running", second: "pending"}

            # The job it runs goes on: its lease is kept and its report accepted.
            beat = await x.post_json("/v1/jobs/heartbeat", {"node": "x", "job_id": first, "term": agent.term})
            assert beat["ok"] is True and beat["cancel"] is False
            status = await x.get_json("/v1/status")
            assert _peer(status, "x")["state"] == DRAINING and status["node_states"]["x"]["shown"] == DRAINING
            report = await x.post_json(
                "/v1/jobs/report", {"node": "x", "job_id": first, "term": agent.term, "status": "completed"}
            )
            assert report["accepted"] is True
            status = await x.get_json("/v1/status")
            assert _peer(status, "x")["state"] == DRAINED
            assert status["node_states"]["x"]["reason"] == "disk swap"

            retired = await _set(x, "r", RETIRED, "instance deleted")
            assert retired["known"] is False and retired["state"] == RETIRED
            assert (await _claim(x, agent))["job"] is None

            # The operator's plain read from this machine sees the states too.
            async with aiohttp.ClientSession() as plain, plain.get(f"{settings.url}/status") as response:
                assert response.status == 200
                public = await response.json()
            assert {n: e["shown"] for n, e in public["node_states"].items()} == {
                "a": DRAINED,
                "r": RETIRED,
                "x": DRAINED,
            }

    async def second_term() -> None:
        async with (
            _running(settings) as agent,
            PeerClient(settings.url, Credentials("x", SECRET.encode())) as x,
        ):
            await x.post_json("/v1/heartbeat", _view(agent, "x"))
            (job,) = _add_jobs(agent, 1)
            assert (await _claim(x, agent))["node_state"] == DRAINING  # kept across the restart

            # Two dead peers: the hook tends the active one and leaves the retired one alone.
            long_ago = time.monotonic() - 1000
            for node in ("r", "s"):
                agent.peers.heard(NodeView.from_json(_view(agent, node)), long_ago)
            deadline = time.monotonic() + 30
            while "check s" not in (calls.read_text() if calls.exists() else ""):
                assert time.monotonic() < deadline, "the keepalive hook never tended the dead active peer"
                await asyncio.sleep(0.05)
            # Peers are tended in id order, so r was passed over before s was tended.
            assert not [line for line in calls.read_text().splitlines() if line.split()[1] == "r"]

            back = await _set(x, "x", ACTIVE)
            assert (back["state"], back["previous"]) == (ACTIVE, DRAINING)
            claimed = await _claim(x, agent)
            assert claimed["job"]["job_id"] == job and claimed["node_state"] == ACTIVE
            await _set(x, "r", ACTIVE)
            await _set(x, "a", ACTIVE)
            assert (await x.get_json("/v1/status"))["node_states"] == {}

    asyncio.run(first_term())
    states = parse_node_states((settings.run / "p2p" / "node_states.json").read_bytes(), settings.run)
    assert {n: e.state for n, e in states.nodes.items()} == {"a": DRAINING, "r": RETIRED, "x": DRAINING}
    asyncio.run(second_term())
    assert NodeStateBook(settings.run / "p2p" / "node_states.json").current() == NodeStates()


def test_an_unreadable_table_stops_the_agent_at_start_naming_the_fix(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = settings.run / "p2p" / "node_states.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": "something else"}')
    with pytest.raises(AgentSetupError, match="node_states.json.*move"):
        Agent(settings)


def test_a_bad_request_is_refused_naming_the_field(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    async def scenario() -> None:
        async with _running(settings), PeerClient(settings.url, Credentials("x", SECRET.encode())) as x:
            with pytest.raises(Exception) as refused:
                await _set(x, "x", "asleep")
            assert "field 'state' must be one of active, draining, retired" in str(refused.value)
        assert not (settings.run / "p2p" / "node_states.json").exists()

    asyncio.run(scenario())


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("public", [False, True])
def test_an_unsigned_status_read_from_another_address_needs_public_status(
    tmp_path: Path, public: bool
) -> None:
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    settings = _settings(tmp_path, host="0.0.0.0", public_status=public)

    async def scenario() -> None:
        async with _running(settings), aiohttp.ClientSession() as plain:
            async with plain.get(f"http://{outside}:{settings.port}/status") as response:
                assert response.status == (200 if public else 401)
                body = await response.json()
            assert ("node" in body) is public
            async with plain.get(f"http://127.0.0.1:{settings.port}/v1/status") as response:
                assert response.status == 200
            async with plain.get(f"http://{outside}:{settings.port}/v1/artifacts") as response:
                assert response.status == 401

    asyncio.run(scenario())


def test_status_text_shows_each_nodes_state() -> None:
    doc = {
        "node": "a",
        "role": "coordinator",
        "state": ACTIVE,
        "term": 3,
        "coordinator": {"node": "a"},
        "written_at": 100.0,
        "peers": [
            {
                "node": "b",
                "url": "http://b",
                "liveness": "alive",
                "state": DRAINING,
                "term": 3,
                "running_jobs": ["1"],
            },
            {
                "node": "w",
                "url": "http://w",
                "liveness": "alive",
                "state": None,
                "term": 3,
                "running_jobs": [],
            },
        ],
        "node_states": {
            "b": {
                "state": DRAINING,
                "shown": DRAINING,
                "reason": "disk",
                "requested_by": "ops",
                "changed_at": 40.0,
            }
        },
    }
    text = p2p_status_text(doc, now=100.0).splitlines()
    assert text[0].startswith("P2P node a (coordinator, active), term 3")
    assert "  peer b http://b: alive, draining, term 3, jobs 1" in text
    assert "  peer w http://w: alive, term 3, jobs 0" in text  # a worker-only node's copy: no state
    assert "  node b draining since 60s ago (by ops: disk)" in text
