"""The peer-to-peer fallback mode (`ringrift-hpc p2p`): who may coordinate, and its timeouts."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from .base import Bool, Float, Int, InvalidValue, Section, Str

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class P2PSection(Section):
    """Nodes without Slurm: a coordinator elected by a majority of `coordinators`, pull workers."""

    coordinators: tuple[Str, ...] = Field(
        default=(),
        description="Node ids that may coordinate. A coordinator needs the votes of a majority of this "
        "fixed list, so two coordinators cannot exist at once; list 3 or 5 nodes to survive 1 or 2 "
        "failures. Every node must be started with the same list (it is part of the config version).",
    )
    heartbeat_interval_s: Float = Field(
        default=1.0, gt=0, description="Seconds between a node's heartbeats to each peer."
    )
    suspect_after_s: Float = Field(
        default=5.0, gt=0, description="A peer not heard from for this long is shown as suspect."
    )
    dead_after_s: Float = Field(
        default=15.0,
        gt=0,
        description="A peer not heard from for this long is dead: its keepalive hook is called.",
    )
    lease_s: Float = Field(
        default=10.0,
        gt=0,
        description="Coordinator lease granted by each vote; renewed every third of it. A coordinator "
        "that cannot renew with a majority steps down before any vote it holds can expire.",
    )
    clock_drift: Float = Field(
        default=0.05,
        ge=0,
        lt=0.5,
        description="Largest relative clock-rate difference between nodes that the lease tolerates; the "
        "coordinator gives up its lease this share of `lease_s` early.",
    )
    job_lease_s: Float = Field(
        default=30.0,
        gt=0,
        description="A claimed job whose worker sends no heartbeat for this long is handed out again.",
    )
    sync_interval_s: Float = Field(
        default=5.0, gt=0, description="Seconds between artifact pulls from the coordinator."
    )
    request_window_s: Float = Field(
        default=30.0,
        gt=0,
        description="Signed requests older or newer than this (by the receiver's clock) are refused as stale.",
    )
    public_status: Bool = Field(
        default=False,
        description="Answer GET /status without a signature from any address (read-only, no secrets). "
        "false: only from this machine (loopback); every other request is always signed.",
    )
    max_body_mb: Int = Field(
        default=1024, ge=1, description="Largest request body accepted (artifact uploads), in MiB."
    )
    keepalive_command: Str | None = Field(
        default=None,
        description="Command called for a dead peer as `COMMAND check NODE URL` (exit 0: the instance "
        "lives) and `COMMAND restart NODE URL`; see docs/p2p.md. null: no hook.",
    )
    keepalive_backoff_s: Float = Field(
        default=60.0,
        gt=0,
        description="Wait before calling the keepalive hook again for the same peer; doubles up to 32x.",
    )

    @field_validator("coordinators")
    @classmethod
    def _node_ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        bad = [i for i in ids if not _NODE_ID.match(i)]
        if bad:
            raise InvalidValue(
                f"node ids {', '.join(map(repr, bad))} are not valid",
                "use 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit",
            )
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise InvalidValue(f"{', '.join(repeated)} listed more than once", "list each node once")
        return ids

    @model_validator(mode="after")
    def _timeouts_ordered(self) -> P2PSection:
        if self.dead_after_s <= self.suspect_after_s:
            raise InvalidValue(
                f"dead_after_s {self.dead_after_s} is not above suspect_after_s {self.suspect_after_s}",
                "make dead_after_s larger than suspect_after_s",
                key="dead_after_s",
            )
        if self.lease_s <= 3 * self.heartbeat_interval_s:
            raise InvalidValue(
                f"lease_s {self.lease_s} leaves fewer than three heartbeats to renew the lease",
                "make lease_s more than 3 x heartbeat_interval_s",
                key="lease_s",
            )
        return self
