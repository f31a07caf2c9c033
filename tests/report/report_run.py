"""A synthetic run for the report tests: a tiny run's config, a journal with ended jobs and
ingested shards and models (their manifests published), two promotions and one rejection in the
promotion history, and a leaderboard fitted to a few match groups."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from loop.tiny_run import make_tiny_run
from rating.rating_helpers import heuristic, model_id, net, pair, random_player

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.loop.events import Event, JobEnded, ModelIngested, ShardIngested, to_record
from ringrift_hpc.rating.best import record_decision
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.leaderboard import ratings_of, write_leaderboard
from ringrift_hpc.store import JournalWriter, RunLayout, publish_bytes

V = "square8_2p"
CPUS = {"selfplay": 2, "train": 4, "evaluate": 1}  # slurm.<kind>.cpus of the synthetic run
T0 = 1_800_000_000.0  # journal times, unix seconds
FIRST, SECOND, REJECTED = (net(V, name) for name in ("first", "second", "rejected"))


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds")


def ended(task: str, elapsed: float, at: float) -> JobEnded:
    job = JobEnded(task=task, job="1", status=JobStatus.COMPLETED, exit_code=0, elapsed_s=elapsed, detail="")
    return job.model_copy(update={"time": at})


def shard(layout: RunLayout, generation: int, task: str, positions: int, seconds: float) -> ShardIngested:
    path = layout.selfplay_shard(V, generation, task)
    publish_bytes(path, f"{generation}/{task}".encode(), {"positions": positions, "play_seconds": seconds})
    relative = str(path.relative_to(layout.root))
    return ShardIngested(variant=V, path=relative, samples=positions, generation=generation, games=2)


def model(layout: RunLayout, name: str, generation: int, policy: float, value: float) -> ModelIngested:
    mid = model_id(name)
    path = layout.model_weights(V, mid)
    losses = {"train_policy_loss": policy, "train_value_loss": value}
    validation = {"validation_policy_loss": policy + 0.1, "validation_value_loss": None}
    publish_bytes(path, name.encode(), {"generation": generation, **losses, **validation})
    relative = str(path.relative_to(layout.root))
    return ModelIngested(variant=V, path=relative, model_id=mid, job_key=name, generation=generation)


def promote(layout: RunLayout, candidate: str, best: str | None, at: float, *, accept: bool = True) -> None:
    decision = PromotionDecision(accept, V, candidate, best, () if accept else ("weaker",), {})
    record_decision(layout, decision, clock=lambda: iso(at))


def append(layout: RunLayout, events: list[Event]) -> None:
    with JournalWriter(layout.journal) as journal:
        for event in events:
            journal.append(to_record(event))


def make_report_run(root: Path, *, rated: bool = True) -> RunLayout:
    """The synthetic run (see the module docstring); without a leaderboard unless `rated`."""
    layout = make_tiny_run(root, changes={"slurm": {kind: {"cpus": n} for kind, n in CPUS.items()}})
    append(
        layout,
        [
            ended(f"selfplay/{V}/000000/000000", 1800, T0 + 10),  # 1 CPU-hour
            shard(layout, 0, "000000", 300, 10.0),
            shard(layout, 0, "000001", 100, 30.0),
            ended("train/square8_2p/first", 900, T0 + 20),  # 1 CPU-hour
            model(layout, "first", 1, 2.5, 0.9),
            ended(f"evaluate/{V}/eval-1/000000", 3600, T0 + 30),  # 1 CPU-hour
            shard(layout, 1, "000000", 500, 25.0),
            ended(f"selfplay/{V}/000001/000000", 3600, T0 + 40),  # 2 CPU-hours
            model(layout, "rejected", 2, 2.4, 0.8),
            model(layout, "second", 2, 2.0, 0.7),
            ended(f"tournament/{V}/tournament-0001/000000", 7200, T0 + 50),  # 2 CPU-hours
        ],
    )
    promote(layout, FIRST.id, None, T0 + 35)  # after 3 CPU-hours
    promote(layout, REJECTED.id, FIRST.id, T0 + 45, accept=False)
    promote(layout, SECOND.id, FIRST.id, T0 + 60)  # after all 7
    if rated:
        groups = [
            pair(V, FIRST, random_player(V), (1, 1), seed=1),
            pair(V, FIRST, heuristic(V), (1, 0), seed=2),
            pair(V, SECOND, FIRST, (1, 0.5), seed=3),
            pair(V, SECOND, heuristic(V), (1, 1), seed=4),
            pair(V, heuristic(V), random_player(V), (1, 0.5), seed=5),
        ]
        write_leaderboard(layout, ratings_of(V, groups, confidence=0.95, zero="random"))
    return layout
