"""What the run report shows, read from the run directory alone: frozen values, no drawing.

Sources: the journal (each job's wall time, the shards and models ingested), the shard and model
manifests (selfplay throughput, training losses), each variant's `promotions.jsonl` (which models
were promoted, when) and `leaderboard.json` (ratings with their intervals).

The compute split is the CPU time the jobs measured (`cpu_seconds` of the journal's ``ingested``
records, `loop.measured_cpu`) when any record carries it, else reserved CPU time: a job's wall
time (`elapsed_s` of its `job_ended` record) times the cores its kind reserves
(`slurm.<kind>.cpus` of the run's config), the figure the scheduler charges and the
`ringrift_job_cpu_seconds_total` metric counts. The CPU-hours at each promotion are reserved ones
(a job's measured time is known only once its artifact is ingested).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import Config
from ringrift_hpc.loop.events import Event, JobEnded, ModelIngested, ShardIngested, UnknownEvent, read_events
from ringrift_hpc.loop.job_figures import JobFigures, task_purpose
from ringrift_hpc.loop.measured_cpu import CpuSplit
from ringrift_hpc.rating.best import PROMOTE, promotion_history
from ringrift_hpc.rating.leaderboard import read_leaderboard
from ringrift_hpc.rating.participants import parse_participant_id
from ringrift_hpc.store import RunLayout, StoreError, read_manifest, replay_journal

HOUR = 3600.0


class ReportError(ValueError):
    """A file of the run holds something the report cannot read."""


@dataclass(frozen=True)
class Rated:
    """One leaderboard row's rating: Elo above the anchor, with its interval."""

    participant: str
    rating: float
    lower: float
    upper: float


@dataclass(frozen=True)
class PromotedModel:
    participant: str
    generation: int | None  # None when its model was never ingested by the controller
    promoted_at: float  # unix seconds
    cpu_hours: float  # reserved CPU-hours of the variant's jobs ended by then
    rating: Rated | None  # None until a leaderboard rates it


@dataclass(frozen=True)
class SelfplayThroughput:
    """One generation's selfplay: positions over the playing time of its shards, summed."""

    generation: int
    positions: int
    seconds: float

    @property
    def positions_per_s(self) -> float:
        return self.positions / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class TrainingLosses:
    """One candidate's losses: training (its last steps) and validation (None where not measured)."""

    generation: int
    model_id: str
    policy: float
    value: float
    validation_policy: float | None
    validation_value: float | None


@dataclass(frozen=True)
class VariantReport:
    variant: str
    promoted: tuple[PromotedModel, ...]  # in promotion order
    anchors: tuple[Rated, ...]  # rated players without a network (random, heuristic)
    selfplay: tuple[SelfplayThroughput, ...]  # by generation
    losses: tuple[TrainingLosses, ...]  # in ingestion order
    leaderboard: Mapping[str, Any] | None  # the `leaderboard.json` document; None before the first refit


@dataclass(frozen=True)
class ComputeShare:
    variant: str
    purpose: str
    cpu_hours: float


@dataclass(frozen=True)
class RunReport:
    run: str  # the run's name
    root: str
    written_at: float  # unix seconds
    confidence: float  # level of the rating intervals
    variants: tuple[VariantReport, ...]
    compute: tuple[ComputeShare, ...]  # sorted by variant and purpose
    compute_measured: bool  # compute is the CPU time the jobs measured, not the reserved time


@dataclass
class _Spent:
    """A variant's reserved CPU seconds after each of its jobs ended, in journal order."""

    times: list[float]
    totals: list[float]

    def at(self, when: float) -> float:
        index = bisect.bisect_right(self.times, when)
        return self.totals[index - 1] if index else 0.0


def _events(layout: RunLayout) -> list[Event | UnknownEvent]:
    return read_events(replay_journal(layout.journal).records, source=str(layout.journal))


def _metadata(layout: RunLayout, relative: str) -> Mapping[str, Any] | None:
    """An ingested artifact's manifest metadata; None once it is gone (quarantined since)."""
    try:
        return read_manifest(layout.root / relative, verify=False).manifest.metadata
    except (StoreError, OSError):
        return None


def _number(meta: Mapping[str, Any], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _spent(
    events: Sequence[Event | UnknownEvent], cpus: Mapping[Purpose, int]
) -> tuple[dict[str, _Spent], dict[tuple[str, str], float]]:
    """Per variant the running reserved CPU seconds, and the totals by (variant, purpose)."""
    spent: dict[str, _Spent] = defaultdict(lambda: _Spent([], []))
    totals: dict[tuple[str, str], float] = defaultdict(float)
    last = 0.0
    for event in events:
        if not isinstance(event, JobEnded):
            continue
        purpose, variant = task_purpose(event.task)
        seconds = max(float(event.elapsed_s), 0.0) * cpus[purpose]
        totals[variant, purpose] += seconds
        last = event.time if event.time is not None else last  # old records carry no time
        series = spent[variant]
        series.times.append(last)
        series.totals.append((series.totals[-1] if series.totals else 0.0) + seconds)
    return spent, totals


def _selfplay(layout: RunLayout, shards: Sequence[ShardIngested]) -> tuple[SelfplayThroughput, ...]:
    positions: dict[int, int] = defaultdict(int)
    seconds: dict[int, float] = defaultdict(float)
    for shard in shards:
        meta = _metadata(layout, shard.path)
        played = None if meta is None else _number(meta, "play_seconds")
        if played is None:
            continue
        positions[shard.generation] += shard.samples
        seconds[shard.generation] += played
    return tuple(SelfplayThroughput(g, positions[g], seconds[g]) for g in sorted(positions))


def _losses(layout: RunLayout, models: Sequence[ModelIngested]) -> tuple[TrainingLosses, ...]:
    losses = []
    for model in models:
        meta = _metadata(layout, model.path)
        if meta is None or model.generation is None:
            continue
        policy, value = _number(meta, "train_policy_loss"), _number(meta, "train_value_loss")
        if policy is None or value is None:
            continue
        losses.append(
            TrainingLosses(
                model.generation,
                model.model_id,
                policy,
                value,
                _number(meta, "validation_policy_loss"),
                _number(meta, "validation_value_loss"),
            )
        )
    return tuple(losses)


def _promoted_at(record: Mapping[str, Any], where: str) -> float:
    try:
        return datetime.fromisoformat(str(record["time"])).timestamp()
    except (KeyError, ValueError) as error:
        raise ReportError(
            f"{where}: field 'time' must be an ISO 8601 time ({error}); the promotion history is written "
            "only by the controller and the promote/rollback commands: restore it from a replica"
        ) from None


def _promoted(
    layout: RunLayout, variant: str, spent: _Spent, generations: Mapping[str, int], rated: Mapping[str, Rated]
) -> tuple[PromotedModel, ...]:
    path = layout.promotions(variant)
    promoted = []
    for number, record in enumerate(promotion_history(layout, variant), start=1):
        if record.get("event") != PROMOTE:
            continue
        where = f"{path}, record {number}"
        participant = str(record.get("candidate"))
        try:
            model_id = parse_participant_id(variant, participant).model_id
        except ValueError as error:
            raise ReportError(f"{where}: field 'candidate': {error}") from None
        when = _promoted_at(record, where)
        generation = generations.get(model_id) if model_id is not None else None
        promoted.append(
            PromotedModel(participant, generation, when, spent.at(when) / HOUR, rated.get(participant))
        )
    return tuple(promoted)


def _rated(leaderboard: Mapping[str, Any] | None) -> dict[str, Rated]:
    if leaderboard is None:
        return {}
    return {
        row["participant"]: Rated(row["participant"], row["rating"], row["lower"], row["upper"])
        for row in leaderboard["rows"]
    }


def read_report(layout: RunLayout, config: Config, *, now: float) -> RunReport:
    """Everything the report shows of the run at `layout`, whose config is `config`."""
    events = _events(layout)
    spent, reserved = _spent(events, JobFigures.for_run(layout, config).cpus)
    measured: dict[tuple[str, str], float] = dict(CpuSplit.of(events).seconds.items())
    totals = measured or reserved
    shards: dict[str, list[ShardIngested]] = defaultdict(list)
    models: dict[str, list[ModelIngested]] = defaultdict(list)
    for event in events:
        if isinstance(event, ShardIngested):
            shards[event.variant].append(event)
        elif isinstance(event, ModelIngested):
            models[event.variant].append(event)
    variants = []
    for variant in (v.name for v in config.variants):
        board_path = layout.leaderboard_json(variant)
        board = read_leaderboard(board_path) if board_path.exists() else None
        rated = _rated(board)
        generations = {m.model_id: m.generation for m in models[variant] if m.generation is not None}
        variants.append(
            VariantReport(
                variant=variant,
                promoted=_promoted(layout, variant, spent[variant], generations, rated),
                anchors=tuple(
                    r for r in rated.values() if parse_participant_id(variant, r.participant).model_id is None
                ),
                selfplay=_selfplay(layout, shards[variant]),
                losses=_losses(layout, models[variant]),
                leaderboard=board,
            )
        )
    return RunReport(
        run=config.run.name,
        root=str(layout.root),
        written_at=now,
        confidence=config.evaluation.confidence,
        variants=tuple(variants),
        compute=tuple(ComputeShare(v, p, s / HOUR) for (v, p), s in sorted(totals.items())),
        compute_measured=bool(measured),
    )
