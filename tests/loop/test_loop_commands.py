"""The CLI around the controller: a second controller is refused politely, status of a run
that never ran, halt/resume, worker from a spec file, and the controller's metrics served."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import typer
from test_controller_fake import FakeExecutor
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.loop_cmds import (
    halt_command,
    loop_command,
    resume_command,
    status_command,
    watch_command,
    worker_command,
)
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.loop.runner import run_loop
from ringrift_hpc.metrics import MetricsServer
from ringrift_hpc.store import acquire_lease, list_published, release_lease


def _cli() -> typer.Typer:
    app = typer.Typer()
    for name, command in (
        ("loop", loop_command),
        ("halt", halt_command),
        ("resume", resume_command),
        ("status", status_command),
        ("worker", worker_command),
    ):
        app.command(name)(command)
    return app


def test_second_controller_is_refused_while_the_lease_is_live(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=600)
    try:
        result = CliRunner().invoke(_cli(), ["loop", str(layout.root), "--once"])
    finally:
        release_lease(lease)
    assert result.exit_code == 3
    assert "already running" in result.output and f"pid {lease.pid}" in result.output
    assert not layout.journal.exists()


def test_status_halt_resume_from_files_only(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    runner = CliRunner()
    status = json.loads(runner.invoke(_cli(), ["status", str(layout.root), "--json"]).output)
    assert status["controller"]["alive"] is False and status["variants"] == {}
    assert not layout.lease.exists() and not layout.journal.exists()  # status started nothing
    assert runner.invoke(_cli(), ["halt", str(layout.root), "--reason", "   "]).exit_code == 2
    assert runner.invoke(_cli(), ["halt", str(layout.root), "--reason", "disk full"]).exit_code == 0
    assert "HALTED: disk full" in runner.invoke(_cli(), ["status", str(layout.root)]).output
    executor = FakeExecutor()
    run_loop(layout, once=True, executor=executor)
    assert executor.submissions == []  # halted: nothing submitted
    assert runner.invoke(_cli(), ["resume", str(layout.root)]).exit_code == 0
    run_loop(layout, once=True, executor=executor)
    assert executor.submissions == [("selfplay", 2)]
    status = json.loads(runner.invoke(_cli(), ["status", str(layout.root), "--json"]).output)
    assert status["variants"]["square8_2p"]["jobs"]["pending"] == 2
    # Ticks are those of the controller that wrote state.json: the second one ran one.
    assert status["halted"] is None and status["controller"]["ticks"] == 1


def test_worker_runs_a_selfplay_spec_file(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    spec = SelfplaySpec(
        run_root=str(layout.root),
        variant="square8_2p",
        generation=0,
        task_index=0,
        model_id="none",
        run_seed=1,
        games=1,
        bootstrap_player="random",
        device="cpu",
    )
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    result = CliRunner().invoke(_cli(), ["worker", "selfplay", "--spec", str(path)])
    assert result.exit_code == 0, result.output
    assert [p.path.name for p in list_published(layout.selfplay_dir("square8_2p", 0)).published] == [
        "000000.h5"
    ]
    missing = CliRunner().invoke(_cli(), ["worker", "train", "--spec", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    unknown = CliRunner().invoke(_cli(), ["worker", "match", "--spec", str(path)])
    assert unknown.exit_code == 2 and "'match' is not one of" in unknown.output
    # Every purpose is a worker; a tournament reads a match spec and names the file it refuses.
    wrong = CliRunner().invoke(_cli(), ["worker", "tournament", "--spec", str(path)])
    assert wrong.exit_code == 2 and str(path) in wrong.output and "unknown field(s)" in wrong.output


def test_controller_metrics_are_served(tmp_path: Path) -> None:
    layout = make_tiny_run(tmp_path / "run")
    run_loop(layout, once=True, executor=FakeExecutor())
    with MetricsServer(layout.metrics_dir, port=0) as server:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics").read().decode()
    assert 'ringrift_controller_jobs{purpose="selfplay",state="pending"} 2.0' in text
    assert "ringrift_controller_scheduler_queries_total 1.0" in text
    assert 'ringrift_jobs_submitted_total{purpose="selfplay",variant="square8_2p"} 2.0' in text
    assert 'ringrift_metrics_textfile_ok{file="controller.prom"} 1.0' in text


def test_watch_renders_the_status_until_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = make_tiny_run(tmp_path / "run")
    run_loop(layout, once=True, executor=FakeExecutor())
    sleeps: list[float] = []

    def interrupted(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    app = typer.Typer()
    app.command("watch")(watch_command)
    app.command("other")(status_command)
    result = CliRunner().invoke(app, ["watch", str(layout.root), "--interval", "1"])
    assert result.exit_code == 0, result.output
    assert sleeps == [1.0, 1.0]
    assert "square8_2p: generation 0 (collect)" in result.output
