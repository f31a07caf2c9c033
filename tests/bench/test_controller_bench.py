"""`bench controller` at tiny sizes: the report's structure, and a synthetic run that a restarted
controller sees as wholly ingested, so the timed tick does only the new work (timings are not
asserted here; docs/benchmarks.md records them)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from ringrift_hpc.bench.controller_bench import VARIANT, _controller, _publish_new, build_run
from ringrift_hpc.cli.app import app
from ringrift_hpc.store import replay_journal


def test_the_report_has_a_tick_row_per_size_and_the_replay_with_its_target() -> None:
    args = ["bench", "controller", "--shards", "40", "--matches", "10", "--models", "3", "--records", "300"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line.split() for line in lines if re.match(r"\s+\d", line)]
    assert [row[:3] for row in rows] == [["1", "1", "1"], ["4", "1", "1"], ["40", "10", "3"]]
    assert all(re.fullmatch(r"\d+\.\d{3}s", cell) for row in rows for cell in row[4:6])
    assert all(row[6] == "1.0s" for row in rows)
    assert re.search(
        r"journal replay: 300 records \(\d+ MB\) in \d+\.\d\d s from the snapshot and a 30-record tail; "
        r"target 5\.0 s \((meets|misses) it\)",
        lines[-1],
    )
    assert re.fullmatch(r"full journal replay \(no snapshot\): \d+\.\d\d s", lines[-2])


def test_a_restarted_controller_ingests_only_what_is_new_and_refits(tmp_path: Path) -> None:
    layout, config, records = build_run(tmp_path / "run", shards=30, matches=6, models=3)
    controller, journal = _controller(layout, config)
    assert controller.state.ingested == 30 + 6 + 3 and controller.state.events == records
    with journal:
        _publish_new(layout, 3, 30, 6)
        controller.tick()
    written = replay_journal(layout.journal).records[records:]
    ingested = sorted(r["artifact"] for r in written if r["event"] == "ingested")
    assert ingested == ["match", "shard"]
    assert [r["games"] for r in written if r["event"] == "leaderboard"] == [2 * 7]
    assert layout.leaderboard_json(VARIANT).exists() and layout.state.exists()
