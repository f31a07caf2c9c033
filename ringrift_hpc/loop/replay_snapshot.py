"""The replay snapshot: a cache of what a restarted controller derives from its journal.

A restart folds the journal (10^6 records after weeks) into the state, the shard index, the
artifact index's memory, the unrecorded decisions and the job figures. At the end of a tick (never
between a tick's writes) the controller writes that fold to `RUN/replay_snapshot.json` once
`EVERY_RECORDS` records or `EVERY_S` seconds have passed since the last one, with the journal
position it covers; a restart loads it and folds only the records after that position.

It is a cache: any doubt about it (missing, not JSON, another format version, another code
fingerprint or set of variants, a journal shorter than its offset, or a line before the offset
other than the one it covered) means a full replay with a warning, so a bad snapshot changes the
speed of a restart and nothing else, and deleting it loses nothing.

Why comparing the last covered line is enough: the journal has a single fenced writer that only
appends, and every record carries its time and fencing token, so no other journal holds the same
line at the same offset. What changes a journal otherwise keeps or drops whole lines at its end
(repairing a torn tail, restoring a replica's copy): the covered prefix is then either there, ending
with the same line, or the check fails. Editing the middle of a journal in place, keeping every
length, is damage this check does not see (a full replay would not see it either unless it broke
the JSON). The code fingerprint makes a snapshot written by other code a miss: the fold it holds
may differ from this code's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from ringrift_hpc.cluster.executor import JobRef
from ringrift_hpc.loop import events as events_module
from ringrift_hpc.loop import ingest as ingest_module
from ringrift_hpc.loop import job_figures as figures_module
from ringrift_hpc.loop import state as state_module
from ringrift_hpc.loop.events import Decision, DecisionRecorded, Event, UnknownEvent, read_events, to_record
from ringrift_hpc.loop.ingest import ArtifactIndex, ShardIndex
from ringrift_hpc.loop.job_figures import JobFigures
from ringrift_hpc.loop.state import JobRecord, RunState, VariantState, fold_events
from ringrift_hpc.store import RunLayout
from ringrift_hpc.store.atomic import atomic_write_bytes
from ringrift_hpc.store.journal import JournalReplay, gc_paused

FORMAT = "ringrift-hpc.replay-snapshot"
FORMAT_VERSION = 1
EVERY_RECORDS = 10_000  # journal records between two snapshots
EVERY_S = 600.0  # or seconds, whichever comes first

log = logging.getLogger(__name__)


@cache
def code_fingerprint() -> str:
    """sha256 of the sources that define the fold: a snapshot of other code is a miss."""
    digest = hashlib.sha256()
    for module in (events_module, state_module, ingest_module, figures_module):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def line_before(data: bytes, offset: int) -> str:
    """sha256 of the journal line that ends at `offset` ("" at the start); ValueError when no
    line ends there."""
    if offset == 0:
        return ""
    if not 0 < offset <= len(data) or data[offset - 1 : offset] != b"\n":
        raise ValueError(f"no journal line ends at byte {offset}")
    start = data.rfind(b"\n", 0, offset - 1) + 1
    return hashlib.sha256(data[start:offset]).hexdigest()


@dataclass(frozen=True)
class Mark:
    """How much of the journal a fold covers."""

    offset: int  # bytes
    records: int  # lines
    last_line: str  # `line_before(journal, offset)`


@dataclass
class Decisions:
    """The journal's decisions and which of them were written to the promotion history."""

    made: list[Decision] = field(default_factory=list)
    recorded: set[tuple[str, str]] = field(default_factory=set)

    def apply(self, event: Event | UnknownEvent) -> None:
        if isinstance(event, Decision):
            self.made.append(event)
        elif isinstance(event, DecisionRecorded):
            self.recorded.add((event.variant, event.candidate))

    def unrecorded(self) -> list[Decision]:
        return [e for e in self.made if (e.variant, e.candidate) not in self.recorded]


def _fields(obj: Any) -> dict[str, Any]:
    """A state dataclass as JSON: its tuples become lists (`_unplain` turns them back)."""
    doc = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        doc[f.name] = list(value) if isinstance(value, tuple) else value
    return doc


def _unplain(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a state dataclass from `_fields`' JSON."""
    return {name: tuple(v) if isinstance(v, list) else v for name, v in doc.items()}


def state_to_json(state: RunState) -> dict[str, Any]:
    """Every field of the state (`RunState.to_json` shows people a part of it)."""
    return {
        **_fields(state),
        "variants": {name: _fields(v) for name, v in state.variants.items()},
        "jobs": [{**_fields(j), "ref": j.ref.to_json() if j.ref else None} for j in state.jobs.values()],
    }


def state_from_json(doc: Mapping[str, Any]) -> RunState:
    jobs = {}
    for job in doc["jobs"]:
        ref = JobRef.from_json(job["ref"]) if job["ref"] is not None else None
        jobs[job["task"]] = JobRecord(**{**_unplain(job), "ref": ref})
    variants = {name: VariantState(**_unplain(v)) for name, v in doc["variants"].items()}
    return RunState(**{**_unplain(doc), "variants": variants, "jobs": jobs})


def _fold(
    state: RunState,
    shards: ShardIndex,
    artifacts: ArtifactIndex,
    decisions: Decisions,
    events: Sequence[Event | UnknownEvent],
) -> RunState:
    with gc_paused():
        for event in events:
            shards.apply(event)
            artifacts.apply(event)
            decisions.apply(event)
    return fold_events(state, events)


class Checkpoint:
    """The controller's replay snapshot: it follows the journal (folding what each tick appended
    into a state of its own, as a restart would, without the observations a tick keeps in memory)
    and writes the snapshot when one is due."""

    def __init__(
        self,
        layout: RunLayout,
        names: Sequence[str],
        state: RunState,
        decisions: Decisions,
        mark: Mark,
        *,
        written: tuple[int, float],
    ) -> None:
        self.layout = layout
        self.names = tuple(names)
        self.state = state
        self.decisions = decisions
        self.mark = mark
        self.written = written  # records covered by the last snapshot, and when it was loaded or written
        self.stopped = False

    def due(self, now: float) -> bool:
        records, at = self.written
        return self.mark.records - records >= EVERY_RECORDS or now - at >= EVERY_S

    def save(
        self,
        shards: ShardIndex,
        artifacts: ArtifactIndex,
        figures: JobFigures,
        *,
        now: float,
        check: Callable[[], None],
    ) -> bool:
        """Follow the journal to its end and write the snapshot if one is due; whether it wrote.

        `shards` and `artifacts` are the controller's: they change only by applying journaled
        events, so at the end of a tick they are the fold of the whole journal. `check` (the
        lease's) runs before the write.
        """
        self._follow()
        if self.stopped or not self.due(now):
            return False
        check()
        try:
            with gc_paused():  # a million new objects without cycles: the collector's passes cost most
                data = self._encode(shards, artifacts, figures)
            atomic_write_bytes(self.layout.replay_snapshot, data)
        except OSError as error:
            # A cache: the run goes on without it (the previous snapshot, if any, is still whole).
            log.warning(
                "%s: not written (%s); a restart replays more of the journal",
                self.layout.replay_snapshot,
                error,
            )
            return False
        self.written = (self.mark.records, now)
        return True

    def _follow(self) -> None:
        if self.stopped:
            return
        offset = self.mark.offset
        with self.layout.journal.open("rb") as handle:
            handle.seek(max(offset - 1, 0))  # from the newline that ends the last line folded
            data = handle.read()
        if offset and not data.startswith(b"\n"):
            # Not the journal this controller appends to: no snapshot is written from now on.
            log.warning(
                "%s: shorter than the %d bytes folded; no more replay snapshots", self.layout.journal, offset
            )
            self.stopped = True
            return
        start = 1 if offset else 0
        tail = JournalReplay(self.layout.journal, data, data.rfind(b"\n") + 1)
        records = tail.records_after(start, self.mark.records)
        events = read_events(records, source=f"{self.layout.journal} after line {self.mark.records}")
        self.state = fold_events(self.state, events)
        for event in events:
            self.decisions.apply(event)
        last = line_before(data, tail.valid_size) if records else self.mark.last_line
        self.mark = Mark(offset + tail.valid_size - start, self.mark.records + len(records), last)

    def _encode(self, shards: ShardIndex, artifacts: ArtifactIndex, figures: JobFigures) -> bytes:
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "code": code_fingerprint(),
            "variants": list(self.names),
            "journal": _fields(self.mark),
            "state": state_to_json(self.state),
            "shards": {v: [[p, g, s] for p, (g, s) in paths.items()] for v, paths in shards.shards.items()},
            "artifacts": artifacts.memory(),
            "decisions": {
                "unrecorded": [to_record(e) for e in self.decisions.unrecorded()],
                "recorded": sorted(self.decisions.recorded),
            },
            "job_figures": figures.memory(self.mark.offset),
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


@dataclass
class Restart:
    """What a controller starts from: the fold of its journal and the checkpoint that follows it."""

    state: RunState
    shards: ShardIndex
    artifacts: ArtifactIndex
    unrecorded: list[Decision]
    checkpoint: Checkpoint


class _Stale(ValueError):
    """The snapshot does not cover this journal with this code."""


def restart(
    layout: RunLayout,
    names: Sequence[str],
    replay: JournalReplay,
    artifacts: Callable[[], ArtifactIndex],
    figures: JobFigures,
    *,
    now: float,
) -> Restart:
    """The fold of the journal in `replay`: the snapshot's plus the journal's tail after it when
    the snapshot is valid, else a full replay. `artifacts` makes an empty index."""
    try:
        return _from_snapshot(layout, names, replay, artifacts, figures, now=now)
    except FileNotFoundError:
        pass
    except (_Stale, ValueError, TypeError, KeyError, AttributeError, OSError) as error:
        log.warning("%s: not used, replaying the whole journal: %s", layout.replay_snapshot, error)
    state, shards, index, decisions = RunState.empty(names), ShardIndex(), artifacts(), Decisions()
    events = read_events(replay.records, source=str(replay.path))
    state = _fold(state, shards, index, decisions, events)
    mark = Mark(replay.valid_size, len(events), line_before(replay.data, replay.valid_size))
    checkpoint = Checkpoint(layout, names, state, decisions, mark, written=(0, now))
    return Restart(state, shards, index, decisions.unrecorded(), checkpoint)


def _from_snapshot(
    layout: RunLayout,
    names: Sequence[str],
    replay: JournalReplay,
    artifacts: Callable[[], ArtifactIndex],
    figures: JobFigures,
    *,
    now: float,
) -> Restart:
    doc = json.loads(layout.replay_snapshot.read_bytes())
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _Stale(f"not a {FORMAT} file")
    if doc.get("format_version") != FORMAT_VERSION:
        raise _Stale(f"format_version {doc.get('format_version')!r}, this code reads {FORMAT_VERSION}")
    if doc.get("code") != code_fingerprint():
        raise _Stale("written by other code")
    if doc.get("variants") != list(names):
        raise _Stale(f"of the variants {doc.get('variants')!r}, the config names {list(names)!r}")
    mark = Mark(**doc["journal"])
    if mark.offset > replay.valid_size:
        raise _Stale(f"covers {mark.offset} bytes of a journal of {replay.valid_size}")
    if line_before(replay.data, mark.offset) != mark.last_line:
        raise _Stale(f"the journal's line before byte {mark.offset} is not the one it covered")
    shards, index = ShardIndex(), artifacts()
    for variant, entries in doc["shards"].items():
        shards.shards[variant] = {path: (int(g), int(s)) for path, g, s in entries}
    index.restore(doc["artifacts"])
    unrecorded = read_events(doc["decisions"]["unrecorded"], source=f"{layout.replay_snapshot} decisions")
    decisions = Decisions(
        [e for e in unrecorded if isinstance(e, Decision)], {(v, c) for v, c in doc["decisions"]["recorded"]}
    )
    state = state_from_json(doc["state"])
    records = replay.records_after(mark.offset, mark.records)
    events = read_events(records, source=f"{replay.path} after line {mark.records}")
    state = _fold(state, shards, index, decisions, events)
    end = Mark(replay.valid_size, mark.records + len(events), line_before(replay.data, replay.valid_size))
    checkpoint = Checkpoint(layout, names, state, decisions, end, written=(mark.records, now))
    if doc["job_figures"] is not None:  # last: a snapshot found bad above leaves the figures alone
        inode = os.stat(replay.path).st_ino
        figures.restore(doc["job_figures"], offset=mark.offset, lines=mark.records, inode=inode)
    return Restart(state, shards, index, decisions.unrecorded(), checkpoint)
