"""What the operator made of each node: drain, retire, unretire (`ringrift-hpc p2p drain ...`).

A **draining** node finishes the jobs it runs and claims no new one; once it runs none it shows
as **drained**. A **retired** node gets no work and the keepalive hook leaves it alone.
`unretire` makes a node active again (it also ends a drain).

The table lives in `RUN/p2p/node_states.json`. Its single writer is the coordinator: the CLI asks
the local agent, which forwards the change to the coordinator, which writes the file atomically
and replicates it to the other eligible nodes with its pointer files (on a shared run
directory every node reads the one file). So the states survive restarts and a change of
coordinator. Only nodes that are not active are listed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import Field

from ringrift_hpc.p2p.replica import NODE_STATES_RELPATH, NodeId
from ringrift_hpc.p2p.wire import WIRE_VERSION, Count, Finite, Text, Version, WireError, WireModel, expected
from ringrift_hpc.store import RunLayout, atomic_write_json
from ringrift_hpc.store.versioned_json import parse_versioned_json

log = logging.getLogger(__name__)

NODE_STATES_FORMAT: Final = "ringrift-hpc.p2p-node-states"
NODE_STATES_VERSION: Final = 1

Setting = Literal["active", "draining", "retired"]
ACTIVE: Final = "active"
DRAINING: Final = "draining"
RETIRED: Final = "retired"
DRAINED: Final = "drained"  # shown only: a draining node that runs no job any more
SETTINGS: Final = (ACTIVE, DRAINING, RETIRED)

# Each command and the setting it asks for.
COMMANDS: Mapping[str, Setting] = MappingProxyType({"drain": DRAINING, "retire": RETIRED, "unretire": ACTIVE})

SettingField = Annotated[Setting, expected(f"one of {', '.join(SETTINGS)}")]


class NodeStatesError(ValueError):
    """`RUN/p2p/node_states.json` cannot be read; the message names the file, the field and the fix."""


class NodeState(WireModel):
    """One node that is not active: since when, why and on whose request."""

    WHAT = "node state"
    state: Annotated[Literal["draining", "retired"], expected("draining or retired")]
    reason: Text
    requested_by: Text
    changed_at: Finite  # unix time on the coordinator that recorded it
    term: Count  # that coordinator's term


class NodeStateRequest(WireModel):
    """Operator -> any node (forwarded to the coordinator): set `target`'s state."""

    WHAT = "node state request"
    v: Version = WIRE_VERSION
    target: NodeId
    state: SettingField
    reason: Text = ""
    requested_by: Text = ""


def node_states_path(layout: RunLayout) -> Path:
    return layout.root / NODE_STATES_RELPATH


class NodeStates(WireModel):
    """The table: node id -> its state, for the nodes that are not active."""

    WHAT = "node state table"
    format: Literal["ringrift-hpc.p2p-node-states"] = NODE_STATES_FORMAT
    format_version: Literal[1] = NODE_STATES_VERSION
    nodes: Mapping[NodeId, NodeState] = Field(default_factory=dict)

    def setting(self, node: str) -> Setting:
        entry = self.nodes.get(node)
        return entry.state if entry is not None else ACTIVE

    def changed(
        self, node: str, setting: Setting, *, reason: str, requested_by: str, at: float, term: int
    ) -> NodeStates:
        """The table with `node` set to `setting` (an active node is dropped from it)."""
        nodes = {name: entry for name, entry in self.nodes.items() if name != node}
        if setting != ACTIVE:
            nodes[node] = NodeState(
                state=setting, reason=reason, requested_by=requested_by, changed_at=at, term=term
            )
        return NodeStates(nodes=dict(sorted(nodes.items())))


def shown_state(setting: Setting, running_jobs: int) -> str:
    """What `status` shows: a draining node that runs no job is drained."""
    return DRAINED if setting == DRAINING and running_jobs == 0 else setting


def work_refusal(setting: Setting, node: str) -> str:
    """Why a node of this setting gets no new job; "" when it may take one."""
    if setting == DRAINING:
        return (
            f"node {node} is draining: it finishes its jobs and takes no new ones (unretire brings it back)"
        )
    if setting == RETIRED:
        return f"node {node} is retired: it gets no work (unretire brings it back)"
    return ""


def parse_node_states(raw: bytes, path: Path) -> NodeStates:
    """The table in `raw` (the content of `path`); `NodeStatesError` naming the file, field and fix."""
    fix = (
        f"move {path} aside (every node then counts as active) and set the states again with "
        "`ringrift-hpc p2p drain|retire`"
    )
    doc = parse_versioned_json(
        raw,
        path,
        what="node state table",
        format_name=NODE_STATES_FORMAT,
        version=NODE_STATES_VERSION,
        error=NodeStatesError,
        fix=fix,
        version_fix="write it again with this version's `ringrift-hpc p2p drain|retire|unretire`",
    )
    try:
        return NodeStates.from_json(doc, f"{path}")
    except WireError as error:
        raise NodeStatesError(f"{error}; {fix}") from None


class NodeStateBook:
    """This node's copy of the table, re-read when the file changes (a replica push, or the
    coordinator on a shared run directory); only the coordinator calls `write`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._states = NodeStates()
        self._load()  # a table that cannot be read stops the agent at start, naming the fix

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def _load(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        # Seen even when unreadable: the error is told once per change of the file, not per call.
        self._seen = stamp
        try:
            self._states = parse_node_states(self.path.read_bytes(), self.path)
        except FileNotFoundError:
            self._states = NodeStates()

    def current(self) -> NodeStates:
        """The table as the file holds it now; a file that turned unreadable keeps the last good table."""
        try:
            self._load()
        except NodeStatesError as error:
            log.error("keeping the node states read before: %s", error)
        return self._states

    def write(self, states: NodeStates) -> None:
        atomic_write_json(self.path, states.to_json())
        self._states, self._seen = states, self._stamp()
