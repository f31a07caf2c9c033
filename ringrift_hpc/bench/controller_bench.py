"""Controller speed at the size of a weeks-long run: one tick, and a restart's journal replay.

`build_run` makes a synthetic run directory: published shards, match files and models, and a
journal that ingested them all, as a run that has been going for weeks holds them (directories
last changed an hour ago). The timed tick follows a warm-up tick (a restarted controller's first
tick lists every directory once) and finds one new shard and one new match file, so it polls,
ingests, refits the leaderboard and writes `state.json` and the metrics. The replay is what a
restart does before its first tick: read the journal and fold it into the state and indexes,
from the replay snapshot its predecessor wrote and the journal's tail after it (the restart
timed against the target), and from the whole journal (for reference).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.cluster.executor import JobRef, JobState, JobStatus
from ringrift_hpc.cluster.purposes import Purpose
from ringrift_hpc.config import Config, parse_config
from ringrift_hpc.jobs.selfplay import NO_MODEL, SelfplaySpec
from ringrift_hpc.loop.controller import Controller
from ringrift_hpc.loop.replay_snapshot import EVERY_RECORDS
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.rating.match_files import encode_match_file, publish_match_file
from ringrift_hpc.rating.participants import Participant, random_player
from ringrift_hpc.rating.records import GameRecord, MatchGroup
from ringrift_hpc.store import JournalWriter, RunLayout, acquire_lease, publish_bytes, release_lease
from ringrift_hpc.store.fencing import FileLease
from ringrift_hpc.store.journal import encode_record
from ringrift_hpc.store.publish import Manifest, manifest_path

TICK_TARGET_S = 1.0  # issue 14: one tick at 10^5 shards, 10^4 match files, 10^3 models
REPLAY_TARGET_S = 5.0  # issue 14: a restart's replay of 10^6 journal records
VARIANT = "square8_2p"
SHARDS_PER_GENERATION = 1000
MATCHES_PER_EVALUATION = 10
IN_FLIGHT = 8  # selfplay jobs the scheduler reports running at every tick
AGE_S = 3600.0  # how long ago the synthetic run's directories last changed


@dataclass(frozen=True)
class TickResult:
    """One timed steady-state tick of a synthetic run."""

    shards: int
    matches: int
    models: int
    journal_records: int
    first_tick_s: float  # the restarted controller's first tick: every directory listed once
    tick_s: float
    target_s: float = TICK_TARGET_S


@dataclass(frozen=True)
class ReplayResult:
    """One timed restart over a synthetic journal: from the replay snapshot a controller wrote
    `tail` records before the journal's end, and (for reference) without it."""

    records: int
    megabytes: float
    seconds: float  # the restart from the snapshot
    tail: int  # records after the snapshot
    snapshot_megabytes: float
    snapshot_write_s: float  # one snapshot write at the end of a tick
    full_replay_s: float
    target_s: float = REPLAY_TARGET_S


class _RunningExecutor:
    """An executor whose every job is running and which accepts every submission."""

    def __init__(self) -> None:
        self.scheduler_queries = 0
        self._next = 1_000_000

    def submit(self, purpose: Purpose, spec: Any) -> JobRef:
        return self.submit_array(purpose, [spec])[0]

    def submit_array(self, purpose: Purpose, specs: Sequence[Any]) -> list[JobRef]:
        self._next += 1
        return [JobRef(purpose, str(self._next), task) for task in range(len(specs))]

    def poll(self, refs: Iterable[JobRef]) -> dict[JobRef, JobState]:
        self.scheduler_queries += 1
        return {ref: JobState(JobStatus.RUNNING) for ref in refs}

    def cancel(self, refs: Iterable[JobRef]) -> None:
        pass

    def cancel_all(self) -> None:
        pass

    def error_text(self, ref: JobRef) -> str:
        return ""

    def result(self, ref: JobRef) -> Any:
        raise NotImplementedError("the benchmark's jobs never finish")


def bench_config(root: Path) -> Config:
    """A one-variant run that keeps collecting: training never triggers during the benchmark."""
    doc = {
        "version": 1,
        "executor": "local",
        "run": {"name": "bench", "root": str(root), "variants": [VARIANT], "seed": 0},
        "selfplay": {"tasks_in_flight": IN_FLIGHT},
        "training": {"trigger_samples": 10**15},
    }
    return parse_config(doc, source="controller benchmark")


def _model_id(index: int) -> str:
    return hashlib.sha256(f"model {index}".encode()).hexdigest()


def _shard_path(index: int) -> str:
    return f"variants/{VARIANT}/selfplay/{index // SHARDS_PER_GENERATION:06d}/{index:06d}.h5"


def _match_names(index: int) -> tuple[str, str]:
    return f"eval-{index // MATCHES_PER_EVALUATION:05d}", f"task-{index % MATCHES_PER_EVALUATION:03d}"


def _job(purpose: Purpose, task: str, spec: str, number: int) -> Iterator[dict[str, Any]]:
    """The records of one job's life: intent, submission, success."""
    ref = JobRef(purpose, str(number))
    intent = {"task": task, "spec": spec, "attempt": 0}
    yield {"event": "submit_intent", "purpose": purpose, "variant": VARIANT, "tasks": [intent]}
    yield {"event": "submitted", "tasks": [task], "refs": [ref.to_json()]}
    yield {
        "event": "job_ended",
        "task": task,
        "job": ref.key,
        "status": "completed",
        "exit_code": 0,
        "elapsed_s": 600.0,
        "detail": "",
    }


def journal_records(
    config: Config, root: Path, shards: int, matches: int, models: int
) -> Iterator[dict[str, Any]]:
    """A journal that ingested `shards`, `matches` and `models` artifacts, each shard and match file
    after its job's intent, submission and end, with a tick after every fourth shard; interleaved
    in proportion, as a run produces them."""
    match_done = model_done = 0
    for index in range(shards):
        generation = index // SHARDS_PER_GENERATION
        spec = SelfplaySpec.from_config(
            config,
            run_root=root,
            variant=VARIANT,
            generation=generation,
            task_index=index,
            model_id=_model_id(generation) if generation else NO_MODEL,
        ).to_json()
        task = f"selfplay/{VARIANT}/{index // SHARDS_PER_GENERATION:06d}/{index:06d}"
        yield from _job("selfplay", task, spec, 2 * index + 1)
        path = _shard_path(index)
        yield {
            "event": "ingested",
            "artifact": "shard",
            "variant": VARIANT,
            "path": path,
            "samples": 100,
            "generation": generation,
            "games": 2,
        }
        while match_done < matches * (index + 1) // shards:
            eval_id, name = _match_names(match_done)
            yield from _job("evaluate", f"evaluate/{VARIANT}/{eval_id}/{name}", "{}", 2 * match_done + 2)
            path = f"variants/{VARIANT}/matches/{eval_id}/{name}.jsonl"
            yield {
                "event": "ingested",
                "artifact": "match",
                "variant": VARIANT,
                "path": path,
                "eval_id": eval_id,
                "groups": 1,
            }
            match_done += 1
        while model_done < models * (index + 1) // shards:
            path = f"variants/{VARIANT}/models/{_model_id(model_done)}.pt"
            yield {
                "event": "ingested",
                "artifact": "model",
                "variant": VARIANT,
                "path": path,
                "model_id": _model_id(model_done),
                "job_key": None,
                "generation": model_done,
            }
            model_done += 1
        if index % 4 == 3:
            yield {"event": "tick", "halted": False, "queries": 1}


def write_journal(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write `records` as a controller with fencing token 1 would have; returns how many."""
    count = 0
    with path.open("wb") as out:
        for count, record in enumerate(records, 1):
            out.write(encode_record({**record, "time": 1.7e9 + count, "token": 1}))
    return count


def _write_published(path: Path, data: bytes, metadata: dict[str, Any]) -> None:
    """An artifact and its manifest as `publish_bytes` leaves them, without its fsyncs (building
    10^5 of them durably would take longer than everything measured)."""
    path.write_bytes(data)
    manifest = Manifest(
        path.name, len(data), hashlib.sha256(data).hexdigest(), "2026-01-01T00:00:00.000+00:00", metadata
    )
    manifest_path(path).write_text(json.dumps(manifest.to_json(), sort_keys=True))


def _shard_metadata(generation: int) -> dict[str, Any]:
    return {
        "kind": "selfplay-shard",
        "variant": VARIANT,
        "generation": generation,
        "positions": 100,
        "games": 2,
        "encoder_version": ENCODER_VERSION,
        "codec_version": CODEC_VERSION,
    }


def _group(models: int, index: int) -> MatchGroup:
    """One colour-swapped pair between two of the run's models, or a model and the random
    anchor (every fourth group: the fit needs the anchor linked to the models)."""
    first = Participant(variant=VARIANT, kind="gumbel", budget=64, model_id=_model_id(index % models))
    second = Participant(
        variant=VARIANT, kind="gumbel", budget=64, model_id=_model_id((index * 7 + 1) % models)
    )
    if first == second or index % 4 == 0:
        second = random_player(VARIANT)
    games = tuple(
        GameRecord(
            seats=seats, ranks=(1, 2) if (index + turn) % 3 else (2, 1), moves=80, seed=turn, duration_s=9.0
        )
        for turn, seats in enumerate(((first.id, second.id), (second.id, first.id)))
    )
    return MatchGroup(variant=first.variant, lineup=(first, second), opening_seed=index, games=games)


def build_run(root: Path, *, shards: int, matches: int, models: int) -> tuple[RunLayout, Config, int]:
    """A run directory holding the artifacts and a journal that ingested them all, every
    directory last changed `AGE_S` ago; returns the layout, config and journal records."""
    config = bench_config(root)
    layout = init_run(root, config, source="controller benchmark").layout
    for index in range(shards):
        path = layout.root / _shard_path(index)
        if index % SHARDS_PER_GENERATION == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        _write_published(path, b"shard %d" % index, _shard_metadata(index // SHARDS_PER_GENERATION))
    for index in range(matches):
        eval_id, name = _match_names(index)
        path = layout.match_file(VARIANT, eval_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        group = _group(max(models, 1), index)
        _write_published(path, encode_match_file(VARIANT, [group]), {"kind": "matches", "variant": VARIANT})
    layout.models_dir(VARIANT).mkdir(parents=True, exist_ok=True)
    for index in range(models):
        _write_published(
            layout.model_weights(VARIANT, _model_id(index)), b"weights %d" % index, {"generation": index}
        )
    records = write_journal(layout.journal, journal_records(config, layout.root, shards, matches, models))
    old = time.time() - AGE_S
    for directory, _, _ in os.walk(layout.variants_dir):
        os.utime(directory, (old, old))
    return layout, config, records


def _publish_new(layout: RunLayout, models: int, shards: int, matches: int) -> None:
    """What a tick of a live run finds: one new shard of the open generation, one new match file."""
    generation = max(shards - 1, 0) // SHARDS_PER_GENERATION
    shard = layout.selfplay_shard(VARIANT, generation, f"{shards:06d}")
    shard.parent.mkdir(parents=True, exist_ok=True)
    publish_bytes(shard, b"new shard %d" % shards, _shard_metadata(generation))
    eval_id, name = _match_names(matches)
    publish_match_file(layout, VARIANT, f"new-{eval_id}", name, [_group(max(models, 1), matches)])


def _controller(layout: RunLayout, config: Config) -> tuple[Controller, JournalWriter]:
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=3600)
    journal = JournalWriter(layout.journal)
    controller = Controller(layout, config, _RunningExecutor(), FileLease(lease), journal)
    controller.recover_decisions()
    return controller, journal


def time_tick(*, shards: int, matches: int, models: int) -> TickResult:
    """Build a synthetic run in a temporary directory and time a restarted controller's ticks."""
    with tempfile.TemporaryDirectory(prefix="ringrift-bench-") as temp:
        layout, config, records = build_run(Path(temp) / "run", shards=shards, matches=matches, models=models)
        controller, journal = _controller(layout, config)
        with journal:
            _publish_new(layout, models, shards, matches)
            start = time.perf_counter()
            controller.tick()
            first = time.perf_counter() - start
            _publish_new(layout, models, shards + 1, matches + 1)
            start = time.perf_counter()
            controller.tick()
            tick = time.perf_counter() - start
    return TickResult(shards, matches, models, records, first, tick)


def _stop(controller: Controller, journal: JournalWriter) -> None:
    """End a controller as its process would: journal closed, lease given up."""
    journal.close()
    assert isinstance(controller.lease, FileLease)
    release_lease(controller.lease.lease)


def _timed_restart(layout: RunLayout, config: Config, records: int) -> tuple[Controller, float]:
    start = time.perf_counter()
    controller, journal = _controller(layout, config)
    seconds = time.perf_counter() - start
    _stop(controller, journal)
    if controller.state.events != records:
        raise RuntimeError(f"replayed {controller.state.events} events of the {records} written")
    return controller, seconds


def time_replay(records: int) -> ReplayResult:
    """Time a restart (journal read, state and indexes folded) over `records` synthetic records:
    a controller replays all but the last `EVERY_RECORDS` (or a tenth) of them, follows its
    figures and writes its replay snapshot; the rest are appended, as by ticks after it; then a
    restart from the snapshot, and one without it, are timed."""
    with tempfile.TemporaryDirectory(prefix="ringrift-bench-") as temp:
        root = Path(temp) / "run"
        config = bench_config(root)
        layout = init_run(root, config, source="controller benchmark").layout
        shards = records // 4 + 1  # a shard brings at least four records
        stream = journal_records(config, layout.root, shards, shards // 10, shards // 100)
        write_journal(layout.journal, (record for _, record in zip(range(records), stream)))
        data = layout.journal.read_bytes()
        tail = min(EVERY_RECORDS, records // 10)
        cut = len(data)
        for _ in range(tail):
            cut = data.rfind(b"\n", 0, cut - 1) + 1
        os.truncate(layout.journal, cut)
        controller, journal = _controller(layout, config)
        controller.job_figures.follow()  # as the first tick's metrics do
        start = time.perf_counter()
        written = controller.checkpoint.save(
            controller.shard_index,
            controller.artifacts,
            controller.job_figures,
            now=math.inf,
            check=controller.lease.check,
        )
        write_s = time.perf_counter() - start
        _stop(controller, journal)
        if not written:
            raise RuntimeError(f"{layout.replay_snapshot}: not written")
        with layout.journal.open("ab") as out:
            out.write(data[cut:])
        size = len(data)
        snapshot_size = layout.replay_snapshot.stat().st_size
        restarted, seconds = _timed_restart(layout, config, records)
        if restarted.checkpoint.written[0] != records - tail:
            raise RuntimeError(f"{layout.replay_snapshot}: not used by the restart")
        layout.replay_snapshot.unlink()
        _, full = _timed_restart(layout, config, records)
    return ReplayResult(records, size / 1e6, seconds, tail, snapshot_size / 1e6, write_s, full)
