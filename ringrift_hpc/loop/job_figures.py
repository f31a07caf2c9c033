"""What the run's jobs did, per variant and purpose, folded from the journal for Prometheus.

Per-task figures would give every selfplay task its own series (a label without bound); these
totals carry only the labels variant, purpose and status, whose values the config and the code
fix. `JobFigures.follow` folds only the journal lines appended since its last call (the journal
is append-only), so the controller pays for each record once. Games come from the shard's
`ingested` record; for journals written before it carried them, from the shard's manifest, read
once per shard (a shard gone from its place since, quarantined, then counts its positions but
not its games). The CPU seconds the jobs measured come from the ``ingested`` records too
(`measured_cpu`).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose, check_purpose, resource_kind
from ringrift_hpc.config import Config
from ringrift_hpc.loop.events import Event, JobEnded, ShardIngested, SubmitIntent, UnknownEvent, read_events
from ringrift_hpc.loop.measured_cpu import measured
from ringrift_hpc.metrics import MetricFamily, family
from ringrift_hpc.store import JournalCorruptError, RunLayout, StoreError, read_manifest

TERMINAL = tuple(status.value for status in JobStatus if status.is_terminal)


def task_purpose(task: str) -> tuple[Purpose, str]:
    """(purpose, variant) of a job's identity, e.g. ``selfplay/square8_2p/000000/000003``."""
    purpose, variant, *_ = [*task.split("/"), ""]
    return check_purpose(purpose, what=f"task {task!r} names purpose"), variant


def _counts() -> defaultdict[tuple[str, ...], float]:
    return defaultdict(float)


@dataclass
class Totals:
    """The sums so far, keyed by (variant, purpose[, status]) or (variant,)."""

    submitted: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    ended: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    elapsed: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    positions: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    shards: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    games: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)
    measured_cpu: defaultdict[tuple[str, ...], float] = field(default_factory=_counts)


@dataclass
class JobFigures:
    """Running totals of one run's journal; `follow` brings them up to the journal's end."""

    layout: RunLayout
    variants: tuple[str, ...]
    cpus: dict[Purpose, int]
    gpus: dict[Purpose, int]
    totals: Totals = field(default_factory=Totals)
    _offset: int = 0  # bytes of the journal folded so far
    _line: int = 0  # lines folded so far, to name a bad one
    _inode: int | None = None

    @classmethod
    def for_run(cls, layout: RunLayout, config: Config) -> JobFigures:
        kinds = {purpose: config.slurm.job(resource_kind(purpose)) for purpose in PURPOSES}
        return cls(
            layout,
            tuple(v.name for v in config.variants),
            {p: job.cpus for p, job in kinds.items()},
            {p: job.gpus for p, job in kinds.items()},
        )

    def follow(self) -> JobFigures:
        """Fold the journal's complete lines written since the last call (all of them when the
        journal was replaced, e.g. restored from a replica)."""
        path = self.layout.journal
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self.totals, self._offset, self._line, self._inode = Totals(), 0, 0, stat.st_ino
                handle.seek(self._offset)
                raw = handle.read()
        except FileNotFoundError:
            return self
        complete = raw[: raw.rfind(b"\n") + 1]  # a torn last line is read once it is whole
        records = []
        for number, line in enumerate(complete.split(b"\n")[:-1], start=self._line + 1):
            try:
                records.append(json.loads(line))
            except ValueError as error:
                raise JournalCorruptError(f"{path}:{number}: not a JSON record ({error})") from None
        # All read before any is folded: a bad record leaves the totals as they were.
        for event in read_events(records, source=f"{path} after line {self._line}"):
            self._fold(event)
        self._line += len(records)
        self._offset += len(complete)
        return self

    def memory(self, offset: int) -> dict[str, Any] | None:
        """The totals as JSON when they fold exactly the journal's first `offset` bytes (the
        replay snapshot's copy), else None."""
        if self._offset != offset:
            return None
        return {
            f.name: [[list(key), value] for key, value in sorted(getattr(self.totals, f.name).items())]
            for f in fields(Totals)
        }

    def restore(self, memory: dict[str, Any], *, offset: int, lines: int, inode: int) -> None:
        """Take the totals of `memory` (from `memory`) as the fold of the journal's first `offset`
        bytes, its first `lines` lines, in the file `inode`."""
        totals = Totals()
        for f in fields(Totals):
            counts = getattr(totals, f.name)
            for key, value in memory[f.name]:
                counts[tuple(str(part) for part in key)] = float(value)
        self.totals, self._offset, self._line, self._inode = totals, offset, lines, inode

    def _fold(self, event: Event | UnknownEvent) -> None:
        t = self.totals
        cpu = measured(event)
        if cpu is not None:
            t.measured_cpu[cpu[0]] += cpu[1]
        if isinstance(event, SubmitIntent):
            t.submitted[event.variant, event.purpose] += len(event.tasks)
        elif isinstance(event, JobEnded):
            purpose, variant = task_purpose(event.task)
            t.ended[variant, purpose, event.status.value] += 1
            t.elapsed[variant, purpose] += max(float(event.elapsed_s), 0.0)
        elif isinstance(event, ShardIngested):
            t.positions[event.variant,] += event.samples
            t.shards[event.variant,] += 1
            # Journals written before the ingest recorded games: read from the manifest once.
            t.games[event.variant,] += event.games if event.games is not None else self._games(event.path)

    def _games(self, path: str) -> int:
        try:
            games = read_manifest(self.layout.root / path, verify=False).manifest.metadata.get("games")
        except (StoreError, OSError):
            return 0
        return games if isinstance(games, int) and games >= 0 else 0

    def families(self) -> list[MetricFamily]:
        """The totals as counters; every configured variant and purpose has its series from the start."""
        t = self.totals
        pairs = [(v, p) for v in self.variants for p in PURPOSES]
        per_job = [({"variant": v, "purpose": p}, (v, p)) for v, p in pairs]
        per_variant = [({"variant": v}, (v,)) for v in self.variants]
        return [
            family(
                "ringrift_jobs_submitted_total",
                "counter",
                "Job submissions journaled (first tries and reruns), by variant and purpose.",
                [(labels, t.submitted[key]) for labels, key in per_job],
            ),
            family(
                "ringrift_jobs_ended_total",
                "counter",
                "Job attempts that ended, by variant, purpose and terminal status.",
                [
                    ({"variant": v, "purpose": p, "status": s}, t.ended[v, p, s])
                    for v, p in pairs
                    for s in TERMINAL
                ],
            ),
            family(
                "ringrift_job_elapsed_seconds_total",
                "counter",
                "Wall-clock seconds of ended job attempts, by variant and purpose.",
                [(labels, t.elapsed[key]) for labels, key in per_job],
            ),
            family(
                "ringrift_job_cpu_seconds_total",
                "counter",
                "CPU core seconds reserved by ended job attempts (elapsed times slurm.<kind>.cpus).",
                [({"variant": v, "purpose": p}, t.elapsed[v, p] * self.cpus[p]) for v, p in pairs],
            ),
            family(
                "ringrift_job_measured_cpu_seconds_total",
                "counter",
                "CPU seconds (user plus system) the jobs measured, from the artifacts ingested, by "
                "variant and purpose.",
                [(labels, t.measured_cpu[key]) for labels, key in per_job],
            ),
            family(
                "ringrift_job_gpu_seconds_total",
                "counter",
                "GPU seconds reserved by ended job attempts (elapsed times slurm.<kind>.gpus).",
                [({"variant": v, "purpose": p}, t.elapsed[v, p] * self.gpus[p]) for v, p in pairs],
            ),
            family(
                "ringrift_selfplay_positions_total",
                "counter",
                "Training positions in the selfplay shards the controller ingested, by variant.",
                [(labels, t.positions[key]) for labels, key in per_variant],
            ),
            family(
                "ringrift_selfplay_shards_total",
                "counter",
                "Selfplay shards the controller ingested, by variant.",
                [(labels, t.shards[key]) for labels, key in per_variant],
            ),
            family(
                "ringrift_selfplay_games_total",
                "counter",
                "Games in the ingested selfplay shards (per their manifests), by variant.",
                [(labels, t.games[key]) for labels, key in per_variant],
            ),
        ]
