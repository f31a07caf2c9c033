"""The coordinator election: the vote rule, its persistence, the Elector, and a simulated cluster."""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ringrift_hpc.p2p.election import (
    Elector,
    LogPosition,
    VoteReply,
    VoteRequest,
    VoterState,
    decide_vote,
    lease_deadline,
    load_vote,
    majority,
    save_vote,
)
from ringrift_hpc.p2p.wire import WireError

from .election_sim import SimParams, safe_spread, simulate

T = TypeVar("T")
LEASE = 10.0
DRIFT = 0.1
EMPTY = LogPosition(0, 0)
# tmpfs where there is one: a vote is fsynced, which costs ~10 ms on a loaded disk.
FAST_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None


def ask(term: int, candidate: str = "a", *, log: LogPosition = EMPTY, renew: bool = False) -> VoteRequest:
    return vote_request(term, candidate, log, renew)


def vote_request(
    term: int, candidate: str, log: LogPosition, renew: bool, probe: bool = False
) -> VoteRequest:
    return VoteRequest(
        term=term, candidate=candidate, log_term=log.term, log_length=log.length, renew=renew, probe=probe
    )


# -- decide_vote -------------------------------------------------------------------------------


def test_grants_a_higher_term_to_an_up_to_date_candidate() -> None:
    state, reply = decide_vote(VoterState(0, None, -math.inf), ask(1), EMPTY, now=5.0, lease_s=LEASE)
    assert reply.granted and reply.term == 1 and reply.holder == "a"
    assert state == VoterState(1, "a", 15.0)


def test_refuses_an_older_term_and_tells_its_own() -> None:
    start = VoterState(7, "b", 0.0)
    state, reply = decide_vote(start, ask(6), EMPTY, now=100.0, lease_s=LEASE)
    assert state == start
    assert not reply.granted and reply.term == 7 and reply.holder == "b"
    assert "term 6 is older than this voter's term 7" in reply.reason


def test_votes_once_per_term() -> None:
    start = VoterState(3, "b", 0.0)
    state, reply = decide_vote(start, ask(3, "a"), EMPTY, now=100.0, lease_s=LEASE)
    assert state == start and not reply.granted
    assert "term 3 was granted to b" in reply.reason
    again = decide_vote(start, ask(3, "b"), EMPTY, now=100.0, lease_s=LEASE)[1]
    assert not again.granted and "already voted in term 3 for b" in again.reason


def test_refuses_another_candidate_while_the_lease_runs_and_grants_when_it_ends() -> None:
    start = VoterState(3, "b", 20.0)
    state, reply = decide_vote(start, ask(4, "a"), EMPTY, now=19.999, lease_s=LEASE)
    assert state == start and not reply.granted
    assert "granted to b in term 3 runs for another 0.001 s" in reply.reason
    state, reply = decide_vote(start, ask(4, "a"), EMPTY, now=20.0, lease_s=LEASE)
    assert reply.granted and state == VoterState(4, "a", 30.0)


def test_the_holder_may_take_a_higher_term_while_its_lease_runs() -> None:
    state, reply = decide_vote(VoterState(3, "a", 20.0), ask(9, "a"), EMPTY, now=12.0, lease_s=LEASE)
    assert reply.granted and state == VoterState(9, "a", 22.0)


@pytest.mark.parametrize(
    ("candidate", "voter", "granted"),
    [
        (LogPosition(2, 10), LogPosition(3, 1), False),  # an older last term loses, however long
        (LogPosition(3, 9), LogPosition(3, 10), False),  # same last term, shorter
        (LogPosition(3, 10), LogPosition(3, 10), True),
        (LogPosition(4, 1), LogPosition(3, 500), True),  # a newer last term wins, however short
    ],
)
def test_up_to_date_rule(candidate: LogPosition, voter: LogPosition, granted: bool) -> None:
    start = VoterState(0, None, -math.inf)
    state, reply = decide_vote(start, ask(1, log=candidate), voter, now=0.0, lease_s=LEASE)
    assert reply.granted is granted
    if not granted:
        assert state == start and "journal" in reply.reason and "is behind this voter's" in reply.reason


def test_renewal_extends_the_holders_lease_only() -> None:
    start = VoterState(5, "a", 12.0)
    state, reply = decide_vote(start, ask(5, "a", renew=True), EMPTY, now=8.0, lease_s=LEASE)
    assert reply.granted and state == VoterState(5, "a", 18.0) and "renewed term 5" in reply.reason
    state, reply = decide_vote(start, ask(5, "b", renew=True), EMPTY, now=8.0, lease_s=LEASE)
    assert not reply.granted and state == start and "granted to a, not b" in reply.reason
    state, reply = decide_vote(start, ask(4, "a", renew=True), EMPTY, now=8.0, lease_s=LEASE)
    assert not reply.granted and state == start


def test_renewal_never_shortens_a_promise() -> None:
    state, _ = decide_vote(VoterState(5, "a", 50.0), ask(5, "a", renew=True), EMPTY, now=8.0, lease_s=LEASE)
    assert state.until == 50.0


def test_renewal_of_a_term_the_voter_missed_is_a_late_vote() -> None:
    state, reply = decide_vote(
        VoterState(2, "a", 0.0), ask(5, "a", renew=True), EMPTY, now=8.0, lease_s=LEASE
    )
    assert reply.granted and state == VoterState(5, "a", 18.0)
    busy = VoterState(2, "b", 30.0)
    state, reply = decide_vote(busy, ask(5, "a", renew=True), EMPTY, now=8.0, lease_s=LEASE)
    assert not reply.granted and state == busy


def test_a_term_without_holder_takes_a_vote() -> None:
    state, reply = decide_vote(VoterState(4, None, -math.inf), ask(4, "a"), EMPTY, now=1.0, lease_s=LEASE)
    assert reply.granted and state == VoterState(4, "a", 11.0)


_names = st.sampled_from(["a", "b", "c"])


@given(
    term=st.integers(0, 4),
    holder=st.none() | _names,
    until=st.floats(-5, 30),
    request_term=st.integers(1, 5),
    candidate=_names,
    renew=st.booleans(),
    log=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    own=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    now=st.floats(0, 25),
)
def test_vote_invariants(
    term: int,
    holder: str | None,
    until: float,
    request_term: int,
    candidate: str,
    renew: bool,
    log: tuple[int, int],
    own: tuple[int, int],
    now: float,
) -> None:
    state = VoterState(term, holder, until)
    new, reply = decide_vote(
        state,
        vote_request(request_term, candidate, LogPosition(*log), renew),
        LogPosition(*own),
        now=now,
        lease_s=LEASE,
    )
    assert reply.reason
    assert (reply.term, reply.holder) == (new.term, new.holder)
    if not reply.granted:
        assert new == state
        return
    assert new.holder == candidate and new.term == request_term >= term
    assert new.until >= now + LEASE
    # One vote per term: a term is never handed from one candidate to another.
    assert not (holder is not None and term == request_term and holder != candidate)
    # A live promise to someone else is never broken.
    assert not (holder not in (None, candidate) and now < until)
    if new.term != term or new.holder != holder:
        assert LogPosition(*log) >= LogPosition(*own)


# -- messages ----------------------------------------------------------------------------------


def test_messages_round_trip() -> None:
    sent = vote_request(4, "a", LogPosition(3, 1200), renew=True, probe=True)
    assert VoteRequest.from_json(sent.to_json()) == sent
    assert (
        sent.to_json()["log_term"] == 3 and sent.to_json()["log_length"] == 1200 and sent.to_json()["v"] == 1
    )
    assert sent.log == LogPosition(3, 1200)
    granted = VoteReply(granted=True, term=4, holder="a", reason="granted")
    for reply in (granted, VoteReply(granted=False, term=0, holder=None, reason="")):
        assert VoteReply.from_json(reply.to_json()) == reply


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("term", "4", "field 'term' must be an integer >= 1"),
        ("term", True, "field 'term' must be an integer >= 1"),
        ("term", 0, "field 'term' must be an integer >= 1"),
        ("candidate", "", "field 'candidate' must be a non-empty string"),
        ("log_length", -1, "field 'log_length' must be an integer >= 0"),
        ("renew", "yes", "field 'renew' must be true or false"),
        ("probe", None, "field 'probe' must be true or false"),
    ],
)
def test_bad_vote_request_names_the_field(field: str, value: object, expected: str) -> None:
    doc = vote_request(4, "a", EMPTY, renew=False).to_json()
    doc[field] = value
    with pytest.raises(WireError, match=expected):
        VoteRequest.from_json(doc)


def test_missing_fields_and_non_objects_are_named() -> None:
    doc = vote_request(4, "a", EMPTY, renew=False).to_json()
    del doc["candidate"]
    with pytest.raises(WireError, match="vote request: field 'candidate' is missing"):
        VoteRequest.from_json(doc)
    with pytest.raises(WireError, match="vote reply: expected a JSON object, got list"):
        VoteReply.from_json([])
    with pytest.raises(WireError, match="vote reply: field 'holder' must be a non-empty string"):
        VoteReply.from_json({"granted": False, "term": 1, "holder": 5, "reason": ""})


# -- persistence -------------------------------------------------------------------------------


def test_vote_file_round_trip_keeps_term_and_holder_only(tmp_path: Path) -> None:
    path = tmp_path / "p2p" / "vote.json"
    assert load_vote(path, now=3.0, lease_s=LEASE) == VoterState(0, None, -math.inf)
    save_vote(path, VoterState(6, "b", 123.0))
    assert "until" not in path.read_text() and "123" not in path.read_text()
    # After a restart the last grant counts as made just now: never two overlapping promises.
    assert load_vote(path, now=50.0, lease_s=LEASE) == VoterState(6, "b", 60.0)


def test_a_damaged_vote_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "vote.json"
    path.write_text('{"format": "ringrift-hpc.p2p-vote", "format_version": 1, "term": -2, "holder": null}')
    with pytest.raises(WireError, match=r"vote\.json: vote file: field 'term'.*restore it"):
        load_vote(path, now=0.0, lease_s=LEASE)
    path.write_text("{not json")
    with pytest.raises(WireError, match="deleting it lets this node vote twice"):
        load_vote(path, now=0.0, lease_s=LEASE)
    path.write_text('{"format": "something-else", "term": 1, "holder": null}')
    with pytest.raises(WireError, match="not a ringrift-hpc.p2p-vote version 1 file"):
        load_vote(path, now=0.0, lease_s=LEASE)


def test_majority_and_deadline() -> None:
    assert [majority([f"n{i}" for i in range(k)]) for k in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="electorate is empty"):
        majority([])
    with pytest.raises(ValueError, match="lists a more than once"):
        majority(["a", "b", "a"])
    assert lease_deadline(100.0, 10.0, 0.05) == pytest.approx(109.5)


# -- Elector over an in-memory network ---------------------------------------------------------


class Net:
    """Electors wired by direct calls; a manual clock (per-node rate) and cuttable links."""

    def __init__(self, names: Sequence[str], directory: Path, rates: dict[str, float] | None = None) -> None:
        self.names = list(names)
        self.dir = directory
        self.time = 0.0
        self.rates = rates or {}
        self.down: set[str] = set()
        self.groups: dict[str, int] = {}
        self.logs = {n: EMPTY for n in names}
        self.events: list[tuple[float, str, VoteRequest, VoteReply]] = []
        self.electors = {n: self.make(n) for n in names}

    def clock(self, node: str) -> Callable[[], float]:
        return lambda: self.time * self.rates.get(node, 1.0)

    def make(self, node: str) -> Elector:
        async def send(peer: str, request: VoteRequest) -> VoteReply | None:
            if not self.linked(node, peer):
                return None
            reply = self.electors[peer].handle_vote(request)
            self.events.append((self.time, peer, request, reply))
            return reply

        return Elector(
            node,
            self.names,
            lease_s=LEASE,
            clock_drift=DRIFT,
            ask=send,
            own_log=lambda: self.logs[node],
            vote_path=self.dir / f"{node}.json",
            clock=self.clock(node),
        )

    def linked(self, a: str, b: str) -> bool:
        return not {a, b} & self.down and self.groups.get(a, 0) == self.groups.get(b, 0)

    def restart(self, node: str) -> None:
        self.down.discard(node)
        self.electors[node] = self.make(node)

    def coordinators(self) -> list[str]:
        return [n for n in self.names if n not in self.down and self.electors[n].is_coordinator()]

    def campaign(self, node: str) -> bool:
        return run(self.electors[node].campaign())

    def renew(self, node: str) -> bool:
        return run(self.electors[node].renew())


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def names(k: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(k)]


def test_a_probe_is_answered_but_changes_nothing(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    reply = net.electors["a"].handle_vote(vote_request(3, "b", EMPTY, renew=False, probe=True))
    assert reply.granted
    assert net.electors["a"].vote.term == 0 and net.electors["a"].max_term_seen == 0
    assert not (tmp_path / "a.json").exists()


def test_a_node_outside_the_electorate_cannot_campaign(tmp_path: Path) -> None:
    async def never(peer: str, request: VoteRequest) -> VoteReply | None:
        return None

    with pytest.raises(ValueError, match="node w is not in p2p.coordinators.*run it as a worker only"):
        Elector(
            "w",
            ["a", "b", "c"],
            lease_s=LEASE,
            clock_drift=DRIFT,
            ask=never,
            own_log=lambda: EMPTY,
            vote_path=tmp_path / "v.json",
        )


def test_votes_for_candidates_outside_the_electorate_are_refused(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    reply = net.electors["a"].handle_vote(ask(1, "w"))
    assert not reply.granted and "w is not in p2p.coordinators" in reply.reason


@pytest.mark.parametrize("size", [3, 5])
def test_exactly_one_coordinator_is_elected(tmp_path: Path, size: int) -> None:
    net = Net(names(size), tmp_path)
    assert net.campaign("b")
    assert net.electors["b"].term == 1 and net.electors["b"].deadline == pytest.approx(9.0)
    for other in net.names:
        if other != "b":
            net.time += 0.5
            assert not net.campaign(other)
    assert net.coordinators() == ["b"]
    assert load_vote(tmp_path / "b.json", now=0.0, lease_s=LEASE).holder == "b"


@pytest.mark.parametrize("size", [3, 5])
def test_simultaneous_campaigns_elect_at_most_one_then_exactly_one(tmp_path: Path, size: int) -> None:
    net = Net(names(size), tmp_path)

    async def everyone() -> list[bool]:
        return list(await asyncio.gather(*(net.electors[n].campaign() for n in net.names)))

    assert sum(run(everyone())) <= 1
    rng = random.Random(size)
    for _ in range(40):
        if net.coordinators():
            break
        net.time += rng.uniform(0.5, 3.0)
        net.campaign(rng.choice(net.names))
    assert len(net.coordinators()) == 1


def test_a_voter_that_lost_a_duel_backs_the_winners_renewals(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)

    async def duel() -> list[bool]:
        return list(await asyncio.gather(net.electors["a"].campaign(), net.electors["b"].campaign()))

    results = run(duel())
    assert results.count(True) == 1
    winner, loser = ("a", "b") if results[0] else ("b", "a")
    assert net.electors[loser].vote.holder == loser  # it voted for itself in the same term
    net.time += 3.0
    net.groups = {"c": 1}  # the winner can only renew with the loser now
    assert net.renew(winner)
    assert net.electors[loser].vote == VoterState(1, winner, 13.0)


def test_a_killed_coordinator_is_replaced_only_after_its_lease_could_have_expired(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    assert net.campaign("a")
    net.time = 3.0
    assert net.renew("a")
    old_deadline = net.electors["a"].deadline
    assert old_deadline == pytest.approx(12.0)
    net.down.add("a")
    for t in (4.0, 8.0, 12.9):
        net.time = t
        assert not net.campaign("b")
    net.time = 13.0  # the voters' promises (renewed at 3.0) end
    assert net.campaign("b")
    assert net.time >= old_deadline
    assert net.electors["b"].term == 2


def test_a_minority_cannot_elect_and_the_old_coordinator_steps_down_before_any_new_grant(
    tmp_path: Path,
) -> None:
    # Worst allowed clocks: the old coordinator slow, the voters fast.
    slow, fast = 1 - 0.049, 1 + 0.049
    assert fast / slow <= 1 / (1 - DRIFT)
    net = Net(names(5), tmp_path, rates={"a": slow, "b": slow, "c": fast, "d": fast, "e": fast})
    assert net.campaign("a")
    net.time = 2.0
    assert net.renew("a")
    net.groups = {"a": 1, "b": 1}
    net.events.clear()
    t = 2.0
    while t < 60.0:
        t += 0.25
        net.time = t
        net.renew("a")
        for node in ("a", "b"):
            if not net.electors[node].is_coordinator():
                assert not net.campaign(node)
        if not net.coordinators() or net.coordinators() == ["a"]:
            net.campaign("c")
        assert len(net.coordinators()) <= 1
    assert net.coordinators() == ["c"]
    new_term = net.electors["c"].term
    first_grant = min(
        time for time, _, request, reply in net.events if reply.granted and request.term == new_term
    )
    assert not net.electors["a"].is_coordinator(first_grant * slow)
    assert net.electors["a"].vote.term == 1 and net.electors["b"].vote.term == 1  # no term inflation


def test_a_cut_off_node_cannot_depose_a_renewing_coordinator(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    assert net.campaign("a")
    net.groups = {"c": 1}
    for step in range(1, 30):
        net.time = step * 1.0
        if step % 3 == 0:
            assert net.renew("a")
        assert not net.campaign("c")
    assert net.electors["c"].vote.term <= 1 and net.electors["c"].max_term_seen <= 1
    net.groups = {}
    net.time += 1
    assert net.renew("a") and net.coordinators() == ["a"]


def test_observing_a_newer_term_steps_down(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    assert net.campaign("a")
    net.electors["a"].observe_term(1)
    assert net.electors["a"].is_coordinator()
    net.electors["a"].observe_term(4)
    assert not net.electors["a"].is_coordinator() and net.electors["a"].max_term_seen == 4
    assert not net.renew("a")
    net.time = 1.0
    assert net.campaign("a") and net.electors["a"].term == 5


def test_granting_a_higher_term_during_a_campaign_loses_it(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    elector = net.electors["a"]
    interfered = False

    async def meddle(peer: str, request: VoteRequest) -> VoteReply | None:
        nonlocal interfered
        if not request.probe and not interfered:
            interfered = True
            assert elector.handle_vote(ask(7, "c")).granted
        return net.electors[peer].handle_vote(request)

    elector._ask = meddle  # the transport is injected; swap it for this one campaign
    assert not run(elector.campaign())
    assert elector.max_term_seen == 7 and not elector.is_coordinator()


def test_a_restarted_voter_keeps_its_promise_for_a_full_lease(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    assert net.campaign("a")
    net.time = 9.5
    net.restart("b")
    net.down.add("a")
    for t in (10.0, 15.0, 19.4):
        net.time = t
        assert not net.campaign("c")
    net.time = 19.5
    assert net.campaign("c")


def test_a_restarted_candidate_is_free_to_vote_for_another(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    net.groups = {"a": 1}
    net.electors["a"].handle_vote(ask(1, "a"))  # voted for itself, then the process died
    net.restart("a")
    net.groups = {}
    assert net.campaign("b")


def test_one_round_at_a_time(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    assert net.campaign("a")

    async def both() -> None:
        await asyncio.gather(net.electors["a"].renew(), net.electors["a"].campaign())

    with pytest.raises(RuntimeError, match="already running"):
        run(both())


def test_a_candidate_behind_a_majority_cannot_win(tmp_path: Path) -> None:
    net = Net(names(3), tmp_path)
    net.logs = {"a": LogPosition(2, 500), "b": LogPosition(2, 400), "c": LogPosition(2, 500)}
    assert not net.campaign("b")
    assert net.electors["b"].vote.term == 0  # the probe failed, so nothing moved
    assert net.campaign("a")


# -- simulation --------------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],  # a schedule is its seed: shrinking one only spends minutes
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**31),
    nodes=st.sampled_from([3, 5]),
    clock_drift=st.floats(0.01, 0.3),
    spread=st.floats(0.0, 0.98),
    max_delay_s=st.floats(0.001, 1.0),
    loss=st.floats(0.0, 0.3),
    straggle=st.floats(0.0, 0.1),
)
def test_simulated_cluster_never_has_two_coordinators(
    seed: int, nodes: int, clock_drift: float, spread: float, max_delay_s: float, loss: float, straggle: float
) -> None:
    params = SimParams(
        seed=seed,
        nodes=nodes,
        clock_drift=clock_drift,
        rate_spread=spread * safe_spread(clock_drift),
        max_delay_s=max_delay_s,
        loss=loss,
        straggle=straggle,
    )
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as directory:
        result = simulate(params, Path(directory))
    assert result.violations == [], params
    assert result.elections >= 1 and result.commits >= 1, (params, result)


def test_the_simulation_catches_overlap_when_clocks_drift_beyond_the_margin() -> None:
    """Control: the same checks fail when clock rates differ more than clock_drift allows."""
    caught = []
    for seed in range(16):
        params = SimParams(
            seed=seed, nodes=3, clock_drift=0.0, rate_spread=0.3, max_delay_s=0.2, loss=0.05, straggle=0.0
        )
        with tempfile.TemporaryDirectory(dir=FAST_DIR) as directory:
            caught += simulate(params, Path(directory)).violations
    assert any("still believe they coordinate" in v for v in caught), caught
