"""The report's data, read from a synthetic run: reserved CPU time per purpose (measured CPU time
once records carry it) and at each promotion, the promoted models with their ratings and generations, the anchors, selfplay
throughput per generation and every candidate's losses; an empty run reads as empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_run import FIRST, SECOND, T0, V, append, make_report_run, shard

from ringrift_hpc.config import load_config
from ringrift_hpc.loop.events import MatchIngested
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.rating.leaderboard import read_leaderboard
from ringrift_hpc.report import ReportError, RunReport, read_report
from ringrift_hpc.report.data import ComputeShare, SelfplayThroughput, TrainingLosses
from ringrift_hpc.store import JournalWriter, RunLayout


def _read(layout: RunLayout, now: float = T0 + 100) -> RunReport:
    return read_report(layout, load_config(layout.run_config), now=now)


def test_compute_selfplay_and_losses(tmp_path: Path) -> None:
    report = _read(make_report_run(tmp_path / "run"))
    assert report.run == "tiny" and report.written_at == T0 + 100 and report.confidence == 0.95
    assert report.compute == (
        ComputeShare(V, "evaluate", 1.0),
        ComputeShare(V, "selfplay", 3.0),
        ComputeShare(V, "tournament", 2.0),
        ComputeShare(V, "train", 1.0),
    )
    assert not report.compute_measured
    (variant,) = report.variants
    assert variant.selfplay == (SelfplayThroughput(0, 400, 40.0), SelfplayThroughput(1, 500, 25.0))
    assert [s.positions_per_s for s in variant.selfplay] == [10.0, 20.0]
    assert [(x.generation, x.policy, x.value) for x in variant.losses] == [
        (1, 2.5, 0.9),
        (2, 2.4, 0.8),
        (2, 2.0, 0.7),
    ]
    assert variant.losses[0] == TrainingLosses(1, FIRST.model_id or "", 2.5, 0.9, 2.6, None)


def test_the_split_is_the_measured_cpu_time_once_records_carry_it(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    measured = shard(layout, 2, "000000", 10, 1.0).model_copy(update={"cpu_seconds": 5400.0})
    match = MatchIngested(variant=V, path="p", eval_id="tournament-0002", groups=1)
    append(layout, [measured, match.model_copy(update={"cpu_seconds": 1800.0})])
    report = _read(layout)
    assert report.compute_measured
    assert report.compute == (ComputeShare(V, "selfplay", 1.5), ComputeShare(V, "tournament", 0.5))
    # The CPU-hours at each promotion stay the reserved ones.
    assert [m.cpu_hours for m in report.variants[0].promoted] == [3.0, 7.0]


def test_promoted_models_ratings_and_anchors(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    (variant,) = _read(layout).variants
    rows = {row["participant"]: row for row in read_leaderboard(layout.leaderboard_json(V))["rows"]}
    assert [(m.participant, m.generation, m.cpu_hours) for m in variant.promoted] == [
        (FIRST.id, 1, 3.0),
        (SECOND.id, 2, 7.0),
    ]
    for m in variant.promoted:
        assert m.rating is not None
        row = rows[m.participant]
        assert (m.rating.rating, m.rating.lower, m.rating.upper) == (
            row["rating"],
            row["lower"],
            row["upper"],
        )
    assert sorted(a.participant for a in variant.anchors) == ["heuristic", "random"]
    assert variant.leaderboard is not None and variant.leaderboard["rows"][0]["rank"] == 1


def test_before_any_rating_the_models_have_none(tmp_path: Path) -> None:
    (variant,) = _read(make_report_run(tmp_path / "run", rated=False)).variants
    assert variant.leaderboard is None and variant.anchors == ()
    assert [m.rating for m in variant.promoted] == [None, None]


def test_a_new_run_reads_as_empty(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"version: 1\nexecutor: local\nrun: {{name: fresh, variants: [{V}], seed: 1}}\n")
    layout = init_run(tmp_path / "run", load_config(config), source=str(config)).layout
    report = _read(layout)
    assert report.compute == ()
    (variant,) = report.variants
    assert (variant.promoted, variant.selfplay, variant.losses, variant.leaderboard) == ((), (), (), None)


def test_a_bad_promotion_time_names_the_file_and_record(tmp_path: Path) -> None:
    layout = make_report_run(tmp_path / "run")
    with JournalWriter(layout.promotions(V)) as history:
        history.append({"event": "promote", "candidate": SECOND.id, "time": "yesterday"})
    with pytest.raises(ReportError, match=r"promotions.jsonl, record 4: field 'time'"):
        _read(layout)
