"""The CPU time the jobs measured, folded from the journal's ``ingested`` records: per variant and
purpose (a match file's purpose from its evaluation id), the evaluation share, the status line
and the Prometheus counter; records without the field (older journals) count nothing and read
back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_run import make_tiny_run

from ringrift_hpc.config import load_config
from ringrift_hpc.loop.events import (
    Event,
    MatchIngested,
    ModelIngested,
    ShardIngested,
    parse_event,
    to_record,
)
from ringrift_hpc.loop.job_figures import JobFigures
from ringrift_hpc.loop.measured_cpu import CpuSplit
from ringrift_hpc.loop.status import run_status, status_text
from ringrift_hpc.store import JournalWriter, RunLayout

V, W = "square8_2p", "hex8_2p"
HOUR = 3600.0


def _shard(variant: str, cpu: float | None) -> ShardIngested:
    shard = ShardIngested(
        variant=variant, path=f"variants/{variant}/selfplay/000000/x.h5", samples=5, generation=0
    )
    return shard if cpu is None else shard.model_copy(update={"cpu_seconds": cpu})


def _model(cpu: float) -> ModelIngested:
    model = ModelIngested(variant=V, path="m.pt", model_id="ab", job_key="k", generation=1)
    return model.model_copy(update={"cpu_seconds": cpu})


def _match(eval_id: str, cpu: float) -> MatchIngested:
    match = MatchIngested(variant=V, path=f"{eval_id}/000000.jsonl", eval_id=eval_id, groups=2)
    return match.model_copy(update={"cpu_seconds": cpu})


# 6 h of selfplay (one shard without the field counts nothing), 2 h training, 1 h gating
# matches and 1 h tournament: evaluation is 2 h of 10.
EVENTS: list[Event] = [
    _shard(V, 4 * HOUR),
    _shard(W, 2 * HOUR),
    _shard(V, None),
    _model(2 * HOUR),
    _match("eval-g0001-abcdef", 0.5 * HOUR),
    _match("eval-g0002-abcdef", 0.5 * HOUR),
    _match("tournament-0001", 1 * HOUR),
]


def test_the_fold_sums_per_variant_and_purpose_and_gives_the_evaluation_share() -> None:
    split = CpuSplit.of(EVENTS)
    assert split.seconds == {
        (V, "selfplay"): 4 * HOUR,
        (W, "selfplay"): 2 * HOUR,
        (V, "train"): 2 * HOUR,
        (V, "evaluate"): 1 * HOUR,
        (V, "tournament"): 1 * HOUR,
    }
    assert split.total == 10 * HOUR and split.evaluation_share() == 0.2
    assert split.line() == (
        "compute (measured CPU): selfplay 6.00 h (60%), training 2.00 h (20%), evaluation 2.00 h (20%)"
    )
    assert CpuSplit.from_json(split.to_json()) == split


def test_without_measured_records_there_is_no_share() -> None:
    split = CpuSplit.of([_shard(V, None)])
    assert split.seconds == {} and split.evaluation_share() is None
    assert split.line() == "compute (measured CPU): no ingested artifact records it yet"


def test_records_without_the_field_read_back_unchanged() -> None:
    old = {"event": "ingested", "artifact": "match", "variant": V, "path": "p", "eval_id": "e", "groups": 1}
    event = parse_event(old)
    assert isinstance(event, MatchIngested) and event.cpu_seconds is None and to_record(event) == old
    new = {**old, "cpu_seconds": 1.5}
    assert to_record(parse_event(new)) == new


def _append(layout: RunLayout, events: list[Event]) -> None:
    with JournalWriter(layout.journal) as journal:
        for event in events:
            journal.append(to_record(event))


@pytest.fixture
def layout(tmp_path: Path) -> RunLayout:
    return make_tiny_run(tmp_path / "run", changes={"run": {"variants": [V, W]}})


def test_status_prints_the_measured_split(layout: RunLayout) -> None:
    _append(layout, EVENTS)
    model = run_status(layout)
    assert model["evaluation_cpu_share"] == 0.2
    assert model["measured_cpu_seconds"][W] == {"selfplay": 2 * HOUR}
    assert (
        "compute (measured CPU): selfplay 6.00 h (60%), training 2.00 h (20%), evaluation 2.00 h (20%)"
        in status_text(model).splitlines()
    )


def test_the_counter_has_every_variant_and_purpose(layout: RunLayout) -> None:
    _append(layout, EVENTS)
    figures = JobFigures.for_run(layout, load_config(layout.run_config)).follow()
    (counter,) = [f for f in figures.families() if f.name == "ringrift_job_measured_cpu_seconds_total"]
    values = {s.labels: s.value for s in counter.samples}
    assert len(values) == 8  # 2 variants x 4 purposes, no other label
    assert values[(("purpose", "selfplay"), ("variant", V))] == 4 * HOUR
    assert values[(("purpose", "tournament"), ("variant", V))] == HOUR
    assert values[(("purpose", "train"), ("variant", W))] == 0.0
