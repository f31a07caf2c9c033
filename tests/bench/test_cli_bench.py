"""`ringrift-hpc bench cli`: every command it times succeeds on its scratch run, repeatedly, and
the report names each figure with its target."""

from __future__ import annotations

from pathlib import Path

from ringrift_hpc.bench.cli_bench import COMMAND_TARGET_S, Timing, time_commands
from ringrift_hpc.cli.bench_cli import format_cli_result


def test_every_command_runs_twice_in_a_row_and_is_reported(tmp_path: Path) -> None:
    # Two runs: promote and rollback must leave the run ready for the next round.
    timings = time_commands(tmp_path, runs=2)
    names = [t.what for t in timings]
    assert names == [
        f"ringrift-hpc {c}" for c in ("--help", "status", "halt", "resume", "leaderboard", "promote", "rollback")
    ]
    assert all(len(t.seconds) == 2 and min(t.seconds) > 0 for t in timings)
    assert all(t.target_s == COMMAND_TARGET_S for t in timings)


def test_the_report_gives_median_and_verdict() -> None:
    fast = Timing("ringrift-hpc status", (0.2, 0.9, 0.3), 0.5)
    slow = Timing("p2p agent start (serving)", (3.0,), 2.0)
    lines = format_cli_result([fast, slow]).splitlines()
    assert "0.300s" in lines[1] and lines[1].endswith("met") and "NOT" not in lines[1]
    assert "3.000s" in lines[2] and lines[2].endswith("NOT met")
