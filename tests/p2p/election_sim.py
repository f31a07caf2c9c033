"""A simulated cluster of Electors on virtual time, checking the election's safety as it runs.

Each node has its own clock (an offset and a rate), a journal (a list of record terms, kept
across crashes like a file) and a driver that campaigns, renews, ticks and replicates the way
the node agent does. A chaos task partitions, heals, crashes, restarts and pauses nodes;
messages are delayed, lost, or delivered long after their sender gave up. Checked throughout:

- no two nodes believe they are coordinator at the same virtual instant;
- terms never decrease (a node's persisted vote, its terms seen, and the terms of successive
  coordinators);
- at the instant a node wins term T, a majority's journals are no further than its own;
- every record that a majority stored for its coordinator is in every later winner's journal.

Replication is modelled the way the journal replica must behave for the last property: a
follower refuses a push whose term is below the highest term it voted in or holds records of
(its journal's last record term: durable, unlike the in-memory term), and a same-term push
shorter than what it holds (a reordered, older copy).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringrift_hpc.p2p.election import Elector, LogPosition, VoteReply, VoteRequest, majority

from .virtual_loop import VirtualLoop

LEASE_S = 10.0
CALM_S = 30.0  # no chaos at first, so every schedule must elect someone


@dataclass(frozen=True)
class SimParams:
    seed: int
    nodes: int
    clock_drift: float
    rate_spread: float  # clock rates lie in [1 - rate_spread, 1 + rate_spread]
    max_delay_s: float
    loss: float
    straggle: float  # chance that a message arrives between lease_s / 4 and 1.5 lease_s late
    duration_s: float = 200.0
    chaos_every_s: float = 6.0


def safe_spread(clock_drift: float) -> float:
    """The widest rate spread the lease tolerates: (1 + s) / (1 - s) <= 1 / (1 - clock_drift)."""
    return clock_drift / (2 - clock_drift)


@dataclass
class SimResult:
    violations: list[str] = field(default_factory=list)
    elections: int = 0
    renewals: int = 0
    commits: int = 0
    crashes: int = 0
    partitions: int = 0
    pauses: int = 0
    events: int = 0


def position(journal: list[int]) -> LogPosition:
    return LogPosition(journal[-1] if journal else 0, len(journal))


class Cluster:
    def __init__(self, params: SimParams, directory: Path, loop: VirtualLoop) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.loop = loop
        self.dir = directory
        self.names = [f"n{i}" for i in range(params.nodes)]
        self.needed = majority(self.names)
        self.rate = {n: self._rate() for n in self.names}
        self.offset = {n: self.rng.uniform(0, 1000) for n in self.names}
        self.base = dict.fromkeys(self.names, 0.0)
        self.journal: dict[str, list[int]] = {n: [] for n in self.names}
        self.group = dict.fromkeys(self.names, 0)
        self.up = set(self.names)
        self.paused_until = dict.fromkeys(self.names, 0.0)
        self.electors = {n: self._elector(n) for n in self.names}
        self.drivers: dict[str, asyncio.Task[None]] = {}
        self.vote_terms = {n: 0 for n in self.names}
        self.seen_terms = {n: 0 for n in self.names}
        self.last_winner_term = 0
        self.winners: list[tuple[int, str, tuple[int, ...]]] = []
        self.committed: list[tuple[int, tuple[int, ...]]] = []
        self.acks: dict[tuple[str, int, tuple[int, ...]], set[str]] = {}
        self.background: set[asyncio.Task[None]] = set()
        self.result = SimResult()

    # -- model ------------------------------------------------------------------------------

    def _rate(self) -> float:
        spread = self.p.rate_spread
        # Half the nodes sit at an extreme of the allowed spread: the worst case for the lease.
        if self.rng.random() < 0.5:
            return 1 + self.rng.choice((-spread, spread))
        return self.rng.uniform(1 - spread, 1 + spread)

    def clock(self, node: str) -> Callable[[], float]:
        return lambda: self.offset[node] + self.rate[node] * (self.loop.time() - self.base[node])

    def _elector(self, node: str) -> Elector:
        async def ask(peer: str, request: VoteRequest) -> VoteReply | None:
            return await self._ask(node, peer, request)

        return Elector(
            node,
            self.names,
            lease_s=LEASE_S,
            clock_drift=self.p.clock_drift,
            ask=ask,
            own_log=lambda: position(self.journal[node]),
            vote_path=self.dir / f"{node}.vote.json",
            clock=self.clock(node),
        )

    def connected(self, a: str, b: str) -> bool:
        return a in self.up and b in self.up and self.group[a] == self.group[b]

    async def _transit(self, a: str, b: str) -> bool:
        """One message a -> b: waits its delay; False when it never arrives."""
        if self.rng.random() < self.p.straggle:
            await asyncio.sleep(self.rng.uniform(LEASE_S / 4, 1.5 * LEASE_S))
        else:
            await asyncio.sleep(self.rng.uniform(0, self.p.max_delay_s))
        return self.rng.random() >= self.p.loss and self.connected(a, b)

    async def _ask(self, node: str, peer: str, request: VoteRequest) -> VoteReply | None:
        if not await self._transit(node, peer):
            return None
        reply = self.electors[peer].handle_vote(request)
        self.check_terms(peer)
        if not await self._transit(peer, node):
            return None
        return reply

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # -- checks -----------------------------------------------------------------------------

    def fail(self, text: str) -> None:
        self.result.violations.append(f"t={self.loop.time():.3f} {text}")

    def believers(self) -> list[str]:
        return [n for n in sorted(self.up) if self.electors[n].is_coordinator()]

    def check_terms(self, node: str) -> None:
        elector = self.electors[node]
        if elector.vote.term < self.vote_terms[node]:
            self.fail(f"{node}: persisted vote term fell from {self.vote_terms[node]} to {elector.vote.term}")
        if elector.max_term_seen < self.seen_terms[node]:
            self.fail(f"{node}: max_term_seen fell from {self.seen_terms[node]} to {elector.max_term_seen}")
        self.vote_terms[node] = elector.vote.term
        self.seen_terms[node] = elector.max_term_seen

    def check_sole(self, node: str, what: str) -> None:
        others = [n for n in self.believers() if n != node]
        if others:
            self.fail(f"{node} {what} while {others} still believe they coordinate")

    def on_elected(self, node: str) -> None:
        term = self.electors[node].term
        journal = tuple(self.journal[node])
        self.result.elections += 1
        self.check_sole(node, f"won term {term}")
        if term <= self.last_winner_term:
            self.fail(f"{node} won term {term} after term {self.last_winner_term} was won")
        self.last_winner_term = term
        behind = [n for n in self.names if position(self.journal[n]) <= position(self.journal[node])]
        if len(behind) < self.needed:
            self.fail(
                f"{node} won term {term} with journal {position(list(journal))}; only {behind} are behind it"
            )
        for committed_term, records in self.committed:
            if journal[: len(records)] != records:
                self.fail(f"{node} won term {term} without the records committed in term {committed_term}")
        self.winners.append((term, node, journal))
        # The coordinator's first act: a record of its own term (see the election docstring).
        self.journal[node].append(term)

    def on_committed(self, term: int, records: tuple[int, ...]) -> None:
        self.result.commits += 1
        self.committed.append((term, records))
        for won, node, journal in self.winners:
            if won > term and journal[: len(records)] != records:
                self.fail(f"records committed in term {term} are missing from {node}, winner of term {won}")

    # -- replication ------------------------------------------------------------------------

    async def push(self, leader: str, follower: str, term: int, records: tuple[int, ...]) -> None:
        if not await self._transit(leader, follower):
            return
        held = self.journal[follower]
        fence = max(self.electors[follower].max_term_seen, position(held).term)
        if term < fence or (term == position(held).term and len(records) < len(held)):
            return
        self.journal[follower] = list(records)
        self.electors[follower].observe_term(term)
        self.check_terms(follower)
        if not await self._transit(follower, leader):
            return
        acked = self.acks.setdefault((leader, term, records), set())
        before = len(acked) + 1
        acked.add(follower)
        if before < self.needed <= len(acked) + 1:
            self.on_committed(term, records)

    # -- drivers ----------------------------------------------------------------------------

    async def drive(self, node: str) -> None:
        elector = self.electors[node]
        next_renewal = 0.0
        while True:
            self.result.events += 1
            if self.loop.time() < self.paused_until[node]:
                await asyncio.sleep(self.paused_until[node] - self.loop.time())
            if elector.is_coordinator():
                self.journal[node].append(elector.term)
                records = tuple(self.journal[node])
                for peer in self.names:
                    if peer != node:
                        self.spawn(self.push(node, peer, elector.term, records))
                if self.loop.time() >= next_renewal:
                    next_renewal = self.loop.time() + LEASE_S / 3
                    if await elector.renew():
                        self.result.renewals += 1
                        self.check_sole(node, f"renewed term {elector.term}")
                if self.rng.random() < 0.01:
                    elector.step_down()
                await asyncio.sleep(self.rng.uniform(0.5, 1.5) * LEASE_S / 6)
            else:
                await asyncio.sleep(self.rng.uniform(0.2, 1.0) * LEASE_S / 3)
                if await elector.campaign():
                    self.on_elected(node)
            self.check_terms(node)

    def start(self, node: str) -> None:
        self.drivers[node] = asyncio.ensure_future(self.drive(node))
        self.drivers[node].add_done_callback(self._driver_done)

    def _driver_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.fail(f"a driver crashed: {task.exception()!r}")

    def crash(self, node: str) -> None:
        self.result.crashes += 1
        self.up.discard(node)
        self.drivers.pop(node).cancel()

    def restart(self, node: str) -> None:
        # A reboot: a fresh monotonic clock and a new process that reads its vote from disk.
        self.base[node] = self.loop.time()
        self.offset[node] = self.rng.uniform(0, 1000)
        self.electors[node] = self._elector(node)
        self.seen_terms[node] = self.electors[node].max_term_seen
        self.up.add(node)
        self.check_terms(node)
        self.start(node)

    async def chaos(self) -> None:
        await asyncio.sleep(CALM_S)
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / self.p.chaos_every_s))
            action = self.rng.random()
            down = sorted(set(self.names) - self.up)
            if action < 0.25:
                self.result.partitions += 1
                cut = self.rng.randint(1, len(self.names) - 1)
                shuffled = self.rng.sample(self.names, len(self.names))
                self.group = {n: int(i < cut) for i, n in enumerate(shuffled)}
            elif action < 0.45:
                self.group = dict.fromkeys(self.names, 0)
            elif action < 0.65 and len(self.up) > 1:
                self.crash(self.rng.choice(sorted(self.up)))
            elif action < 0.85 and down:
                self.restart(self.rng.choice(down))
            else:
                # A stall (GC, swapped out): the node's driver stops, its clock does not.
                self.result.pauses += 1
                self.paused_until[self.rng.choice(self.names)] = self.loop.time() + self.rng.uniform(
                    0, 2 * LEASE_S
                )

    async def monitor(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.01, 0.5))
            if len(self.believers()) > 1:
                self.fail(f"{self.believers()} all believe they coordinate")
            for node in sorted(self.up):
                self.check_terms(node)

    async def run(self) -> SimResult:
        for node in self.names:
            self.start(node)
        helpers = [asyncio.ensure_future(self.chaos()), asyncio.ensure_future(self.monitor())]
        await asyncio.sleep(self.p.duration_s)
        tasks = [*helpers, *self.drivers.values(), *self.background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.result


def simulate(params: SimParams, directory: Path) -> SimResult:
    """Run one schedule to `params.duration_s` of virtual time."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(Cluster(params, directory, loop).run())
    finally:
        loop.close()
