"""`ringrift-hpc p2p drain|retire|unretire RUN NODE`, and `p2p RUN ...` still starting the agent.

The commands run as the operator runs them: a fresh interpreter, against a real agent serving
the run directory (the only eligible node, so it is the coordinator that records the change).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from ringrift_hpc.cli.app import app
from ringrift_hpc.p2p.agent_link import read_p2p_status
from ringrift_hpc.store import RunLayout

from .test_agent import _running
from .test_node_states import _settings

ENTRY = "from ringrift_hpc.cli.app import main; main()"


async def _cli(*args: str) -> tuple[int, str]:
    """Exit code and stdout+stderr of `ringrift-hpc ARGS` in a fresh interpreter."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ENTRY, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode()


def test_drain_retire_and_unretire_reach_the_coordinator_and_status_shows_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    run = str(settings.run)
    layout = RunLayout(settings.run)

    async def shown(node: str, state: str) -> str:
        """`status` once the agent's status file lists `node` as `state` (it is rewritten every beat)."""
        deadline = time.monotonic() + 30
        while not any(
            (doc.get("node_states") or {}).get(node, {}).get("shown") == state
            for doc in read_p2p_status(layout)
        ):
            assert time.monotonic() < deadline, f"status never showed {node} {state}"
            await asyncio.sleep(0.05)
        code, out = await _cli("status", run)
        assert code == 0, out
        return out

    async def scenario() -> None:
        async with _running(settings):
            code, out = await _cli("p2p", "drain", run, "gpu2", "--reason", "disk swap")
            assert code == 0, out
            assert "gpu2: drained (was active), recorded by coordinator a in term" in out
            assert "not been heard from yet" in out
            assert "node gpu2 drained since" in await shown("gpu2", "drained")

            code, out = await _cli("p2p", "retire", run, "gpu2")
            assert code == 0 and "gpu2: retired (was draining)" in out, out
            text = await shown("gpu2", "retired")
            assert "node gpu2 retired since" in text and "(by " in text

            code, out = await _cli("p2p", "drain", run, "a")
            assert code == 0 and "a: drained (was active)" in out and "heard" not in out, out
            assert "P2P node a (coordinator, drained)" in await shown("a", "drained")

            for node in ("gpu2", "a"):
                code, out = await _cli("p2p", "unretire", run, node)
                assert code == 0 and f"{node}: active (was " in out, out
            deadline = time.monotonic() + 30
            while any(doc.get("node_states") for doc in read_p2p_status(layout)):
                assert time.monotonic() < deadline, "status never showed every node active again"
                await asyncio.sleep(0.05)
            assert json.loads((settings.run / "p2p" / "node_states.json").read_text())["nodes"] == {}

    asyncio.run(scenario())


def test_without_an_agent_the_commands_say_where_to_run_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    result = CliRunner().invoke(app, ["p2p", "retire", str(settings.run), "gpu2"])
    assert result.exit_code == 2
    assert "no P2P agent serves" in result.output and "on a node whose agent runs" in result.output
    assert not (settings.run / "p2p" / "node_states.json").exists()


def test_a_bad_node_id_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["p2p", "drain", str(tmp_path), "no spaces"])
    assert result.exit_code == 2
    assert "field 'target' must be a node id" in result.output and "'no spaces'" in result.output


def test_p2p_run_still_starts_the_agent(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789abcdef")
    args = ["--node-id", "a", "--token-file", str(token)]
    for argv in (
        ["p2p", str(tmp_path / "nowhere"), *args],
        ["p2p", "serve", str(tmp_path / "nowhere"), *args],
    ):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2 and "is not a run directory (no run.yaml)" in result.output, argv
    # Options first works too: the first word names no subcommand.
    result = CliRunner().invoke(
        app, ["p2p", "--node-id", "a", str(tmp_path / "nowhere"), "--token-file", str(token)]
    )
    assert result.exit_code == 2 and "is not a run directory" in result.output
    help_text = CliRunner().invoke(app, ["p2p", "--help"]).output
    assert all(word in help_text for word in ("serve", "drain", "retire", "unretire"))
