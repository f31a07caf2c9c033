"""Running several P2P node agents as child processes, each over its own run directory.

Nodes listen on 127.0.0.1 by default; a `NetnsLab` puts each node in its own network namespace
instead. Timeouts are shrunk so that elections and job leases happen in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiny_run import make_tiny_run

from ringrift_hpc.p2p.agent_link import node_dir, status_file
from ringrift_hpc.store import RunLayout

FAST_P2P = {
    "heartbeat_interval_s": 0.25,
    "suspect_after_s": 1.5,
    "dead_after_s": 4.0,
    "lease_s": 3.0,
    "job_lease_s": 8.0,
    "sync_interval_s": 1.0,
}
_AGENT = "import sys; from ringrift_hpc.cli.app import main; sys.argv = ['ringrift-hpc', *sys.argv[1:]]; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    node_id: str
    layout: RunLayout
    host: str
    port: int
    log: Path
    shared: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def status(self) -> dict[str, Any]:
        try:
            folder = node_dir(self.layout, self.node_id, shared=self.shared)
            doc: dict[str, Any] = json.loads(status_file(folder).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return doc

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class P2PCluster:
    root: Path
    node_ids: Sequence[str]
    eligible: Sequence[str]
    changes: dict[str, Any] = field(default_factory=dict)
    hosts: Sequence[str] | None = None
    popen: Callable[[int, list[str], dict[str, Any]], subprocess.Popen[bytes]] | None = None
    shared: bool = False  # one run directory for every node (a shared filesystem)
    extra_args: dict[str, list[str]] = field(default_factory=dict)  # per node, e.g. --max-jobs

    def __post_init__(self) -> None:
        self.token = self.root / "token"
        self.token.write_text("0123456789abcdef0123456789abcdef\n")
        self.token.chmod(0o600)
        config = {**self.changes, "p2p": {**FAST_P2P, **self.changes.get("p2p", {}), "coordinators": list(self.eligible)}}
        self.nodes: dict[str, Node] = {}
        for index, node_id in enumerate(self.node_ids):
            host = self.hosts[index] if self.hosts else "127.0.0.1"
            port = 8787 if self.hosts else free_port()
            run = self.root / ("shared" if self.shared else node_id)
            layout = make_tiny_run(run, generations=1, changes=config)
            self.nodes[node_id] = Node(node_id, layout, host, port, self.root / f"{node_id}.log", self.shared)

    def argv(self, node: Node) -> list[str]:
        peers = ",".join(n.url for n in self.nodes.values() if n is not node)
        argv = [sys.executable, "-c", _AGENT, "p2p", str(node.layout.root), "--node-id", node.node_id]
        argv += ["--listen", f"{node.host}:{node.port}", "--peers", peers, "--token-file", str(self.token)]
        argv += ["--shared-run-dir"] if self.shared else []
        argv += self.extra_args.get(node.node_id, [])
        return argv + (["--coordinator-eligible"] if node.node_id in self.eligible else [])

    def start(self, node_id: str) -> None:
        node = self.nodes[node_id]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "SLURM_CPUS_PER_TASK": "1"}
        if self.popen is not None:
            index = list(self.nodes).index(node_id)
            node.process = self.popen(index, self.argv(node), {"env": env, "log": node.log})
            return
        with node.log.open("ab") as out:
            node.process = subprocess.Popen(
                self.argv(node), stdout=out, stderr=out, env=env, start_new_session=True
            )

    def start_all(self) -> None:
        for node_id in self.nodes:
            self.start(node_id)

    def kill(self, node_id: str, signum: int = signal.SIGKILL) -> None:
        """Kill the agent and the job processes it started (they run in sessions of their own)."""
        node = self.nodes[node_id]
        if node.process is None:
            return
        jobs = [str(job["job_id"]) for job in node.status().get("running") or []]
        try:
            os.killpg(node.process.pid, signum)
        except ProcessLookupError:
            pass
        node.process.wait(timeout=30)
        for job_id in jobs:
            _kill_job(node.layout, job_id)

    def stop_all(self) -> None:
        """The coordinator last: while it waits for its exit the others could elect a new one
        and write records it never saw; with them gone first, no election can start."""
        leaders = set(self.coordinators())
        for node_id in sorted(self.nodes, key=lambda n: n in leaders):
            if self.nodes[node_id].alive():
                self.kill(node_id, signal.SIGTERM)

    def coordinators(self) -> list[str]:
        """Nodes whose latest status says they coordinate (fresh within two seconds)."""
        now = time.time()
        return [
            n.node_id
            for n in self.nodes.values()
            if n.alive() and n.status().get("role") == "coordinator" and now - n.status().get("written_at", 0) < 2
        ]

    def logs(self) -> str:
        return "\n".join(f"--- {n.node_id}\n{n.log.read_text()[-2500:]}" for n in self.nodes.values() if n.log.exists())


def _kill_job(layout: RunLayout, job_id: str) -> None:
    pid_file = layout.root / "p2p" / "work" / job_id / "pid"
    try:
        os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError, PermissionError):
        pass
