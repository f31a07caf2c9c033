"""The coordinator's jobs in P2P mode: an in-memory queue that workers pull from.

A job is hidden when added and becomes claimable only at ``publish``: the coordinator calls it
once the journal that submitted the job is held by a majority, so a job never runs that a
successor coordinator could not know of. A claim is a lease of ``job_lease_s`` that the
worker's heartbeats extend; a lapsed lease puts the job back in line (``expire``), and from
then on only the new holder's report counts.

The term fences everything. Job ids are ``term * 1_000_000 + seq``, so they never repeat
across terms, and an id of an older term names a job that was lost with its coordinator: it
reads as failed, and the controller resubmits it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import Field

from ringrift_hpc.cluster.executor import JobState, JobStatus
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose, check_purpose
from ringrift_hpc.p2p.wire import Count, Positive, Seconds, WireModel, expected

IDS_PER_TERM = 1_000_000

Clock = Callable[[], float]


class StaleTermError(RuntimeError):
    """A peer has seen a newer term than this queue's: its coordinator is superseded."""

    def __init__(self, term_seen: int, term: int) -> None:
        super().__init__(
            f"term {term_seen} has been seen, but this coordinator's term is {term}: it is superseded and "
            "hands out no more jobs; ask the coordinator of the newer term"
        )
        self.term_seen = term_seen
        self.term = term


class Demand(WireModel):
    """Resources: what a job needs, or what a worker has free."""

    WHAT = "resources"
    cpus: Count
    gpus: Count
    memory_mb: Count

    def fits(self, free: Demand) -> bool:
        return self.cpus <= free.cpus and self.gpus <= free.gpus and self.memory_mb <= free.memory_mb


JobId = Annotated[str, Field(pattern=r"^[0-9]+$"), expected("a string of digits (a job id)")]


class ClaimedJob(WireModel):
    """A job handed to a worker: run ``job`` (an encoded job document), heartbeat within ``lease_s``."""

    WHAT = "claimed job"
    job_id: JobId
    term: Positive
    purpose: Annotated[Purpose, expected(f"one of {', '.join(PURPOSES)}")]
    job: Annotated[dict[str, str], expected("an object of strings (a job document)")]
    lease_s: Seconds


@dataclass(frozen=True)
class HeartbeatReply:
    ok: bool  # the lease was extended
    cancel: bool  # stop the job: its result would not be accepted
    reason: str = ""


@dataclass(frozen=True)
class ReportReply:
    accepted: bool
    reason: str = ""


@dataclass(frozen=True)
class _Entry:
    purpose: Purpose
    job: Mapping[str, str]
    demand: Demand
    state: JobState
    visible: bool = False
    node: str = ""
    claimed_at: float = 0.0
    deadline: float = 0.0
    handed_out: int = 0
    error: str = ""


def _holder(entry: _Entry) -> str:
    return f"held by {entry.node}" if entry.state.status is JobStatus.RUNNING else "waiting to be handed out"


def term_of(job_id: str) -> int:
    """The term whose coordinator issued ``job_id``."""
    return int(job_id) // IDS_PER_TERM


class WorkQueue:
    """The jobs of one coordinator term; every method is safe to call from any thread."""

    def __init__(self, term: int, *, job_lease_s: float, clock: Clock = time.monotonic) -> None:
        if type(term) is not int or term < 1:
            raise ValueError(f"term {term!r} must be a positive integer (terms start at 1)")
        if not job_lease_s > 0:
            raise ValueError(f"job_lease_s {job_lease_s} must be positive")
        self.term = term
        self.job_lease_s = job_lease_s
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, _Entry] = {}  # in submission order: FIFO
        self._seq = 0

    # --- the coordinator's side ------------------------------------------------------------------

    def add(self, purpose: Purpose, job: Mapping[str, str], demand: Demand) -> str:
        """A new hidden job; its id."""
        check_purpose(purpose)
        with self._lock:
            if self._seq + 1 >= IDS_PER_TERM:
                raise RuntimeError(
                    f"term {self.term} has issued {self._seq} job ids, the most one term can; "
                    "a new term (a coordinator restart) starts a fresh range"
                )
            self._seq += 1
            job_id = str(self.term * IDS_PER_TERM + self._seq)
            self._jobs[job_id] = _Entry(purpose, dict(job), demand, JobState(JobStatus.PENDING))
            return job_id

    def publish(self) -> int:
        """Make every hidden job claimable; how many were hidden."""
        with self._lock:
            hidden = [job_id for job_id, entry in self._jobs.items() if not entry.visible]
            for job_id in hidden:
                self._jobs[job_id] = replace(self._jobs[job_id], visible=True)
            return len(hidden)

    def expire(self) -> list[str]:
        """Put claimed jobs whose lease lapsed back in line; their ids."""
        with self._lock:
            return self._expire()

    def _expire(self) -> list[str]:
        now = self._clock()
        lapsed = [
            job_id
            for job_id, entry in self._jobs.items()
            if entry.state.status is JobStatus.RUNNING and entry.deadline < now
        ]
        for job_id in lapsed:
            self._jobs[job_id] = replace(
                self._jobs[job_id], state=JobState(JobStatus.PENDING), node="", deadline=0.0
            )
        return lapsed

    def cancel(self, job_ids: Iterable[str]) -> None:
        """Cancel queued or running jobs of this term; finished and unknown ones are left alone."""
        with self._lock:
            for job_id in job_ids:
                self._cancel(job_id)

    def cancel_all(self) -> None:
        with self._lock:
            for job_id in list(self._jobs):
                self._cancel(job_id)

    def _cancel(self, job_id: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry.state.is_terminal:
            return
        running = entry.state.status is JobStatus.RUNNING
        detail = f"cancelled while running on {entry.node}" if running else "cancelled before it started"
        self._jobs[job_id] = replace(
            entry, state=JobState(JobStatus.CANCELLED, None, self._elapsed(entry), entry.node, detail)
        )

    # --- the workers' side -----------------------------------------------------------------------

    def claim(self, node: str, free: Demand, *, term_seen: int) -> ClaimedJob | None:
        """The oldest claimable job that fits ``free``, now leased to ``node``; None if none fits.

        Jobs whose lease lapsed count as claimable (they are expired first).

        Raises ``StaleTermError`` when ``term_seen`` is newer than this queue's term.
        """
        with self._lock:
            if term_seen > self.term:
                raise StaleTermError(term_seen, self.term)
            self._expire()  # a lapsed job goes out again at once, not at the controller's next poll
            for job_id, entry in self._jobs.items():
                if entry.visible and entry.state.status is JobStatus.PENDING and entry.demand.fits(free):
                    now = self._clock()
                    self._jobs[job_id] = replace(
                        entry,
                        state=JobState(JobStatus.RUNNING, node=node),
                        node=node,
                        claimed_at=now,
                        deadline=now + self.job_lease_s,
                        handed_out=entry.handed_out + 1,
                    )
                    return ClaimedJob(
                        job_id=job_id,
                        term=self.term,
                        purpose=entry.purpose,
                        job=dict(entry.job),
                        lease_s=self.job_lease_s,
                    )
            return None

    def heartbeat(self, node: str, job_id: str, term: int) -> HeartbeatReply:
        """Extend ``node``'s lease on ``job_id``; ``cancel`` when its result would be refused."""
        with self._lock:
            if term != self.term:
                return HeartbeatReply(False, True, f"job {job_id} is of term {term}; the term is {self.term}")
            entry = self._jobs.get(job_id)
            if entry is None:
                return HeartbeatReply(False, True, f"no job {job_id} in term {self.term}")
            if entry.state.is_terminal:
                return HeartbeatReply(False, True, f"job {job_id} is {entry.state.status.value}")
            if entry.state.status is not JobStatus.RUNNING or entry.node != node:
                return HeartbeatReply(False, True, f"job {job_id} is {_holder(entry)}, not held by {node}")
            self._jobs[job_id] = replace(entry, deadline=self._clock() + self.job_lease_s)
            return HeartbeatReply(True, False)

    def report(self, node: str, job_id: str, term: int, state: JobState, error: str) -> ReportReply:
        """Record how ``node``'s run of ``job_id`` ended; only its current holder's first report counts."""
        with self._lock:
            if term != self.term:
                older = "an older" if term < self.term else "a newer"
                return ReportReply(
                    False,
                    f"report of job {job_id} is for term {term}, {older} term than this coordinator's "
                    f"term {self.term}; it changes nothing",
                )
            if not state.is_terminal:
                return ReportReply(
                    False,
                    f"report of job {job_id} says {state.status.value}; only a finished job is reported",
                )
            entry = self._jobs.get(job_id)
            if entry is None:
                return ReportReply(False, f"no job {job_id} in term {self.term}")
            if entry.state.is_terminal:
                return ReportReply(
                    False,
                    f"job {job_id} is already {entry.state.status.value}; a late report changes nothing",
                )
            if entry.state.status is not JobStatus.RUNNING or entry.node != node:
                return ReportReply(
                    False,
                    f"job {job_id} is {_holder(entry)}, not held by {node} (its lease lapsed, or it never "
                    "claimed the job); the report changes nothing",
                )
            self._jobs[job_id] = replace(
                entry,
                state=replace(state, node=node, elapsed_s=state.elapsed_s or self._elapsed(entry)),
                error=error,
            )
            return ReportReply(True)

    # --- reading ---------------------------------------------------------------------------------

    def state(self, job_id: str) -> JobState:
        """What the controller's ``poll`` sees of ``job_id``."""
        with self._lock:
            lost = self._lost(job_id)
            if lost:
                return JobState(JobStatus.FAILED, detail=lost)
            entry = self._jobs.get(job_id)
            if entry is None:
                return JobState(JobStatus.UNKNOWN, detail=f"no job {job_id} in term {self.term}")
            if entry.state.status is JobStatus.RUNNING:
                return replace(entry.state, elapsed_s=self._elapsed(entry))
            return entry.state

    def error_text(self, job_id: str) -> str:
        """The failed run's traceback tail as its worker reported it; why a lost job is lost."""
        with self._lock:
            entry = self._jobs.get(job_id)
            return entry.error if entry is not None else self._lost(job_id)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every job, for ``GET /v1/status``."""
        with self._lock:
            now = self._clock()
            return [
                {
                    "id": job_id,
                    "purpose": entry.purpose,
                    "state": entry.state.status.value if entry.visible else "hidden",
                    "node": entry.node,
                    "handed_out": entry.handed_out,
                    "lease_remaining_s": (
                        round(max(0.0, entry.deadline - now), 3)
                        if entry.state.status is JobStatus.RUNNING
                        else None
                    ),
                }
                for job_id, entry in self._jobs.items()
            ]

    def _lost(self, job_id: str) -> str:
        if job_id.isdigit() and term_of(job_id) < self.term:
            return (
                f"job {job_id} was lost with the coordinator of term {term_of(job_id)} "
                f"(now {self.term}); the controller resubmits it"
            )
        return ""

    def _elapsed(self, entry: _Entry) -> int:
        if entry.state.status is not JobStatus.RUNNING:
            return entry.state.elapsed_s
        return max(0, int(self._clock() - entry.claimed_at))
