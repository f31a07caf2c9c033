"""Journal and pointer-file replication from the coordinator to the other eligible nodes.

There is no shared filesystem in P2P mode, so after every controller tick the coordinator
pushes its journal tail and changed pointer files to the other coordinator-eligible nodes and
counts how many hold them. A journal length held by a majority (the coordinator included) is
*committed*: any later coordinator, elected only with a log at least as up to date as a
majority's, holds it too.

Followers keep every byte that agrees with the coordinator and replace only a divergent tail
(records of an old coordinator that no majority acknowledged), as in Raft: a push names the
offset it starts at and the sha256 of the coordinator's journal before it, and the follower
accepts it only when its own journal agrees up to there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Protocol

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from ringrift_hpc.p2p.election import LogPosition, majority
from ringrift_hpc.p2p.wire import (
    WIRE_VERSION,
    Count,
    Flag,
    Sha256,
    Text,
    Version,
    WireModel,
    expected,
    list_as_tuple,
)
from ringrift_hpc.store.atomic import atomic_write_bytes, ensure_dir, fsync_dir, write_fd_fully
from ringrift_hpc.store.errors import JournalCorruptError, UnsafePathError
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.names import check_variant

log = logging.getLogger(__name__)

# The files under variants/<variant>/ that only the coordinator writes, and where each lives.
_VARIANT_POINTERS: Mapping[str, Callable[[RunLayout, str], Path]] = MappingProxyType(
    {
        "best.json": RunLayout.best,
        "promotions.jsonl": RunLayout.promotions,
        "leaderboard.json": RunLayout.leaderboard_json,
        "leaderboard.md": RunLayout.leaderboard_md,
        "leaderboard.csv": RunLayout.leaderboard_csv,
    }
)
STATE_RELPATH = "state.json"
NODE_STATES_RELPATH = "p2p/node_states.json"  # drained and retired nodes (`p2p.node_states`)
# The run-wide files only the coordinator writes, by their path under the run directory.
_RUN_POINTERS = (STATE_RELPATH, NODE_STATES_RELPATH)
DEFAULT_MAX_PUSH_BYTES = 8 << 20
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class SupersededError(RuntimeError):
    """A peer knows a newer term than the coordinator's: the coordinator must step down."""

    def __init__(self, term: int) -> None:
        super().__init__(term)
        self.term = term

    def __str__(self) -> str:
        return f"a peer is at term {self.term}"


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def copy(self) -> _Hasher: ...

    def hexdigest(self) -> str: ...


# ---------------------------------------------------------------------------------------------
# Journal reading


def _complete_bytes(journal: Path) -> bytes:
    """The journal up to and including its last newline; a torn last line is left out."""
    try:
        raw = journal.read_bytes()
    except FileNotFoundError:
        return b""
    return raw[: raw.rfind(b"\n") + 1]


def _line_token(line: bytes, *, where: str) -> int:
    """The fencing token of one journal line; `JournalCorruptError` naming `where` if it has none."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise JournalCorruptError(f"{where}: line is not valid JSON ({error})") from None
    token = record.get("token") if isinstance(record, dict) else None
    if isinstance(token, bool) or not isinstance(token, int) or token < 0:
        raise JournalCorruptError(
            f"{where}: record has no non-negative integer 'token' (got {token!r}); every record of a "
            "P2P journal carries its coordinator's term"
        )
    return token


def _last_token(complete: bytes, *, where: str) -> int:
    """Token of the last line of `complete` (which ends with a newline); 0 when it is empty."""
    if not complete:
        return 0
    start = complete.rfind(b"\n", 0, len(complete) - 1) + 1
    return _line_token(complete[start:-1], where=where)


def log_position(journal: Path) -> LogPosition:
    """(term of the last complete record, bytes of complete records) of a journal file."""
    complete = _complete_bytes(journal)
    fix = "; move the journal aside and let this node take the coordinator's copy"
    try:
        term = _last_token(complete, where=f"{journal}: last complete line")
    except JournalCorruptError as error:
        raise JournalCorruptError(f"{error}{fix}") from None
    return LogPosition(term=term, length=len(complete))


# ---------------------------------------------------------------------------------------------
# Pointer files


def check_pointer_relpath(text: str) -> str:
    """Return `text` if it names a replicated pointer file, else raise `ValueError`.

    Only `state.json`, `p2p/node_states.json` and `variants/<variant>/<pointer>` qualify, so a
    push can never write anywhere else in (or outside) the run directory.
    """
    parts = text.split("/")
    if text in _RUN_POINTERS:
        return text
    if len(parts) == 3 and parts[0] == "variants" and parts[2] in _VARIANT_POINTERS:
        try:
            check_variant(parts[1])
        except UnsafePathError as error:
            raise ValueError(f"pointer file path {text!r}: {error}") from None
        return text
    raise ValueError(
        f"pointer file path {text!r} is not a replicated pointer file: use "
        f"{' or '.join(map(repr, _RUN_POINTERS))} or 'variants/<variant>/<name>' with <name> one of "
        f"{', '.join(_VARIANT_POINTERS)}"
    )


def _pointer_path(layout: RunLayout, relpath: str) -> Path:
    check_pointer_relpath(relpath)
    if relpath in _RUN_POINTERS:
        return layout.root / relpath
    _, variant, name = relpath.split("/")
    return _VARIANT_POINTERS[name](layout, variant)


def _pointer_bytes(layout: RunLayout) -> dict[str, bytes]:
    """relpath -> content of every pointer file present (the controller replaces them atomically)."""
    found: dict[str, bytes] = {}
    candidates = list(_RUN_POINTERS)
    if layout.variants_dir.is_dir():
        for entry in sorted(layout.variants_dir.iterdir()):
            try:
                check_variant(entry.name)
            except UnsafePathError:
                continue  # not a variant directory (e.g. a store temp file)
            candidates.extend(f"variants/{entry.name}/{name}" for name in _VARIANT_POINTERS)
    for relpath in candidates:
        try:
            found[relpath] = _pointer_path(layout, relpath).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def _decode(relpath: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"pointer file {relpath} is not UTF-8 text ({error}); it was not written by the controller: "
            "move it aside"
        ) from None


def pointer_files(layout: RunLayout) -> dict[str, str]:
    """relpath -> text of every pointer file present (line endings kept as they are)."""
    return {relpath: _decode(relpath, content) for relpath, content in _pointer_bytes(layout).items()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _held_hashes(layout: RunLayout) -> dict[str, str]:
    return {relpath: _sha256(content) for relpath, content in _pointer_bytes(layout).items()}


# ---------------------------------------------------------------------------------------------
# Wire messages


PointerPath = Annotated[str, AfterValidator(check_pointer_relpath)]
NodeId = Annotated[
    str,
    Field(pattern=f"^{_NODE_ID.pattern}$"),
    expected("a node id (a letter or digit, then at most 39 letters, digits, '_', '.' or '-')"),
]


class ReplicaPush(WireModel):
    """Coordinator -> follower: journal bytes from `offset` and the pointer files that changed.

    `prefix_sha256` is the sha256 of the coordinator's first `offset` journal bytes; `data` is
    whole lines only, each with a token no newer than `term`. `removed` names pointer files the
    follower holds and the coordinator does not (left by an old coordinator's divergent history).
    """

    WHAT = "replica push"
    v: Version = WIRE_VERSION
    term: Count
    leader: NodeId
    offset: Count
    prefix_sha256: Sha256
    data: Text
    files: Mapping[PointerPath, Text]
    removed: Annotated[tuple[PointerPath, ...], BeforeValidator(list_as_tuple)]

    @model_validator(mode="after")
    def _whole_records_of_this_term(self) -> ReplicaPush:
        if self.data and not self.data.endswith("\n"):
            raise ValueError(
                f"field 'data' ends with {self.data[-40:]!r}; send whole journal lines, ending with a newline"
            )
        for number, line in enumerate(self.data.encode("utf-8").split(b"\n")[:-1], start=1):
            where = f"field 'data' line {number}"
            try:
                token = _line_token(line, where=where)
            except JournalCorruptError as error:
                raise ValueError(f"{error}; send only journal records") from None
            if token > self.term:
                raise ValueError(f"{where} has token {token}, newer than the push's term {self.term}")
        overlap = sorted(set(self.removed) & set(self.files))
        if overlap:
            raise ValueError(
                f"field 'removed' names {overlap}, which field 'files' sends: do not both send and remove a "
                "pointer file"
            )
        return self

    @property
    def end(self) -> int:
        """The journal length the follower holds once it has applied this push."""
        return self.offset + len(self.data.encode("utf-8"))


class ReplicaReply(WireModel):
    """Follower -> coordinator: whether the push was applied, and what the follower now holds.

    On success `length` is the journal length that agrees with the coordinator's; on refusal it
    is the follower's own complete length. `term` is the newest term the follower knows.
    """

    WHAT = "replica reply"
    v: Version = WIRE_VERSION
    ok: Flag
    length: Count
    term: Count
    reason: Text
    file_hashes: Mapping[PointerPath, Sha256]


# ---------------------------------------------------------------------------------------------
# Follower side


def _append_at(journal: Path, offset: int, data: bytes) -> None:
    """Write `data` at `offset`, cutting off a torn tail first; durable on return."""
    ensure_dir(journal.parent)
    created = not journal.exists()
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        write_fd_fully(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(journal.parent)


def apply_push(layout: RunLayout, push: ReplicaPush, *, known_term: int) -> ReplicaReply:
    """Apply a coordinator's push to this node's run directory (not thread-safe: one at a time).

    The caller adopts `push.term` as its known term when the reply is ok. Journal bytes that
    agree with the coordinator's are never rewritten; a divergent tail is replaced atomically.
    """
    complete = _complete_bytes(layout.journal)

    def reply(ok: bool, length: int, term: int, reason: str) -> ReplicaReply:
        return ReplicaReply(ok=ok, length=length, term=term, reason=reason, file_hashes=_held_hashes(layout))

    if push.term < known_term:
        return reply(
            False,
            len(complete),
            known_term,
            f"push of term {push.term} from {push.leader} is older than this node's term {known_term}",
        )
    if len(complete) < push.offset or _sha256(complete[: push.offset]) != push.prefix_sha256:
        return reply(
            False,
            len(complete),
            push.term,
            f"this journal ({len(complete)} bytes) does not agree with {push.leader}'s first "
            f"{push.offset} bytes; resend from offset 0",
        )
    data = push.data.encode("utf-8")
    held = complete[push.offset :]
    if not held.startswith(data):  # else a repeated push: everything it carries is already here
        if data.startswith(held):
            _append_at(layout.journal, len(complete), data[len(held) :])
        else:
            atomic_write_bytes(layout.journal, complete[: push.offset] + data)
    for relpath, text in push.files.items():
        atomic_write_bytes(_pointer_path(layout, relpath), text.encode("utf-8"))
    for relpath in push.removed:
        path = _pointer_path(layout, relpath)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)
    return reply(True, push.end, push.term, "")


# ---------------------------------------------------------------------------------------------
# Leader side

Send = Callable[[str, ReplicaPush], Awaitable[ReplicaReply | None]]


@dataclass
class _Follower:
    acked: int | None = None  # journal bytes known to equal the leader's; None: unknown
    file_hashes: dict[str, str] | None = None  # what it reported holding; None: never heard from


@dataclass(frozen=True)
class _Snapshot:
    """The coordinator's journal (complete lines) and pointer files at the start of a round."""

    journal: bytes
    files: Mapping[str, bytes]
    hashes: Mapping[str, str]

    @classmethod
    def read(cls, layout: RunLayout) -> _Snapshot:
        files = _pointer_bytes(layout)
        hashes = {relpath: _sha256(content) for relpath, content in files.items()}
        return cls(_complete_bytes(layout.journal), files, hashes)


def _chunk_end(journal: bytes, offset: int, max_bytes: int) -> int:
    """End of the next push's data: whole lines, at most `max_bytes` unless one line is longer."""
    if len(journal) - offset <= max_bytes:
        return len(journal)
    cut = journal.rfind(b"\n", offset, offset + max_bytes)
    if cut < 0:
        cut = journal.index(b"\n", offset + max_bytes)
    return cut + 1


class LeaderReplication:
    """The coordinator's view of what each follower holds, and the driver that brings them up to date."""

    def __init__(
        self,
        layout: RunLayout,
        node_id: str,
        electorate: Sequence[str],
        *,
        send: Send,
        max_push_bytes: int = DEFAULT_MAX_PUSH_BYTES,
    ) -> None:
        if node_id not in electorate:
            raise ValueError(
                f"node {node_id!r} is not in the electorate {list(electorate)}; only a node listed in "
                "config.p2p.coordinators can coordinate"
            )
        if max_push_bytes < 1:
            raise ValueError(f"max_push_bytes is {max_push_bytes}; pass a positive byte count")
        self._layout = layout
        self._node_id = node_id
        self._majority = majority(electorate)
        self._send = send
        self._max_push = max_push_bytes
        self._followers = {node: _Follower() for node in electorate if node != node_id}
        self._term: int | None = None
        self._committed = 0
        # Hash state of the leader's journal prefix at each acked offset, so a push does not
        # rehash the whole journal.
        self._prefixes: dict[int, _Hasher] = {}

    @property
    def committed(self) -> int:
        """Journal bytes held by a majority in the current term (0 before the first majority)."""
        return self._committed

    @property
    def acked(self) -> Mapping[str, int | None]:
        """Follower -> journal bytes it is known to hold identical to the leader's (None: unknown)."""
        return {node: follower.acked for node, follower in self._followers.items()}

    async def replicate(self, term: int) -> int:
        """Bring every reachable follower up to the leader's journal; return the committed length.

        Raises `SupersededError` when a follower knows a newer term than `term`.
        """
        if term != self._term:
            # Acks of another term describe a journal this node may since have had replaced.
            self._term = term
            self._committed = 0
            self._followers = {node: _Follower() for node in self._followers}
            self._prefixes = {}
        now = _Snapshot.read(self._layout)
        newer = await asyncio.gather(*(self._catch_up(node, term, now) for node in self._followers))
        self._advance_commit(term, now.journal)
        keep = {f.acked for f in self._followers.values()}
        self._prefixes = {offset: h for offset, h in self._prefixes.items() if offset in keep}
        higher = [t for t in newer if t is not None]
        if higher:
            raise SupersededError(max(higher))
        return self._committed

    def _advance_commit(self, term: int, journal: bytes) -> None:
        lengths = sorted([len(journal)] + [f.acked or 0 for f in self._followers.values()], reverse=True)
        held = lengths[self._majority - 1]
        # Only a record of the current term commits by counting (Raft's rule): an older term's
        # record held by a majority can still be overwritten by a coordinator elected with a
        # newer-term tail, and earlier records are committed along with the current term's.
        if held > self._committed and _last_token(journal[:held], where="coordinator journal") == term:
            self._committed = held

    def _prefix(self, journal: bytes, offset: int) -> _Hasher:
        hasher = self._prefixes.get(offset)
        if hasher is None:
            hasher = hashlib.sha256(journal[:offset])
            self._prefixes[offset] = hasher
        return hasher

    async def _catch_up(self, node: str, term: int, now: _Snapshot) -> int | None:
        """Push until `node` holds the whole journal, is unreachable or refuses; return a newer term it knows."""
        follower = self._followers[node]
        journal = now.journal
        offset = follower.acked if follower.acked is not None and follower.acked <= len(journal) else 0
        files_resent = False
        # Each push carries at least one line and two consecutive pushes more than max_push
        # bytes; add one restart from 0 and one push to correct the pointer files.
        for _ in range(2 * (2 * len(journal) // self._max_push + 2) + 1):
            end = _chunk_end(journal, offset, self._max_push)
            last = end == len(journal)
            prefix = self._prefix(journal, offset)
            push = ReplicaPush(
                term=term,
                leader=self._node_id,
                offset=offset,
                prefix_sha256=prefix.hexdigest(),
                data=journal[offset:end].decode("utf-8"),
                files=_changed_files(follower, now) if last else {},
                removed=tuple(sorted(set(follower.file_hashes or ()) - set(now.files))) if last else (),
            )
            reply = await self._send(node, push)
            if reply is None:
                return None
            if reply.term > term:
                return reply.term
            follower.file_hashes = dict(reply.file_hashes)
            if reply.ok and reply.length == end:
                follower.acked = end
                advanced = prefix.copy()
                advanced.update(journal[offset:end])
                self._prefixes[end] = advanced
                offset = end
                if not last:
                    continue
                # A node first heard from may hold pointer files the coordinator lacks: one
                # more (journal-less) push removes them now rather than next tick.
                if follower.file_hashes == now.hashes or files_resent:
                    return None
                files_resent = True
                continue
            follower.acked = None
            if offset == 0:
                log.warning("replica %s refused the whole journal of term %d: %s", node, term, reply.reason)
                return None
            log.info("replica %s refused offset %d (%s); resending from 0", node, offset, reply.reason)
            offset = 0
        return None


def _changed_files(follower: _Follower, now: _Snapshot) -> dict[str, str]:
    """The coordinator's pointer files whose content the follower is not known to hold."""
    held = follower.file_hashes
    return {
        relpath: _decode(relpath, content)
        for relpath, content in now.files.items()
        if held is None or held.get(relpath) != now.hashes[relpath]
    }
