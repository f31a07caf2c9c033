"""Who is out there: each node's view of itself, and the table of peers built from heartbeats.

Liveness is judged on the receiver's monotonic clock (time since it last heard the peer), never
on the sender's timestamp, so clock skew between machines cannot make a peer look alive or
dead. Versions make drift visible: a node whose code or run.yaml differs from the
coordinator's is refused work, with the reason in the status document.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import ringrift_hpc
from ringrift_hpc.config import dump_config, load_config
from ringrift_hpc.p2p.wire import (
    WIRE_VERSION,
    Count,
    Finite,
    Flag,
    Name,
    Names,
    OptionalName,
    Version,
    WireModel,
)

_SHORT = 12
_NVIDIA_DEVICE = re.compile(r"^nvidia\d+$")
# CUDA stops at the first entry that is neither an index nor a GPU/MIG UUID.
_CUDA_ENTRY = re.compile(r"^(\d+|GPU-[0-9A-Za-z-]+|MIG-[0-9A-Za-z/-]+)$")


class Resources(WireModel):
    """What a node offers: CPUs, GPUs, memory and free disk in its run directory."""

    WHAT = "resources"
    cpus: Count
    gpus: Count
    memory_mb: Count
    disk_mb: Count


def gpu_count(environ: Mapping[str, str], dev: Path = Path("/dev")) -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else the NVIDIA device files."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = 0
        for entry in visible.split(","):
            if not _CUDA_ENTRY.match(entry.strip()):
                break
            count += 1
        return count
    try:
        return sum(1 for p in dev.iterdir() if _NVIDIA_DEVICE.match(p.name))
    except OSError:
        return 0


def memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Total memory in MiB: MemTotal from /proc/meminfo, else the page count (non-Linux)."""
    try:
        for line in meminfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemTotal":
                return int(value.split()[0]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) >> 20


def local_resources(path: Path) -> Resources:
    """This machine's resources; disk is the free space where `path` (the run directory) lives."""
    # Affinity, where the OS has it, is what a cgroup or `taskset` really leaves this process.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Resources(
        cpus=cpus,
        gpus=gpu_count(os.environ),
        memory_mb=memory_mb(),
        disk_mb=shutil.disk_usage(path).free >> 20,
    )


class NodeView(WireModel):
    """What a node says about itself in a heartbeat (the request and the reply)."""

    WHAT = "node view"
    v: Version = WIRE_VERSION
    node: Name
    url: Name
    eligible: Flag
    resources: Resources
    running_jobs: Names
    code_version: Name
    config_version: Name
    term: Count
    coordinator: OptionalName
    sent_at: Finite  # the sender's wall clock; shown, never used for liveness


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_SHORT]


@functools.cache
def code_version() -> str:
    """Package version plus a short hash of every .py file of the installed package."""
    root = Path(ringrift_hpc.__file__).parent
    digest = hashlib.sha256()
    for source in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return f"{ringrift_hpc.__version__}+{digest.hexdigest()[:_SHORT]}"


def config_version(run_config: Path) -> str:
    """Short hash of the run's config, less `run.root`: each node keeps the run where it likes,
    but every other key must be the same everywhere."""
    config = load_config(run_config)
    portable = config.model_copy(update={"run": config.run.model_copy(update={"root": "."})})
    return _sha(dump_config(portable).encode())


def incompatibility(view: NodeView, coordinator: NodeView) -> str | None:
    """Why the node behind `view` may not take work from `coordinator`; None when it may."""
    if view.code_version != coordinator.code_version:
        return (
            f"node {view.node} runs code version {view.code_version}, which differs from the coordinator's "
            f"{coordinator.code_version}: install the same ringrift-hpc on every node"
        )
    if view.config_version != coordinator.config_version:
        return (
            f"node {view.node} has config version {view.config_version}, which differs from the "
            f"coordinator's {coordinator.config_version}: give every node the same run.yaml"
        )
    return None


class PeerTable:
    """Peers known from seeds and heartbeats, with when each was last heard (receiver's clock)."""

    def __init__(self, seeds: Sequence[str], *, suspect_after_s: float, dead_after_s: float) -> None:
        if not 0 < suspect_after_s < dead_after_s:
            raise ValueError(
                f"suspect_after_s {suspect_after_s} and dead_after_s {dead_after_s}: both must be "
                "positive and dead_after_s larger"
            )
        self._seeds = tuple(dict.fromkeys(seeds))
        self._suspect_after_s = suspect_after_s
        self._dead_after_s = dead_after_s
        self._views: dict[str, NodeView] = {}
        self._heard: dict[str, float] = {}

    def heard(self, view: NodeView, now: float) -> None:
        """`view` arrived at `now`; one older than the view kept (sender's clock) only counts as contact."""
        self._heard[view.node] = max(now, self._heard.get(view.node, now))
        kept = self._views.get(view.node)
        if kept is None or view.sent_at >= kept.sent_at:
            self._views[view.node] = view

    def liveness(self, node: str, now: float) -> str:
        """ "alive", "suspect" or "dead" (also for a node never heard from)."""
        last = self._heard.get(node)
        if last is None:
            return "dead"
        silent = now - last
        if silent < self._suspect_after_s:
            return "alive"
        return "suspect" if silent < self._dead_after_s else "dead"

    def view(self, node: str) -> NodeView | None:
        return self._views.get(node)

    def views(self) -> tuple[NodeView, ...]:
        """The newest view of every peer heard from, by node id."""
        return tuple(self._views[node] for node in sorted(self._views))

    def urls(self) -> list[str]:
        """Every URL to send heartbeats to: the seeds and the URLs peers announced."""
        return sorted(set(self._seeds) | {v.url for v in self._views.values()})

    def peers(self, now: float, *, coordinator: NodeView | None = None) -> list[dict[str, object]]:
        """One entry per peer for the status document, then seeds not heard from yet.

        `coordinator` defaults to the view, if held, of the node named coordinator by the
        highest-term view; each peer's `problem` is its silence or why it is refused work.
        """
        if coordinator is None:
            coordinator = self._coordinator_view()
        rows: list[dict[str, object]] = []
        for node in sorted(self._views):
            view = self._views[node]
            liveness = self.liveness(node, now)
            ago = now - self._heard[node]
            problem = None
            if liveness != "alive":
                problem = f"not heard from for {ago:.1f} s"
            elif coordinator is not None and node != coordinator.node:
                problem = incompatibility(view, coordinator)
            rows.append(
                {
                    "node": node,
                    "url": view.url,
                    "liveness": liveness,
                    "last_heard_s_ago": round(ago, 3),
                    "eligible": view.eligible,
                    "resources": view.resources.to_json(),
                    "running_jobs": list(view.running_jobs),
                    "code_version": view.code_version,
                    "config_version": view.config_version,
                    "term": view.term,
                    "coordinator": view.coordinator,
                    "problem": problem,
                }
            )
        announced = {v.url for v in self._views.values()}
        for url in self._seeds:
            if url not in announced:
                rows.append(
                    {
                        "node": None,
                        "url": url,
                        "liveness": "dead",
                        "last_heard_s_ago": None,
                        "problem": "never heard from: check this --peers URL and that a node runs there",
                    }
                )
        return rows

    def _coordinator_view(self) -> NodeView | None:
        named = [v for v in self._views.values() if v.coordinator is not None]
        if not named:
            return None
        newest = max(named, key=lambda v: v.term)
        return self._views.get(newest.coordinator) if newest.coordinator is not None else None
