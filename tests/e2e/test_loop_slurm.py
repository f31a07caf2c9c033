"""The loop end to end on the real local Slurm cluster: two generations with every job in
`sacct`; and `halt --cancel`, timed until no job of the run is left in `squeue`."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

import pytest
import typer
from loop_checks import (
    VARIANT,
    check_consistent,
    kill_controller,
    published,
    snapshot,
    start_controller,
    wait_for,
)
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.loop_cmds import halt_command, resume_command, status_command
from ringrift_hpc.cluster.accounting import query_accounting
from ringrift_hpc.cluster.purposes import PURPOSES, job_name
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.loop.runner import run_loop
from ringrift_hpc.store import RunLayout

RESOURCES = {"partition": "cpu", "cpus": 1, "mem": "1G", "time": "00:20:00"}


def _slurm_run(tmp_path: Path, name: str) -> RunLayout:
    changes = {"slurm": {"setup": [], "selfplay": RESOURCES, "train": RESOURCES, "evaluate": RESOURCES}}
    return make_tiny_run(tmp_path / "run", "slurm", name=name, changes=changes)


def _queued(name: str) -> list[str]:
    out = subprocess.run(
        [
            "squeue",
            "-h",
            "-o",
            "%i %j %T",
            "--name",
            ",".join(job_name(name, purpose) for purpose in PURPOSES),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split("\n")[:-1]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("halt")(halt_command)
    app.command("resume")(resume_command)
    app.command("status")(status_command)
    return app


@pytest.mark.slurm
@pytest.mark.timeout(400)
def test_loop_on_slurm_decides_two_generations_with_jobs_in_sacct(tmp_path: Path) -> None:
    name = f"e2e{os.getpid()}"
    layout = _slurm_run(tmp_path, name)
    since = dt.datetime.now() - dt.timedelta(seconds=5)
    outcome = run_loop(layout, max_ticks=1500)
    assert outcome.finished
    result = check_consistent(layout)
    assert result["decisions"] >= 2
    purposes = {summary.purpose: summary for summary in query_accounting(name, since)}
    assert {"selfplay", "train", "evaluate"} <= set(purposes)
    assert purposes["train"].states.get("COMPLETED", 0) >= 2
    for path in ("leaderboard.json", "leaderboard.md", "leaderboard.csv"):
        assert (layout.variant_dir(VARIANT) / path).exists()
    assert _queued(name) == []


@pytest.mark.slurm
@pytest.mark.timeout(300)
def _live_in_state(layout: RunLayout) -> list[dict[str, object]]:
    return [job for job in snapshot(layout)["jobs"] if job["status"] in ("pending", "running")]


def test_halt_with_cancel_leaves_no_job_and_loses_nothing(tmp_path: Path) -> None:
    name = f"halt{os.getpid()}"
    layout = _slurm_run(tmp_path, name)
    log = tmp_path / "controller.log"
    controller = start_controller(layout, log)
    try:
        wait_for(lambda: published(layout)["shard"], 120, "a first published shard")
        wait_for(lambda: _queued(name), 60, "jobs of the run in squeue")
        before = published(layout)
        began = time.monotonic()
        result = CliRunner().invoke(_cli(), ["halt", str(layout.root), "--reason", "test", "--cancel"])
        assert result.exit_code == 0, result.output
        wait_for(lambda: _queued(name) == [], 60, "no job of the run in squeue")
        print(f"halt --cancel to no queued or running job: {time.monotonic() - began:.2f}s")
        ticks = snapshot(layout)["ticks"]
        wait_for(lambda: snapshot(layout).get("ticks", 0) >= ticks + 5, 30, "ticks while halted")
        # The state follows squeue, not only sacct (whose record of a cancellation can lag).
        wait_for(lambda: not _live_in_state(layout), 60, "no job pending or running in state.json")
        assert snapshot(layout)["halted"] is True
        after = published(layout)
        assert all(before[kind] <= after[kind] for kind in before)
        status = CliRunner().invoke(_cli(), ["status", str(layout.root)])
        assert "HALTED: test" in status.output
        assert CliRunner().invoke(_cli(), ["resume", str(layout.root)]).exit_code == 0
        wait_for(lambda: _queued(name), 60, "jobs submitted again after resume")
    finally:
        kill_controller(controller)
        for kind in ("selfplay", "train", "evaluate"):
            subprocess.run(["scancel", "--name", f"{name}-{kind}"], check=False)
    # Jobs resumed before the kill may have published since: one halted tick ingests them.
    write_halt(layout, "test over")
    run_loop(layout, once=True)
    check_consistent(layout)
    assert snapshot(layout)["halted"] is True
