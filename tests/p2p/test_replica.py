"""Journal and pointer-file replication: follower apply, wire codec, leader bookkeeping."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringrift_hpc.p2p.election import LogPosition
from ringrift_hpc.p2p.node_states import ACTIVE, RETIRED, NodeStateBook, NodeStates, node_states_path
from ringrift_hpc.p2p.replica import (
    EMPTY_SHA256,
    LeaderReplication,
    ReplicaPush,
    ReplicaReply,
    SupersededError,
    apply_push,
    check_pointer_relpath,
    log_position,
    pointer_files,
)
from ringrift_hpc.store.errors import JournalCorruptError
from ringrift_hpc.store.journal import JournalWriter, encode_record
from ringrift_hpc.store.layout import RunLayout

VARIANT = "hex8_2p"


def line(token: int, n: int) -> bytes:
    return encode_record({"event": "e", "n": n, "token": token})


def lines(token: int, numbers: range) -> bytes:
    return b"".join(line(token, n) for n in numbers)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def push(term: int, journal: bytes, offset: int, files: dict[str, str] | None = None) -> ReplicaPush:
    return ReplicaPush(
        term=term,
        leader="a",
        offset=offset,
        prefix_sha256=sha(journal[:offset]),
        data=journal[offset:].decode(),
        files=files or {},
        removed=(),
    )


def append(layout: RunLayout, token: int, count: int) -> None:
    with JournalWriter(layout.journal) as writer:
        for n in range(count):
            writer.append({"event": "tick", "n": n, "token": token})


class Cluster:
    """An in-memory transport: each node is a run directory; pushes and replies go through JSON."""

    def __init__(self, root: Path, nodes: list[str]) -> None:
        self.layouts = {node: RunLayout(root / node) for node in nodes}
        for layout in self.layouts.values():
            layout.root.mkdir(parents=True)
        self.terms = dict.fromkeys(nodes, 0)
        self.down: set[str] = set()  # requests never arrive
        self.deaf: set[str] = set()  # requests are applied, replies are lost
        self.replies_left: dict[str, int] = {}  # node -> replies it still gives before going down
        self.pushes: list[tuple[str, ReplicaPush]] = []

    async def send(self, node: str, sent: ReplicaPush) -> ReplicaReply | None:
        self.pushes.append((node, sent))
        if node in self.replies_left:
            if self.replies_left[node] == 0:
                return None
            self.replies_left[node] -= 1
        if node in self.down:
            return None
        received = ReplicaPush.from_json(json.loads(json.dumps(sent.to_json())))
        reply = apply_push(self.layouts[node], received, known_term=self.terms[node])
        if reply.ok:
            self.terms[node] = received.term
        if node in self.deaf:
            return None
        return ReplicaReply.from_json(json.loads(json.dumps(reply.to_json())))

    def journal(self, node: str) -> bytes:
        path = self.layouts[node].journal
        return path.read_bytes() if path.exists() else b""

    def leader(self, nodes: list[str], **kwargs: int) -> LeaderReplication:
        return LeaderReplication(self.layouts[nodes[0]], nodes[0], nodes, send=self.send, **kwargs)


# ----------------------------------------------------------------------------- log_position


def test_log_position_counts_complete_lines_only(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    assert log_position(journal) == LogPosition(term=0, length=0)
    complete = lines(3, range(2)) + line(4, 2)
    journal.write_bytes(complete + b'{"event":"e","tok')
    assert log_position(journal) == LogPosition(term=4, length=len(complete))
    journal.write_bytes(b'{"event":"torn only"')
    assert log_position(journal) == LogPosition(term=0, length=0)


def test_log_position_names_a_record_without_token(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(line(1, 0) + b'{"event":"x"}\n')
    with pytest.raises(JournalCorruptError, match="token") as error:
        log_position(journal)
    assert str(journal) in str(error.value)


# ----------------------------------------------------------------------------- follower side


def test_append_path_extends_the_journal_and_writes_pointer_files(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    leader = lines(1, range(3))
    first = apply_push(layout, push(1, leader, 0), known_term=0)
    assert first.ok and first.length == len(leader) and first.term == 1
    leader += lines(2, range(3, 5))
    best = f"variants/{VARIANT}/best.json"
    second = apply_push(layout, push(2, leader, first.length, {best: '{"model": "m"}\n'}), known_term=1)
    assert second.ok and second.length == len(leader)
    assert layout.journal.read_bytes() == leader
    assert layout.best(VARIANT).read_text() == '{"model": "m"}\n'
    assert second.file_hashes == {best: sha(b'{"model": "m"}\n')}


def test_append_cuts_a_torn_tail_first(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    leader = lines(1, range(3))
    layout.journal.write_bytes(lines(1, range(2)) + b'{"torn":"' + b"x" * 500)
    reply = apply_push(layout, push(1, leader, len(lines(1, range(2)))), known_term=1)
    assert reply.ok and layout.journal.read_bytes() == leader


def test_repeated_push_changes_nothing(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    leader = lines(1, range(3))
    apply_push(layout, push(1, leader, 0), known_term=0)
    before = layout.journal.stat().st_ino
    reply = apply_push(layout, push(1, leader, 0), known_term=1)
    assert reply.ok and reply.length == len(leader)
    assert layout.journal.read_bytes() == leader and layout.journal.stat().st_ino == before


def test_prefix_mismatch_is_refused_and_a_full_resend_replaces_the_divergent_tail(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    shared = lines(1, range(3))
    old_tail = lines(1, range(100, 104))  # the old coordinator's records no majority acknowledged
    layout.journal.write_bytes(shared + old_tail)
    leader = shared + lines(2, range(3, 5))
    leader_next = leader + line(2, 5)

    refused = apply_push(layout, push(2, leader_next, len(leader)), known_term=1)
    assert not refused.ok and refused.length == len(shared + old_tail) and refused.term == 2
    assert "resend from offset 0" in refused.reason
    assert layout.journal.read_bytes() == shared + old_tail

    resent = apply_push(layout, push(2, leader_next, 0), known_term=1)
    assert resent.ok and resent.length == len(leader_next)
    assert layout.journal.read_bytes() == leader_next
    assert log_position(layout.journal) == LogPosition(term=2, length=len(leader_next))


def test_a_push_at_the_agreement_point_replaces_only_the_tail(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    shared = lines(1, range(3))
    layout.journal.write_bytes(shared + lines(1, range(100, 102)))
    leader = shared + lines(2, range(3, 6))
    reply = apply_push(layout, push(2, leader, len(shared)), known_term=1)
    assert reply.ok and layout.journal.read_bytes() == leader


def test_a_stale_term_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    mine = lines(5, range(2))
    layout.journal.write_bytes(mine)
    stale = push(4, lines(4, range(6)), 0, {"state.json": "{}\n"})
    reply = apply_push(layout, stale, known_term=5)
    assert not reply.ok and reply.term == 5 and reply.length == len(mine)
    assert "4" in reply.reason and "5" in reply.reason
    assert layout.journal.read_bytes() == mine and not layout.state.exists()


# ----------------------------------------------------------------------------- pointer files


@pytest.mark.parametrize(
    "relpath",
    [
        "../x",
        "variants/../../etc",
        "variants/../best.json",
        "variants/hex8_2p/../../x",
        "/etc/passwd",
        "/state.json",
        "variants/hex8_2p/best.json/x",
        "variants/hex8_2p/models.json",
        "variants/Hex8/best.json",
        "journal.jsonl",
        "./state.json",
        "p2p/agent.json",
        "p2p/../state.json",
        "",
    ],
)
def test_pointer_relpath_outside_the_list_is_refused(relpath: str) -> None:
    with pytest.raises(ValueError, match="pointer file path"):
        check_pointer_relpath(relpath)
    with pytest.raises(ValueError, match="files"):
        ReplicaPush(
            term=1,
            leader="a",
            offset=0,
            prefix_sha256=EMPTY_SHA256,
            data="",
            files={relpath: "x"},
            removed=(),
        )


@pytest.mark.parametrize(
    "relpath",
    ["state.json", "p2p/node_states.json"]
    + [f"variants/{VARIANT}/{n}" for n in ("best.json", "promotions.jsonl", "leaderboard.json")]
    + [f"variants/square19_4p/{n}" for n in ("leaderboard.md", "leaderboard.csv")],
)
def test_pointer_relpath_on_the_list_is_accepted(relpath: str) -> None:
    assert check_pointer_relpath(relpath) == relpath


def test_pointer_files_lists_only_pointer_files_and_keeps_line_endings(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.models_dir(VARIANT).mkdir(parents=True)
    (layout.models_dir(VARIANT) / "m.json").write_text("{}")
    layout.best(VARIANT).write_text('{"model": "m"}\n')
    layout.leaderboard_csv(VARIANT).write_bytes(b"model,elo\r\nm,1500\r\n")
    layout.state.write_text("{}\n")
    (layout.root / "p2p").mkdir()
    (layout.root / "p2p" / "node_states.json").write_text("{}\n")
    (layout.root / "p2p" / "status.json").write_text("{}\n")
    layout.journal.write_bytes(line(1, 0))
    (layout.variants_dir / ".hex8_2p.abc.tmp").write_text("x")
    assert pointer_files(layout) == {
        "state.json": "{}\n",
        "p2p/node_states.json": "{}\n",
        f"variants/{VARIANT}/best.json": '{"model": "m"}\n',
        f"variants/{VARIANT}/leaderboard.csv": "model,elo\r\nm,1500\r\n",
    }


# ----------------------------------------------------------------------------- wire codec


def test_messages_round_trip_through_json() -> None:
    sent = push(3, lines(3, range(2)), 0, {"state.json": "{}\n"})
    assert ReplicaPush.from_json(json.loads(json.dumps(sent.to_json()))) == sent
    reply = ReplicaReply(ok=True, length=5, term=3, reason="", file_hashes={"state.json": EMPTY_SHA256})
    assert ReplicaReply.from_json(json.loads(json.dumps(reply.to_json()))) == reply


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"term": True}, "'term'"),
        ({"offset": -1}, "'offset'"),
        ({"leader": "../a"}, "'leader'"),
        ({"prefix_sha256": "ABC"}, "'prefix_sha256'"),
        ({"data": '{"token":1}'}, "whole journal lines"),
        ({"data": '{"event":"x"}\n'}, "token"),
        ({"data": "[1]\n"}, "token"),
        ({"data": '{"token":4}\n'}, "newer than the push's term"),
        ({"files": ["state.json"]}, "'files'"),
        ({"files": {"state.json": 1}}, "files"),
        ({"extra": 1}, "unknown field 'extra'"),
        ({"v": "1"}, "field 'v' must be 1"),
        ({"removed": "state.json"}, "'removed'"),
        ({"removed": ["../state.json"]}, "'removed'"),
        ({"files": {"state.json": "{}"}, "removed": ["state.json"]}, "both send and remove"),
    ],
)
def test_push_fields_are_validated(change: dict[str, object], message: str) -> None:
    doc = push(3, lines(3, range(2)), 0).to_json() | change
    with pytest.raises(ValueError, match=message):
        ReplicaPush.from_json(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"ok": 1, "length": 0, "term": 0, "reason": "", "file_hashes": {}}, "'ok'"),
        ({"ok": True, "length": 1.5, "term": 0, "reason": "", "file_hashes": {}}, "'length'"),
        ({"ok": True, "length": 0, "term": 0, "reason": None, "file_hashes": {}}, "'reason'"),
        ({"ok": True, "length": 0, "term": 0, "reason": "", "file_hashes": {"state.json": "x"}}, "sha256"),
        (
            {"ok": True, "length": 0, "term": 0, "reason": ""},
            r"replica reply: field 'file_hashes' is missing \(the fields are v, ok, length, term, reason, file_hashes\)",
        ),
        (
            {"v": 2, "ok": True, "length": 0, "term": 0, "reason": "", "file_hashes": {}},
            r"field 'v' must be 1",
        ),
        ([], "replica reply: expected a JSON object, got list"),
    ],
)
def test_reply_fields_are_validated(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplicaReply.from_json(doc)


# ----------------------------------------------------------------------------- leader side


@pytest.mark.parametrize(
    ("size", "unreachable", "majority_reached"),
    [(3, 1, True), (3, 2, False), (5, 1, True), (5, 2, True), (5, 3, False)],
)
def test_committed_length_is_what_a_majority_holds(
    tmp_path: Path, size: int, unreachable: int, majority_reached: bool
) -> None:
    nodes = [f"n{i}" for i in range(size)]
    cluster = Cluster(tmp_path, nodes)
    leader = cluster.leader(nodes)
    append(cluster.layouts["n0"], 1, 3)
    first = asyncio.run(leader.replicate(1))
    assert first == leader.committed == len(cluster.journal("n0"))

    cluster.down = set(nodes[size - unreachable :])
    append(cluster.layouts["n0"], 1, 2)
    committed = asyncio.run(leader.replicate(1))
    assert committed == (len(cluster.journal("n0")) if majority_reached else first)
    for node in nodes[1 : size - unreachable]:
        assert cluster.journal(node) == cluster.journal("n0")
    for node in cluster.down:
        assert leader.acked[node] == first


def test_a_follower_that_rejoins_converges_byte_for_byte(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    leader = cluster.leader(nodes)
    lead = cluster.layouts["a"]
    append(lead, 1, 2)
    asyncio.run(leader.replicate(1))
    cluster.down = {"c"}
    for round_ in range(3):
        append(lead, 1, 2)
        lead.best(VARIANT).parent.mkdir(parents=True, exist_ok=True)
        lead.best(VARIANT).write_text(f'{{"round": {round_}}}\n')
        assert asyncio.run(leader.replicate(1)) == len(cluster.journal("a"))
    assert cluster.journal("c") != cluster.journal("a")
    cluster.down = set()
    cluster.pushes.clear()
    behind = len(cluster.journal("c"))
    asyncio.run(leader.replicate(1))
    assert [(n, p.offset) for n, p in cluster.pushes] == [("b", len(cluster.journal("a"))), ("c", behind)]
    for node in ("b", "c"):
        assert cluster.journal(node) == cluster.journal("a")
        assert pointer_files(cluster.layouts[node]) == pointer_files(lead)


def test_a_new_coordinator_replaces_an_old_coordinators_unacknowledged_tail(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    shared = lines(1, range(3))
    cluster.layouts["a"].journal.write_bytes(shared + lines(2, range(3, 5)))
    cluster.layouts["b"].journal.write_bytes(shared)
    cluster.layouts["c"].journal.write_bytes(shared + lines(1, range(100, 110)))  # old term 1 leader
    cluster.terms.update(b=2, c=1)
    leader = cluster.leader(nodes)
    assert asyncio.run(leader.replicate(2)) == len(cluster.journal("a"))
    assert cluster.journal("b") == cluster.journal("c") == cluster.journal("a")


def test_unchanged_pointer_files_are_not_resent(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    lead = cluster.layouts["a"]
    append(lead, 1, 1)
    lead.state.write_text('{"tick": 1}\n')
    lead.best(VARIANT).parent.mkdir(parents=True)
    lead.best(VARIANT).write_text('{"model": "m1"}\n')
    leader = cluster.leader(nodes)
    asyncio.run(leader.replicate(1))
    assert all(set(p.files) == {"state.json", f"variants/{VARIANT}/best.json"} for _, p in cluster.pushes)

    cluster.pushes.clear()
    append(lead, 1, 1)
    asyncio.run(leader.replicate(1))
    assert [p.files for _, p in cluster.pushes] == [{}, {}]

    cluster.pushes.clear()
    lead.state.write_text('{"tick": 2}\n')
    asyncio.run(leader.replicate(1))
    assert [dict(p.files) for _, p in cluster.pushes] == [{"state.json": '{"tick": 2}\n'}] * 2
    assert pointer_files(cluster.layouts["c"]) == pointer_files(lead)


def test_the_node_state_table_reaches_the_followers_and_a_new_coordinator_reads_it(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    lead = cluster.layouts["a"]
    append(lead, 1, 1)
    book = NodeStateBook(node_states_path(lead))
    book.write(NodeStates().changed("gpu3", RETIRED, reason="gone", requested_by="ops", at=1.0, term=1))
    asyncio.run(cluster.leader(nodes).replicate(1))
    for node in ("b", "c"):
        assert NodeStateBook(node_states_path(cluster.layouts[node])).current() == book.current()
    # Unretired on the coordinator: the table empties everywhere.
    book.write(book.current().changed("gpu3", ACTIVE, reason="", requested_by="ops", at=2.0, term=1))
    asyncio.run(cluster.leader(nodes).replicate(1))
    assert NodeStateBook(node_states_path(cluster.layouts["c"])).current().nodes == {}


def test_a_follower_that_lost_its_journal_is_no_longer_counted(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    append(cluster.layouts["a"], 1, 2)
    leader = cluster.leader(nodes)
    first = asyncio.run(leader.replicate(1))
    cluster.layouts["c"].journal.unlink()
    cluster.replies_left["c"] = 1  # it refuses the tail, then drops off before the full resend
    cluster.down = {"b"}
    append(cluster.layouts["a"], 1, 1)
    assert asyncio.run(leader.replicate(1)) == first
    assert leader.acked == {"b": first, "c": None}
    assert [(n, p.offset) for n, p in cluster.pushes[2:]] == [("b", first), ("c", first), ("c", 0)]


def test_pointer_files_the_coordinator_lacks_are_removed(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    append(cluster.layouts["a"], 2, 1)
    cluster.layouts["a"].state.write_text("{}\n")
    stray = cluster.layouts["c"].best("square8_2p")  # from an old coordinator's unacknowledged history
    stray.parent.mkdir(parents=True)
    stray.write_text('{"model": "old"}\n')
    leader = cluster.leader(nodes)
    asyncio.run(leader.replicate(2))
    assert [(n, p.removed, p.data) for n, p in cluster.pushes] == [
        ("b", (), cluster.journal("a").decode()),
        ("c", (), cluster.journal("a").decode()),
        ("c", ("variants/square8_2p/best.json",), ""),
    ]
    assert not stray.exists()
    assert (
        pointer_files(cluster.layouts["c"]) == pointer_files(cluster.layouts["a"]) == {"state.json": "{}\n"}
    )
    cluster.pushes.clear()
    asyncio.run(leader.replicate(2))
    assert [p.removed for _, p in cluster.pushes] == [(), ()]


def test_a_higher_term_reply_supersedes_the_coordinator(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    append(cluster.layouts["a"], 3, 2)
    cluster.terms["c"] = 4
    leader = cluster.leader(nodes)
    with pytest.raises(SupersededError) as error:
        asyncio.run(leader.replicate(3))
    assert error.value.term == 4
    assert cluster.journal("c") == b""


def test_records_of_an_older_term_commit_only_with_one_of_the_current_term(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    lead = cluster.layouts["a"]
    append(lead, 2, 3)
    leader = cluster.leader(nodes)
    assert asyncio.run(leader.replicate(3)) == 0
    assert cluster.journal("b") == cluster.journal("a")
    append(lead, 3, 1)
    assert asyncio.run(leader.replicate(3)) == len(cluster.journal("a"))


def test_a_new_term_forgets_the_acks_of_the_last(tmp_path: Path) -> None:
    nodes = ["a", "b", "c"]
    cluster = Cluster(tmp_path, nodes)
    append(cluster.layouts["a"], 1, 2)
    leader = cluster.leader(nodes)
    asyncio.run(leader.replicate(1))
    cluster.pushes.clear()
    append(cluster.layouts["a"], 2, 1)
    asyncio.run(leader.replicate(2))
    assert [p.offset for _, p in cluster.pushes] == [0, 0]


def test_a_long_journal_goes_in_bounded_pushes(tmp_path: Path) -> None:
    nodes = ["a", "b"]
    cluster = Cluster(tmp_path, nodes)
    append(cluster.layouts["a"], 1, 50)
    leader = cluster.leader(nodes, max_push_bytes=200)
    assert asyncio.run(leader.replicate(1)) == len(cluster.journal("a"))
    assert len(cluster.pushes) > 5
    assert all(len(p.data) <= 200 for _, p in cluster.pushes)
    offsets = [p.offset for _, p in cluster.pushes]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0
    assert cluster.journal("b") == cluster.journal("a")


def test_an_ok_reply_for_another_length_is_not_counted(tmp_path: Path) -> None:
    async def confused(node: str, sent: ReplicaPush) -> ReplicaReply | None:
        return ReplicaReply(ok=True, length=sent.end + 1, term=sent.term, reason="", file_hashes={})

    layout = RunLayout(tmp_path)
    append(layout, 1, 2)
    leader = LeaderReplication(layout, "a", ["a", "b", "c"], send=confused)
    assert asyncio.run(leader.replicate(1)) == 0
    assert leader.acked == {"b": None, "c": None}


def test_the_leader_must_be_in_the_electorate(tmp_path: Path) -> None:
    async def never(node: str, sent: ReplicaPush) -> ReplicaReply | None:
        return None

    with pytest.raises(ValueError, match="not in the electorate"):
        LeaderReplication(RunLayout(tmp_path), "x", ["a", "b", "c"], send=never)


# ----------------------------------------------------------------------------- property


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.sampled_from([3, 5]),
    rounds=st.lists(
        st.tuples(st.integers(0, 3), st.sets(st.integers(1, 4)), st.sets(st.integers(1, 4))),
        min_size=1,
        max_size=6,
    ),
)
def test_committed_never_exceeds_a_majority_and_acked_journals_are_prefixes(
    tmp_path_factory: pytest.TempPathFactory,
    size: int,
    rounds: list[tuple[int, set[int], set[int]]],
) -> None:
    nodes = [f"n{i}" for i in range(size)]
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), nodes)
    leader = cluster.leader(nodes, max_push_bytes=150)
    committed = 0
    for number, (new_records, down, deaf) in enumerate(rounds):
        append(cluster.layouts["n0"], 1, new_records)
        cluster.layouts["n0"].state.write_text(f'{{"round": {number % 2}}}\n')
        cluster.down = {nodes[i] for i in down if i < size}
        cluster.deaf = {nodes[i] for i in deaf if i < size}
        result = asyncio.run(leader.replicate(1))
        lead = cluster.journal("n0")
        assert committed <= result <= len(lead)
        committed = result
        holding = [n for n in nodes if cluster.journal(n)[:committed] == lead[:committed]]
        assert len(holding) >= size // 2 + 1
        for node, acked in leader.acked.items():
            if acked is not None:
                assert cluster.journal(node)[:acked] == lead[:acked]
            assert lead.startswith(cluster.journal(node))
    cluster.down = cluster.deaf = set()
    assert asyncio.run(leader.replicate(1)) == len(cluster.journal("n0"))
    for node in nodes:
        assert cluster.journal(node) == cluster.journal("n0")
        assert pointer_files(cluster.layouts[node]) == pointer_files(cluster.layouts["n0"])
