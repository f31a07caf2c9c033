"""A throw-away network of Linux network namespaces for P2P tests (needs root and `ip`).

One "switch" namespace holds the bridges; each node namespace has one veth (`eth0`) whose other end
sits in the switch namespace as port `p<i>`. Everything is created inside namespaces the lab owns,
so the host's own interfaces are never touched, and deleting the namespaces removes every veth
and bridge with them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Any, final

from ringrift_hpc.cluster.local_files import process_alive

_STEM = "rrt"
# Default prefixes are rrt<pid>x<n>: a later run can tell that the owning process is gone.
_DEFAULT_PREFIX = re.compile(rf"^{_STEM}(\d+)x\d+-")
_IP_TIMEOUT_S = 20.0
_KILL_GRACE_S = 3.0
_MAX_NODES = 200
_labs_made = itertools.count()


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()}")


def namespaces() -> list[str]:
    """Names of all network namespaces that `ip netns` knows."""
    proc = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=True
    )
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


@functools.cache
def netns_available() -> str | None:
    """Why a lab cannot be built here, or None when it can (probes one namespace, bridge and veth)."""
    if os.geteuid() != 0:
        return "not running as root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{_STEM}probe{os.getpid()}"
    peer = f"{probe}b"
    try:
        _ip("netns", "add", probe)
        try:
            _ip("netns", "add", peer)
            _ip("-n", probe, "link", "add", "br0", "type", "bridge")
            _ip("-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "eth0", "netns", peer)
        finally:
            _delete_quietly([probe, peer])
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        return f"cannot build network namespaces: {err}"
    return None


def _delete_quietly(names: Collection[str]) -> None:
    for name in names:
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=_IP_TIMEOUT_S, check=False
        )


def _stale(name: str, prefix: str) -> bool:
    if name.startswith(f"{prefix}-"):
        return True
    owner = _DEFAULT_PREFIX.match(name)
    return owner is not None and not process_alive(int(owner.group(1)), None)


@final
class NetnsLab:
    """`nodes` namespaces on one switch; `partition` splits them, `heal` joins them again.

    With an explicit `prefix`, namespaces left by an earlier lab with the same prefix are deleted on
    entry, so two labs running at once must not share a prefix. The default prefix is unique per
    process and lab; leftovers of default-prefixed labs whose process has died are deleted too.
    """

    def __init__(self, nodes: int, *, prefix: str | None = None) -> None:
        if not 1 <= nodes <= _MAX_NODES:
            raise ValueError(f"NetnsLab nodes={nodes}: use 1 to {_MAX_NODES} nodes")
        if prefix is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.]{0,30}", prefix):
            raise ValueError(f"NetnsLab prefix {prefix!r}: use 1 to 31 letters, digits, '_' or '.' (no '-')")
        serial = next(_labs_made)
        pid = os.getpid()
        self.prefix = prefix if prefix is not None else f"{_STEM}{pid}x{serial}"
        self.nodes = nodes
        self._subnet = 1 + (pid + serial) % 254
        self._switch = f"{self.prefix}-sw"
        self._node_ns = [f"{self.prefix}-n{i}" for i in range(nodes)]
        self._made: list[str] = []
        self._bridges: set[str] = set()
        self._procs: list[subprocess.Popen[Any]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> NetnsLab:
        _delete_quietly([n for n in namespaces() if _stale(n, self.prefix)])
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _build(self) -> None:
        self._add_namespace(self._switch)
        self._add_bridge("br0")
        for i, ns in enumerate(self._node_ns):
            self._add_namespace(ns)
            port = f"p{i}"
            _ip("-n", self._switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", self._switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _add_bridge(self, bridge: str) -> None:
        # forward_delay 0 and no STP: a port moved onto a bridge forwards at once.
        _ip(
            "-n",
            self._switch,
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        )
        _ip("-n", self._switch, "link", "set", bridge, "up")
        self._bridges.add(bridge)

    def close(self) -> None:
        """Kill the processes started with `popen` and delete every namespace this lab made."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_GRACE_S
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=_KILL_GRACE_S)
        self._procs.clear()
        _delete_quietly(self._made)
        left = set(self._made) & set(namespaces())
        self._made.clear()
        if left:
            raise RuntimeError(f"NetnsLab could not delete namespaces {sorted(left)}")

    # -- nodes -----------------------------------------------------------------------------------

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of this lab: the switch first, then node 0, 1, ..."""
        return (self._switch, *self._node_ns)

    def namespace(self, i: int) -> str:
        return self._node_ns[self._check(i)]

    def address(self, i: int) -> str:
        return f"10.231.{self._subnet}.{self._check(i) + 1}"

    def _check(self, i: int) -> int:
        if not 0 <= i < self.nodes:
            raise IndexError(f"NetnsLab node {i}: this lab has nodes 0 to {self.nodes - 1}")
        return i

    def command(self, i: int, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run inside node `i`'s namespace."""
        return ["ip", "netns", "exec", self.namespace(i), *argv]

    def run(
        self, i: int, argv: Sequence[str], *, check: bool = False, **kw: Any
    ) -> subprocess.CompletedProcess[Any]:
        """`subprocess.run` inside node `i` (a 60 s timeout unless `timeout` is given)."""
        kw.setdefault("timeout", 60.0)
        return subprocess.run(self.command(i, argv), check=check, **kw)

    def popen(self, i: int, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """`subprocess.Popen` inside node `i` in its own session; the lab kills its group on exit."""
        kw["start_new_session"] = True
        proc: subprocess.Popen[Any] = subprocess.Popen(self.command(i, argv), **kw)
        self._procs.append(proc)
        return proc

    # -- topology --------------------------------------------------------------------------------

    def partition(self, groups: Sequence[Collection[int]]) -> None:
        """Group g's nodes share bridge br<g>; nodes named in no group are cut off from everyone."""
        seen: set[int] = set()
        for group in groups:
            for i in group:
                self._check(i)
                if i in seen:
                    raise ValueError(f"NetnsLab.partition: node {i} is in more than one group")
                seen.add(i)
        for g, group in enumerate(groups):
            bridge = f"br{g}"
            if bridge not in self._bridges:
                self._add_bridge(bridge)
            for i in group:
                _ip("-n", self._switch, "link", "set", f"p{i}", "master", bridge)
        for i in range(self.nodes):
            if i not in seen:
                _ip("-n", self._switch, "link", "set", f"p{i}", "nomaster")

    def heal(self) -> None:
        """Every node back on br0."""
        self.partition([range(self.nodes)])
