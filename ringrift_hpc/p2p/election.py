"""Who coordinates: a lease granted by a majority of a fixed electorate, numbered by terms.

One mechanism, no overrides. The electorate is `config.p2p.coordinators`, the same fixed list on
every node, so any two majorities share a voter. A voter grants a term to at most one
candidate (its term only grows, and only by a grant), and promises not to grant a *different*
candidate anything until `lease_s` has passed on its own clock. A candidate that a majority
granted is coordinator until `lease_deadline(started_at, lease_s, clock_drift)` on its clock,
where `started_at` was read before its first request left. Renewals repeat this for the same
term and move both the voters' promise and the deadline.

No two coordinators at once. Assume that over any interval each node's clock advances at
least (1 - clock_drift) times as much as any other node's. Let C1 hold term T and C2 win a
later term T2 > T. C2's majority and the majority behind C1's latest deadline (the one of
term T's election or of a renewal round) share a voter V. V granted T2 after it granted that
round for T (once at T2 it refuses everything for T), and only once its promise to C1 had run
out: `lease_s` on V's clock after the grant, hence after C1's `started_at`. Over that span
C1's clock advanced at least (1 - clock_drift) * lease_s, so C1's deadline passed before V
granted T2, which is before C2 learns it won. A restarted voter promises again from its
restart (see `load_vote`), which only lengthens the promise. When V is C1 itself, it drops
its promise early (below), but only once C1 no longer believes it holds the lease.

The new coordinator has every acknowledged record. A vote also requires the candidate's
journal position (term of its last record, length) to be at least the voter's (Raft's
up-to-date rule). A record that a majority stored is on some voter of the next winner's
majority, so the winner's journal is at least as up to date as one that holds it. As in
Raft, this proves the claim only for records a coordinator counted in its own term: a new
coordinator must append a record of its own term and have a majority store it before it
acts on anything it inherited.

A node's vote for itself promises nothing while it holds no lease (it lost, stepped down or
restarted): the promise protects the grantee's lease, and here the grantee knows it has none.
So that vote is released: for higher terms at once (granting one during this node's own
campaign makes that campaign lose), and for its own term once its campaign is over (it cannot
win that term any more, so the vote may go to the winner; a term still has at most one
coordinator, because a node whose campaign ended never takes that term). Without this, two candidates that
each voted for themselves renew those votes against each other forever, and a voter that
voted for itself stays outside the winner's majority for the whole term.

Candidates first probe (Raft's pre-vote): voters answer without changing anything, and only a
candidate that a majority would elect asks for real. A node cut off from the coordinator thus
never raises its own term away from the coordinator's, so it rejoins the majority on healing.

Higher terms do not depose anyone by themselves: a refused vote request changes nothing
on the voter, and a coordinator keeps its lease while a majority renews it. That is the
point of the lease: a disconnected node that keeps campaigning cannot make leadership flap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from ringrift_hpc.p2p.wire import (
    WIRE_VERSION,
    Count,
    Flag,
    Name,
    OptionalName,
    Positive,
    Text,
    Version,
    WireError,
    WireModel,
)
from ringrift_hpc.store.atomic import atomic_write_json

log = logging.getLogger(__name__)

VOTE_FORMAT: Final = "ringrift-hpc.p2p-vote"
VOTE_VERSION: Final = 1

Clock = Callable[[], float]


@dataclass(frozen=True, order=True)
class LogPosition:
    """How far a journal goes: the term of its last record, then its length in bytes."""

    term: int
    length: int


class VoteRequest(WireModel):
    """A candidate asks for `term`, with the position of its journal (`log_term`, `log_length`).

    renew: extend the term it holds. probe: "would you grant this?" (Raft's pre-vote); the
    voter answers as for the real request but changes nothing, so a candidate that cannot win
    never moves anyone's term.
    """

    WHAT = "vote request"
    v: Version = WIRE_VERSION
    term: Positive
    candidate: Name
    log_term: Count
    log_length: Count
    renew: Flag
    probe: Flag

    @property
    def log(self) -> LogPosition:
        return LogPosition(self.log_term, self.log_length)


class VoteReply(WireModel):
    """The voter's answer; `term` and `holder` are its state after the request."""

    WHAT = "vote reply"
    v: Version = WIRE_VERSION
    granted: Flag
    term: Count
    holder: OptionalName
    reason: Text


class VoteFile(WireModel):
    """A voter's latest grant on disk (RUN/p2p/vote.json): what it must never forget."""

    format: Literal["ringrift-hpc.p2p-vote"] = VOTE_FORMAT
    format_version: Literal[1] = VOTE_VERSION
    term: Count
    holder: OptionalName


@dataclass(frozen=True)
class VoterState:
    """The voter's latest grant: term, to whom, and until when (its own monotonic clock)."""

    term: int
    holder: str | None
    until: float


def decide_vote(
    state: VoterState, request: VoteRequest, own_log: LogPosition, *, now: float, lease_s: float
) -> tuple[VoterState, VoteReply]:
    """The voter's new state and its reply to `request`; the state changes only by a grant.

    `holder` None at `state.term` means this voter holds no vote in that term, so a request
    for it (a renewal too) is judged as a vote: a voter that missed the election, or whose
    vote for itself was released (see `Elector`), joins the winner's majority late.
    """

    def refuse(reason: str) -> tuple[VoterState, VoteReply]:
        return state, VoteReply(granted=False, term=state.term, holder=state.holder, reason=reason)

    def grant(new: VoterState, reason: str) -> tuple[VoterState, VoteReply]:
        return new, VoteReply(granted=True, term=new.term, holder=new.holder, reason=reason)

    if request.term < state.term:
        return refuse(f"term {request.term} is older than this voter's term {state.term}")
    if request.term == state.term and state.holder == request.candidate:
        if not request.renew:
            return refuse(f"already voted in term {state.term} for {state.holder}")
        until = max(state.until, now + lease_s)
        return grant(replace(state, until=until), f"renewed term {state.term} for {lease_s:g} s")
    if request.term == state.term and state.holder is not None:
        return refuse(f"term {state.term} was granted to {state.holder}, not {request.candidate}")
    # A vote for a term in which this voter holds no vote yet.
    if state.holder not in (None, request.candidate) and now < state.until:
        return refuse(
            f"the lease this voter granted to {state.holder} in term {state.term} runs for another "
            f"{state.until - now:.3f} s"
        )
    if request.log < own_log:
        return refuse(
            f"the candidate's journal (last term {request.log.term}, {request.log.length} bytes) is behind "
            f"this voter's (last term {own_log.term}, {own_log.length} bytes)"
        )
    new = VoterState(request.term, request.candidate, now + lease_s)
    return grant(new, f"granted term {request.term} to {request.candidate} for {lease_s:g} s")


def save_vote(path: Path, state: VoterState) -> None:
    """Persist the term and holder (atomic, fsynced); `until` is a clock reading, not durable."""
    atomic_write_json(path, VoteFile(term=state.term, holder=state.holder).to_json())


def load_vote(path: Path, *, now: float, lease_s: float) -> VoterState:
    """The persisted vote; a grant it names is treated as live for `lease_s` from `now`.

    The grant may have been made just before a crash, and monotonic clocks restart with the
    machine, so the only safe assumption is that it was made now.
    """
    if not path.exists():
        return VoterState(0, None, -math.inf)
    fix = (
        "the file is written atomically, so something else changed it; restore it from a backup "
        "(deleting it lets this node vote twice in one term, which can elect two coordinators)"
    )
    what = f"{path}: vote file"
    try:
        doc = json.loads(path.read_bytes())
        identity = (doc.get("format"), doc.get("format_version")) if isinstance(doc, dict) else None
        if identity != (VOTE_FORMAT, VOTE_VERSION):
            # Another kind of file, not a damaged vote: say so rather than list its fields.
            raise WireError(
                f"{what}: not a {VOTE_FORMAT} version {VOTE_VERSION} file (fields 'format', 'format_version')"
            )
        vote = VoteFile.from_json(doc, what)
    except ValueError as problem:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WireError(f"{problem}; {fix}") from None
    return VoterState(vote.term, vote.holder, now + lease_s if vote.holder is not None else -math.inf)


def majority(electorate: Sequence[str]) -> int:
    """Votes needed to win: more than half of the fixed electorate."""
    if not electorate:
        raise ValueError(
            "the electorate is empty: list the coordinator-eligible node ids in p2p.coordinators"
        )
    repeated = sorted({n for n in electorate if list(electorate).count(n) > 1})
    if repeated:
        raise ValueError(f"the electorate lists {', '.join(repeated)} more than once: list each node once")
    return len(electorate) // 2 + 1


def lease_deadline(started_at: float, lease_s: float, clock_drift: float) -> float:
    """When a lease whose first request left at `started_at` ends on the candidate's clock."""
    return started_at + lease_s * (1 - clock_drift)


class Elector:
    """One eligible node's side of the election: its vote, its campaigns, and its lease.

    `ask(node, request)` delivers a request to another voter and returns its reply, or None
    when the peer gave no valid answer; the elector waits at most `lease_s / 4` per round.
    Call `observe_term` only with terms that a coordinator won (a fenced refusal, a replica
    push, a peer's view naming a coordinator); `renew` and `campaign` note the terms in
    replies without stepping down, so a failed candidate cannot depose a coordinator.
    """

    def __init__(
        self,
        node_id: str,
        electorate: Sequence[str],
        *,
        lease_s: float,
        clock_drift: float,
        ask: Callable[[str, VoteRequest], Awaitable[VoteReply | None]],
        own_log: Callable[[], LogPosition],
        vote_path: Path,
        clock: Clock = time.monotonic,
    ) -> None:
        self._needed = majority(electorate)
        if node_id not in electorate:
            raise ValueError(
                f"node {node_id} is not in p2p.coordinators {list(electorate)}: only listed nodes vote and "
                "coordinate; add it to the list in every node's config or run it as a worker only"
            )
        if not lease_s > 0:
            raise ValueError(f"lease_s is {lease_s}: make it a positive number of seconds")
        if not 0 <= clock_drift < 0.5:
            raise ValueError(f"clock_drift is {clock_drift}: use a share in [0, 0.5), such as 0.05")
        self._node_id = node_id
        self._electorate = tuple(electorate)
        self._lease_s = lease_s
        self._drift = clock_drift
        self._ask = ask
        self._own_log = own_log
        self._vote_path = vote_path
        self._clock = clock
        self._vote = load_vote(vote_path, now=clock(), lease_s=lease_s)
        self._max_term_seen = self._vote.term
        self._term = 0
        self._deadline = -math.inf
        self._busy = False
        self._campaigning = False

    @property
    def term(self) -> int:
        """The term of the lease this node holds or held last (0: never won)."""
        return self._term

    @property
    def deadline(self) -> float:
        """When this node's lease ends on its clock; -inf when it holds none."""
        return self._deadline

    @property
    def max_term_seen(self) -> int:
        return self._max_term_seen

    @property
    def vote(self) -> VoterState:
        """This node's latest grant as a voter (persisted: term and holder)."""
        return self._vote

    def is_coordinator(self, now: float | None = None) -> bool:
        return (self._clock() if now is None else now) < self._deadline

    def step_down(self) -> None:
        """Give up the lease; the voters' promises still run out on their own."""
        if self._deadline > -math.inf:
            log.info("node %s steps down from term %d", self._node_id, self._term)
        self._deadline = -math.inf

    def observe_term(self, term: int) -> None:
        """A coordinator won `term` somewhere: remember it, and stop coordinating an older one."""
        self._max_term_seen = max(self._max_term_seen, term)
        if term > self._term:
            self.step_down()

    def handle_vote(self, request: VoteRequest) -> VoteReply:
        """Answer a vote request (this node's own included); the grant is on disk before the reply."""
        if request.candidate not in self._electorate:
            return VoteReply(
                granted=False,
                term=self._vote.term,
                holder=self._vote.holder,
                reason=f"{request.candidate} is not in p2p.coordinators {list(self._electorate)}",
            )
        state = self._vote
        if state.holder == self._node_id and self._deadline == -math.inf:
            # This node holds no lease and cannot revive one: its vote for itself backs nothing,
            # and once its campaign is over it may go to whoever won that term.
            state = replace(state, until=-math.inf, holder=state.holder if self._campaigning else None)
        state, reply = decide_vote(state, request, self._own_log(), now=self._clock(), lease_s=self._lease_s)
        if request.probe or not reply.granted:
            return reply
        if (state.term, state.holder) != (self._vote.term, self._vote.holder):
            save_vote(self._vote_path, state)
        self._vote = state
        if request.candidate != self._node_id:
            self.observe_term(request.term)
        self._max_term_seen = max(self._max_term_seen, state.term)
        return reply

    async def campaign(self) -> bool:
        """Ask for term `max_term_seen + 1`; True when a majority granted it in time.

        A lost campaign leaves this node without a lease, even one it held before.
        """
        with self._one_round():
            return await self._campaign()

    async def renew(self) -> bool:
        """Extend the lease of the term held; True when a majority did and it is still live."""
        with self._one_round():
            return await self._renew()

    @contextlib.contextmanager
    def _one_round(self) -> Iterator[None]:
        if self._busy:
            raise RuntimeError("a campaign or renewal is already running on this elector: await it first")
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    async def _campaign(self) -> bool:
        self._campaigning = True
        try:
            return await self._campaign_round()
        finally:
            self._campaigning = False

    async def _campaign_round(self) -> bool:
        if not self.is_coordinator():
            # A lapsed lease is never revived by a campaign; dropping it frees this node's vote.
            self.step_down()
        term = self._max_term_seen + 1
        would, seen_probe = await self._poll(self._request(term, renew=False, probe=True))
        if not would:
            self._max_term_seen = max(self._max_term_seen, seen_probe)
            return False
        started_at = self._clock()
        granted, seen = await self._poll(self._request(term, renew=False, probe=False))
        deadline = lease_deadline(started_at, self._lease_s, self._drift)
        # A grant to another candidate or an observed win during the round means a newer term
        # exists whose journal this node may lack: losing is the safe answer. Higher terms in
        # replies are only refusals and do not count against the win.
        won = granted and self._max_term_seen == term and self._clock() < deadline
        self._max_term_seen = max(self._max_term_seen, seen_probe, seen)
        if not won:
            self.step_down()
            log.info("node %s lost the vote for term %d", self._node_id, term)
            return False
        self._term, self._deadline = term, deadline
        log.info("node %s won term %d", self._node_id, term)
        return True

    async def _renew(self) -> bool:
        if self._deadline == -math.inf:
            return False
        started_at = self._clock()
        term = self._term
        granted, seen = await self._poll(self._request(term, renew=True, probe=False))
        self._max_term_seen = max(self._max_term_seen, seen)
        if not granted or self._term != term or self._deadline == -math.inf:
            return False
        self._deadline = max(self._deadline, lease_deadline(started_at, self._lease_s, self._drift))
        return self.is_coordinator()

    def _request(self, term: int, *, renew: bool, probe: bool) -> VoteRequest:
        log = self._own_log()
        return VoteRequest(
            term=term,
            candidate=self._node_id,
            log_term=log.term,
            log_length=log.length,
            renew=renew,
            probe=probe,
        )

    async def _poll(self, request: VoteRequest) -> tuple[bool, int]:
        """This node's own vote, then the others': whether a majority granted, highest term replied."""
        own = self.handle_vote(request)
        if not own.granted:
            log.debug("node %s refused its own request %s: %s", self._node_id, request, own.reason)
            return False, 0
        granted, seen = await self._round(request)
        log.debug("node %s: %s granted by %d of %d", self._node_id, request, granted, len(self._electorate))
        return granted >= self._needed, seen

    async def _round(self, request: VoteRequest) -> tuple[int, int]:
        """Votes granted (this node's own, already given, included) and the highest term replied."""
        granted, seen = 1, 0
        others = [node for node in self._electorate if node != self._node_id]
        pending = {asyncio.ensure_future(self._ask(node, request)) for node in others}
        loop = asyncio.get_running_loop()
        end = loop.time() + self._lease_s / 4
        try:
            while pending and granted < self._needed:
                left = end - loop.time()
                if left <= 0:
                    break
                done, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    reply = task.result()
                    if reply is None:
                        continue
                    seen = max(seen, reply.term)
                    if reply.granted and reply.term == request.term and reply.holder == self._node_id:
                        granted += 1
        finally:
            for task in pending:
                task.cancel()
        return granted, seen
