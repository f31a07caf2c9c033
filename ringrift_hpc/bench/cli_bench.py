"""How fast the operator's commands start and how fast a P2P agent starts and stops (issue 14).

Every figure is subprocess wall time, as an operator sees it: a fresh interpreter runs the CLI's
entry point. Commands run on a scratch run directory with two model files; `promote` and
`rollback` alternate, so every run does real work and succeeds. An agent counts as started once it
serves (its agent file is written) and as stopped when its process has exited; SIGTERM reaches
the agent alone, which must stop its running job itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.config import parse_config
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.p2p.agent_link import agent_file, node_dir, status_file
from ringrift_hpc.store import RunLayout

COMMAND_TARGET_S = 0.5
AGENT_START_TARGET_S = 2.0
AGENT_STOP_TARGET_S = 5.0
VARIANT = "square8_2p"
ENTRY = "import sys; from ringrift_hpc.cli.app import main; sys.argv[0] = 'ringrift-hpc'; main()"
TOKEN = "0123456789abcdef0123456789abcdef"
# Short P2P timeouts, so that the single eligible node is elected within seconds.
FAST_P2P = {"heartbeat_interval_s": 0.25, "suspect_after_s": 1.5, "dead_after_s": 4.0, "lease_s": 3.0}
WAIT_S = 120.0  # for an agent to serve, be elected or run its job: a failure, not a figure


class CliBenchError(RuntimeError):
    """A command failed or an agent never reached the state to be measured."""


@dataclass(frozen=True)
class Timing:
    """One figure: the median of `runs` measurements against its target."""

    what: str
    seconds: tuple[float, ...]
    target_s: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def met(self) -> bool:
        return self.median_s <= self.target_s


def _run_config(p2p: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "executor": "local",
        "run": {"name": "cli-bench", "variants": [VARIANT], "seed": 1},
        "local": {"max_parallel_jobs": 1, "threads_per_job": 1},
        "network": {"channels": 8, "blocks": 1, "value_hidden": 8},
        # So many bootstrap games that the first selfplay job still runs when SIGTERM comes.
        "selfplay": {"games_per_task": 100_000, "bootstrap_player": "random", "device": "cpu"},
        "p2p": {**FAST_P2P, **p2p},
    }


def new_run(root: Path, p2p: dict[str, Any] | None = None) -> RunLayout:
    """A run directory with the bench's config (P2P coordinators from `p2p`)."""
    config = parse_config(_run_config(p2p or {"coordinators": ["c"]}), source="cli bench config")
    return init_run(root, config, source="cli bench config").layout


def _publish_model(layout: RunLayout, content: bytes) -> str:
    # Promotion checks a model file against its id (its sha256) only, so any bytes serve.
    model = hashlib.sha256(content).hexdigest()
    path = layout.model_weights(VARIANT, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return model


def cli(args: Sequence[str]) -> float:
    """Wall seconds of `ringrift-hpc ARGS` in a fresh interpreter; it must exit 0."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise CliBenchError(f"ringrift-hpc {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return took


def time_commands(root: Path, runs: int) -> list[Timing]:
    """The median start-to-exit time of each operator command over `runs` runs."""
    layout = new_run(root / "run")
    run = str(layout.root)
    first, second = (_publish_model(layout, name) for name in (b"first weights", b"second weights"))
    layout.leaderboard_md(VARIANT).parent.mkdir(parents=True, exist_ok=True)
    layout.leaderboard_md(VARIANT).write_text("| rank | participant | rating |\n")
    cli(["promote", run, "--variant", VARIANT, "--model", first])
    # In this order every run succeeds: second becomes best, then the rollback restores first.
    commands = {
        "--help": ["--help"],
        "status": ["status", run],
        "halt": ["halt", run, "--reason", "cli bench"],
        "resume": ["resume", run],
        "leaderboard": ["leaderboard", run],
        "promote": ["promote", run, "--variant", VARIANT, "--model", second],
        "rollback": ["rollback", run, "--variant", VARIANT],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            seconds[name].append(cli(args))
    return [Timing(f"ringrift-hpc {name}", tuple(s), COMMAND_TARGET_S) for name, s in seconds.items()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise CliBenchError(
                f"timed out after {WAIT_S:.0f} s waiting for {what}; agent log:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.01)


def _status(layout: RunLayout, node: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(status_file(node_dir(layout, node, shared=False)).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return doc


def _job_running(layout: RunLayout, node: str) -> bool:
    return any(job["state"] == "running" for job in _status(layout, node).get("running") or [])


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@dataclass(frozen=True)
class AgentState:
    """A state to SIGTERM an agent in: its node, its run's setup and when it is reached."""

    name: str
    node: str
    eligible: bool
    halted: bool
    reached: Callable[[RunLayout, str], bool]


STATES = (
    AgentState("waiting for a peer", "w", eligible=False, halted=True, reached=lambda _layout, _node: True),
    # At once after serving, an eligible node is still importing the controller (torch).
    AgentState("loading the controller", "c", eligible=True, halted=True, reached=lambda _layout, _node: True),
    AgentState(
        "coordinating, idle",
        "c",
        eligible=True,
        halted=True,
        reached=lambda layout, node: _status(layout, node).get("role") == "coordinator",
    ),
    AgentState("running a job", "c", eligible=True, halted=False, reached=_job_running),
)


def agent_once(root: Path, state: AgentState) -> tuple[float, float]:
    """(seconds to serve, seconds from SIGTERM to exit) of one agent run in `state`."""
    layout = new_run(root / "run")
    if state.halted:
        write_halt(layout, "cli bench: no jobs")
    token = root / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    port = _free_port()
    argv = [sys.executable, "-c", ENTRY, "p2p", str(layout.root), "--node-id", state.node]
    argv += ["--listen", f"127.0.0.1:{port}", "--token-file", str(token)]
    # A worker-only node's peer is a port nobody listens on: it waits for a coordinator.
    argv += ["--coordinator-eligible"] if state.eligible else ["--peers", f"http://127.0.0.1:{_free_port()}"]
    log = root / "agent.log"
    serving = agent_file(node_dir(layout, state.node, shared=False))
    with log.open("wb") as out:
        start = time.perf_counter()
        agent = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    try:
        _wait(serving.exists, "the agent to serve", log)
        started = time.perf_counter() - start
        _wait(lambda: state.reached(layout, state.node), state.name, log)
        jobs = list((layout.root / "p2p" / "work").glob("*/pid"))
        stop = time.perf_counter()
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=WAIT_S)
        stopped = time.perf_counter() - stop
        if code != 0:
            raise CliBenchError(f"the agent exited {code} on SIGTERM; log:\n{log.read_text()[-3000:]}")
        left = [p.parent.name for p in jobs if not _gone(int(p.read_text()))]
        if left:
            raise CliBenchError(f"jobs {left} outlived their agent")
        return started, stopped
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


def time_agent(runs: int) -> list[Timing]:
    """The agent's start (over every run) and its SIGTERM exit in each state, `runs` runs each."""
    starts: list[float] = []
    stops = []
    for state in STATES:
        seconds = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="cli-bench-agent-") as scratch:
                started, stopped = agent_once(Path(scratch), state)
            starts.append(started)
            seconds.append(stopped)
        stops.append(Timing(f"p2p agent SIGTERM -> exit, {state.name}", tuple(seconds), AGENT_STOP_TARGET_S))
    return [Timing("p2p agent start (serving)", tuple(starts), AGENT_START_TARGET_S), *stops]


def run_cli_bench(runs: int = 5, agent_runs: int = 3) -> list[Timing]:
    """Every figure of the bench."""
    if runs < 1 or agent_runs < 1:
        raise ValueError(f"runs and agent_runs must be at least 1, got {runs} and {agent_runs}")
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as scratch:
        commands = time_commands(Path(scratch), runs)
    return [*commands, *time_agent(agent_runs)]
