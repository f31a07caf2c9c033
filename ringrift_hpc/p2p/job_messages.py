"""The messages between a worker and the coordinator's work queue, and the operator's halt.

Each request names its sender (`node`), which must be the node that signed it. Replies carry
`halted`, so every worker mirrors the coordinator's HALT.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Strict

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.p2p.node_states import ACTIVE, SettingField
from ringrift_hpc.p2p.wire import WIRE_VERSION, Count, Flag, Name, Text, Version, WireModel, expected
from ringrift_hpc.p2p.work_queue import ClaimedJob, Demand, JobId


class ClaimRequest(WireModel):
    """Worker -> coordinator: a job that fits `free`, please; `term_seen` fences an old coordinator."""

    WHAT = "claim"
    v: Version = WIRE_VERSION
    node: Name
    term_seen: Count
    free: Demand


class ClaimReply(WireModel):
    """The job handed out (None: none fits, none waits, or the node is not active) and the
    claiming node's state (drain, retire)."""

    WHAT = "claim reply"
    v: Version = WIRE_VERSION
    job: ClaimedJob | None
    halted: Flag
    node_state: SettingField = ACTIVE


class JobHeartbeat(WireModel):
    """Worker -> coordinator: `node` still runs `job_id` of `term`; extend its lease."""

    WHAT = "job heartbeat"
    v: Version = WIRE_VERSION
    node: Name
    job_id: JobId
    term: Count


class JobHeartbeatReply(WireModel):
    """`ok`: the lease was extended; `cancel`: stop the job, its result would not be accepted."""

    WHAT = "job heartbeat reply"
    v: Version = WIRE_VERSION
    ok: Flag
    cancel: Flag
    reason: Text
    halted: Flag


class JobReport(WireModel):
    """Worker -> coordinator: how `node`'s run of `job_id` ended."""

    WHAT = "job report"
    v: Version = WIRE_VERSION
    node: Name
    job_id: JobId
    term: Count
    # The enum's value ("completed"), as JSON has no enums.
    status: Annotated[
        JobStatus, Strict(False), expected(f"one of {', '.join(status.value for status in JobStatus)}")
    ]
    exit_code: Annotated[int | None, expected("an integer or null")] = None
    elapsed_s: Count = 0
    error: Text = ""  # the failed run's traceback tail


class JobReportReply(WireModel):
    WHAT = "job report reply"
    v: Version = WIRE_VERSION
    accepted: Flag
    reason: Text


def _not_blank(reason: str) -> str:
    if not reason.strip():
        raise ValueError(reason)
    return reason


class HaltRequest(WireModel):
    """Operator -> any node (forwarded to the coordinator): stop starting work, and why."""

    WHAT = "halt request"
    v: Version = WIRE_VERSION
    reason: Annotated[
        str,
        AfterValidator(_not_blank),
        expected("a reason (not blank), so whoever resumes knows why the run stopped"),
    ]
    cancel: Flag = False
