"""Job figures folded from the journal: per variant and purpose only, each record folded once,
a torn last line folded once it is whole, a replaced journal folded anew, a bad record refused
without touching the totals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_run import make_tiny_run

from ringrift_hpc.cluster.executor import JobStatus
from ringrift_hpc.config import load_config
from ringrift_hpc.loop.events import Event, IntentTask, JobEnded, ShardIngested, SubmitIntent, to_record
from ringrift_hpc.loop.job_figures import JobFigures
from ringrift_hpc.store import JournalCorruptError, JournalWriter, RunLayout, manifest_path, publish_bytes
from ringrift_hpc.store.journal import encode_record

V = "square8_2p"
Values = dict[str, dict[tuple[tuple[str, str], ...], float]]


def _values(figures: JobFigures) -> Values:
    return {
        f.name: {sample.labels: sample.value for sample in f.samples} for f in figures.follow().families()
    }


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _append(layout: RunLayout, *events: Event) -> None:
    with JournalWriter(layout.journal) as journal:
        for event in events:
            journal.append(to_record(event))


def _task(index: int) -> str:
    return f"selfplay/{V}/000000/{index:06d}"


def _ended(index: int, status: JobStatus, elapsed: float) -> JobEnded:
    return JobEnded(
        task=_task(index), job=f"7_{index}", status=status, exit_code=0, elapsed_s=elapsed, detail=""
    )


def _shard(layout: RunLayout, index: int, games: int) -> ShardIngested:
    path = layout.selfplay_shard(V, 0, f"{index:06d}")
    publish_bytes(path, b"shard", {"games": games})
    return ShardIngested(variant=V, path=str(path.relative_to(layout.root)), samples=10 * games, generation=0)


@pytest.fixture
def layout(tmp_path: Path) -> RunLayout:
    return make_tiny_run(tmp_path / "run", changes={"slurm": {"selfplay": {"cpus": 3}}})


def test_totals_per_variant_and_purpose_each_record_once(layout: RunLayout) -> None:
    figures = JobFigures.for_run(layout, load_config(layout.run_config))
    intent = SubmitIntent(
        purpose="selfplay",
        variant=V,
        tasks=tuple(IntentTask(task=_task(i), spec="{}", attempt=0) for i in range(3)),
    )
    gone = _shard(layout, 2, 5)
    gone_path = layout.root / gone.path
    gone_path.unlink()
    manifest_path(gone_path).unlink()
    _append(
        layout,
        intent,
        _ended(0, JobStatus.COMPLETED, 30),
        _ended(1, JobStatus.FAILED, 10),
        _shard(layout, 0, 4),
        gone,  # quarantined since: its positions count, its games cannot
    )
    first = _values(figures)
    selfplay = _key(purpose="selfplay", variant=V)
    assert first["ringrift_jobs_submitted_total"][selfplay] == 3
    assert first["ringrift_jobs_submitted_total"][_key(purpose="train", variant=V)] == 0
    ended = first["ringrift_jobs_ended_total"]
    assert ended[_key(purpose="selfplay", status="completed", variant=V)] == 1
    assert ended[_key(purpose="selfplay", status="failed", variant=V)] == 1
    assert ended[_key(purpose="selfplay", status="lost", variant=V)] == 0
    assert first["ringrift_job_elapsed_seconds_total"][selfplay] == 40
    assert first["ringrift_job_cpu_seconds_total"][selfplay] == 120
    assert first["ringrift_selfplay_positions_total"][_key(variant=V)] == 90
    assert first["ringrift_selfplay_shards_total"][_key(variant=V)] == 2
    assert first["ringrift_selfplay_games_total"][_key(variant=V)] == 4
    # No label names a task, a job or a generation: the series are fixed by the config.
    assert {name for f in first.values() for labels in f for name, _ in labels} <= {
        "variant",
        "purpose",
        "status",
    }
    assert len(_values(figures)["ringrift_jobs_ended_total"]) == len(ended)
    # A record that carries its games is counted without its manifest (which is gone here).
    _append(layout, gone.model_copy(update={"games": 6}), _ended(2, JobStatus.LOST, 5))
    second = _values(figures)
    assert second["ringrift_jobs_ended_total"][_key(purpose="selfplay", status="lost", variant=V)] == 1
    assert second["ringrift_job_elapsed_seconds_total"][selfplay] == 45
    assert second["ringrift_selfplay_games_total"][_key(variant=V)] == 10  # nothing folded twice


def test_torn_line_waits_and_a_replaced_journal_is_folded_anew(layout: RunLayout) -> None:
    figures = JobFigures.for_run(layout, load_config(layout.run_config))
    _append(layout, _ended(0, JobStatus.COMPLETED, 30))
    line = encode_record(to_record(_ended(1, JobStatus.COMPLETED, 20)))
    with layout.journal.open("ab") as handle:
        handle.write(line[:10])
    selfplay = _key(purpose="selfplay", variant=V)
    assert _values(figures)["ringrift_job_elapsed_seconds_total"][selfplay] == 30
    with layout.journal.open("ab") as handle:
        handle.write(line[10:])
    assert _values(figures)["ringrift_job_elapsed_seconds_total"][selfplay] == 50
    # Restored from an older copy: a new file, shorter than what was folded.
    older = layout.journal.with_name("restored.jsonl")
    older.write_bytes(encode_record(to_record(_ended(0, JobStatus.COMPLETED, 30))))
    os.replace(older, layout.journal)
    assert _values(figures)["ringrift_job_elapsed_seconds_total"][selfplay] == 30


def test_a_bad_record_is_refused_and_leaves_the_totals(layout: RunLayout) -> None:
    figures = JobFigures.for_run(layout, load_config(layout.run_config))
    _append(layout, _ended(0, JobStatus.COMPLETED, 30))
    selfplay = _key(purpose="selfplay", variant=V)
    assert _values(figures)["ringrift_job_elapsed_seconds_total"][selfplay] == 30
    with layout.journal.open("ab") as handle:
        handle.write(encode_record(to_record(_ended(1, JobStatus.COMPLETED, 20))) + b"{not json\n")
    with pytest.raises(JournalCorruptError, match=r"journal\.jsonl:3: not a JSON record"):
        figures.follow()
    assert figures.totals.elapsed[V, "selfplay"] == 30
    with pytest.raises(JournalCorruptError):  # refused again, never half folded
        figures.follow()
    assert figures.totals.elapsed[V, "selfplay"] == 30


def test_a_run_without_a_journal_has_zero_series(layout: RunLayout) -> None:
    layout.journal.unlink(missing_ok=True)
    values = _values(JobFigures.for_run(layout, load_config(layout.run_config)))
    assert values["ringrift_selfplay_games_total"] == {_key(variant=V): 0}
