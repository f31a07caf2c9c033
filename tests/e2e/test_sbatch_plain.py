"""Plain sbatch end to end on the local Slurm cluster: `spec` writes the specs, `sbatch render`
the scripts, and each script submitted as is makes its artifact on a tiny run (a shard, a model,
match files of an evaluation and of a tournament). The controller's script takes the lease and
ticks, hands the run over when requeued, and stops cleanly on `scancel`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import typer
from loop_checks import check_consistent, wait_for
from slurm_requeue import squeue_state, start_requeued_now
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.sbatch_cmd import sbatch_app
from ringrift_hpc.cli.spec_cmd import spec_app
from ringrift_hpc.cluster.sbatch_render import log_dir
from ringrift_hpc.loop.halt import write_halt
from ringrift_hpc.loop.runner import run_loop
from ringrift_hpc.store import LeaseRecord, RunLayout, list_published, read_lease

VARIANT = "square8_2p"
REPO = Path(__file__).resolve().parents[2]
RESOURCES = {"partition": "cpu", "cpus": 1, "mem": "1G", "time": "00:10:00"}
# The jobs run this checkout with the test's interpreter, as a site's setup lines would load theirs.
SETUP = [f"export PATH={Path(sys.executable).parent}:$PATH", f"export PYTHONPATH={REPO}"]


def _run(tmp_path: Path, name: str) -> RunLayout:
    slurm = {
        "setup": SETUP,
        **{kind: RESOURCES for kind in ("selfplay", "train", "evaluate", "controller")},
    }
    layout = make_tiny_run(tmp_path / name, "slurm", name=f"{name}{os.getpid()}", changes={"slurm": slurm})
    _log_dir(layout).mkdir(parents=True)
    return layout


def _log_dir(layout: RunLayout) -> Path:
    return Path(log_dir(PurePosixPath(layout.root)))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(sbatch_app, name="sbatch")
    app.add_typer(spec_app, name="spec")
    return app


def _ok(*args: str) -> str:
    result = CliRunner().invoke(_cli(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _logs(layout: RunLayout) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()}" for p in sorted(_log_dir(layout).glob("*.out")))


def _submit_and_wait(layout: RunLayout, options: list[str], script: Path, argument: Path) -> None:
    """`sbatch --wait`: returns once the job (every task of an array) ended; it must have succeeded."""
    done = subprocess.run(
        ["sbatch", "--wait", *options, str(script), str(argument)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{script.name}: {done.stdout}{done.stderr}\n{_logs(layout)}"


def _array(layout: RunLayout, script: Path, specs: Path) -> None:
    n = len(specs.read_text().splitlines())
    _submit_and_wait(layout, [f"--array=0-{n - 1}"], script, specs)


def _published(directory: Path) -> list[Path]:
    return [item.path for item in list_published(directory).published] if directory.is_dir() else []


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_job_script_makes_its_artifact_from_the_specs_of_spec(tmp_path: Path) -> None:
    layout = _run(tmp_path, "jobs")
    root = str(layout.root)
    scripts = tmp_path / "scripts"
    _ok("sbatch", "render", "--config", str(layout.run_config), "--out", str(scripts))

    _ok("spec", "selfplay", root, "--model", "none", "--tasks", "2", "--out", str(tmp_path / "selfplay"))
    _array(layout, scripts / "selfplay.sbatch", tmp_path / "selfplay" / "specs.txt")
    assert len(_published(layout.selfplay_dir(VARIANT, 0))) == 2

    _ok("spec", "train", root, "--parent", "none", "--out", str(tmp_path / "train.json"))
    _submit_and_wait(layout, [], scripts / "train.sbatch", tmp_path / "train.json")
    (model,) = [path.stem for path in _published(layout.models_dir(VARIANT))]

    _ok("spec", "evaluate", root, "--candidate", model, "--out", str(tmp_path / "evaluate"))
    _array(layout, scripts / "evaluate.sbatch", tmp_path / "evaluate" / "specs.txt")
    (evaluation,) = [d for d in layout.matches_root(VARIANT).iterdir() if d.name.startswith("eval-")]
    assert _published(evaluation)

    _ok("spec", "tournament", root, "--participants", model, "--out", str(tmp_path / "tournament"))
    _array(layout, scripts / "tournament.sbatch", tmp_path / "tournament" / "specs.txt")
    (tournament,) = [d for d in layout.matches_root(VARIANT).iterdir() if d.name.startswith("tournament-")]
    assert _published(tournament)

    # A controller ingests what was published by hand, each artifact once, and rates the games.
    write_halt(layout, "only look")
    run_loop(layout, once=True)
    check_consistent(layout)
    assert layout.leaderboard_json(VARIANT).exists()


def _holder(layout: RunLayout, after: int) -> LeaseRecord | None:
    """The lease once a controller newer than token `after` holds it and has ticked."""
    lease = read_lease(layout.lease)
    if lease is None or lease.released or lease.token <= after or not layout.state.exists():
        return None
    state = json.loads(layout.state.read_text())
    return lease if state.get("lease_token") == lease.token and state.get("ticks", 0) >= 1 else None


def _released(layout: RunLayout, token: int) -> bool:
    lease = read_lease(layout.lease)
    return lease is not None and lease.token == token and lease.released


def _restarted(layout: RunLayout, job: str, before: LeaseRecord, restart: str) -> LeaseRecord:
    """The lease of the controller that took over after a requeue; the one `before` released it."""

    def logs() -> str:  # Slurm's account of the job too: why it is pending, or how it ended
        shown = subprocess.run(
            ["scontrol", "show", "job", job], capture_output=True, text=True, check=False, timeout=30
        )
        return f"{_logs(layout)}\n== scontrol show job {job}\n{shown.stdout}{shown.stderr}"

    wait_for(lambda: _released(layout, before.token), 30, "the lease released", logs)
    wait_for(lambda: squeue_state(job) == "PENDING", 30, "the job pending again", logs)
    nudge = start_requeued_now(job)
    after: LeaseRecord = wait_for(
        lambda: nudge() or _holder(layout, before.token), 90, "a tick after the restart", logs
    )
    assert restart in logs()
    return after


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_controller_script_resumes_after_preemption_and_its_time_limit_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    layout = _run(tmp_path, "ctl")
    write_halt(layout, "nothing to submit in this test")  # the controller ticks, submitting nothing
    scripts = tmp_path / "scripts"
    _ok(
        "sbatch",
        "render",
        "--config",
        str(layout.run_config),
        "--purpose",
        "controller",
        "--out",
        str(scripts),
    )
    job = subprocess.run(
        ["sbatch", "--parsable", str(scripts / "controller.sbatch")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    try:
        first = wait_for(
            lambda: _holder(layout, 0), 90, "the controller job's first tick", lambda: _logs(layout)
        )
        # Preemption, as Slurm does it to a requeueable job: SIGTERM now, the job pending again.
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
        second = _restarted(layout, job, first, "(restart 1)")
        # The warning before the time limit (--signal=B:USR2@90): the script requeues its own job.
        subprocess.run(["scancel", "--batch", "--signal=USR2", job], check=True, timeout=30)
        third = _restarted(layout, job, second, "(restart 2)")
        assert "time limit near: requeueing" in _logs(layout)
        subprocess.run(["scancel", job], check=True, timeout=30)
        wait_for(lambda: _released(layout, third.token), 30, "the lease released", lambda: _logs(layout))
        wait_for(lambda: squeue_state(job) == "", 30, "the job gone from squeue")
    finally:
        subprocess.run(["scancel", job], check=False, timeout=30)
    log = _logs(layout)
    assert log.count("stopped by SIGTERM") == 3, log
