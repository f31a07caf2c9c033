"""`ringrift-hpc doctor`: one line per check, non-zero exit on any failure, JSON output."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ringrift_hpc.cli.app import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _init(tmp_path: Path, executor: str) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text((REPO / "config" / "unified_loop.yaml").read_text().replace("executor: local", f"executor: {executor}"))
    run = tmp_path / "run"
    assert runner.invoke(app, ["init", str(run), "--config", str(config)]).exit_code == 0
    return run


def test_local_run_passes_filesystem_checks_and_skips_slurm(tmp_path: Path) -> None:
    run = _init(tmp_path, "local")
    result = runner.invoke(app, ["doctor", str(run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    status = {check["name"]: check["status"] for check in report["checks"]}
    assert report["ok"] is True
    assert status == {
        "slurm": "skip",
        "run root writable": "pass",
        "lease exclusion": "pass",
        "HDF5 create/read": "pass",
        "free disk": "pass",
    }


def _path_without(tmp_path: Path, hidden: set[str]) -> str:
    """A PATH holding every Slurm command that exists here except `hidden`, plus nothing else."""
    shims = tmp_path / "bin"
    shims.mkdir()
    for name in ("sinfo", "squeue", "sacct", "sbatch", "scontrol"):
        real = shutil.which(name)
        if real and name not in hidden:
            (shims / name).symlink_to(real)
    return str(shims)


def test_slurm_executor_without_slurm_fails_with_clear_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _init(tmp_path, "slurm")
    monkeypatch.setenv("PATH", _path_without(tmp_path, {"sinfo", "squeue", "sacct", "sbatch", "scontrol"}))
    result = runner.invoke(app, ["doctor", str(run)])
    assert result.exit_code == 1
    assert "FAIL  sacct" in result.output and "sacct: not found on PATH" in result.output
    assert "FAIL  sinfo" in result.output
    assert "PASS  lease exclusion" in result.output


def test_unreadable_run_root_is_a_failed_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = tmp_path / "file-not-dir"
        target.write_text("x")
        run = target / "run"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        run = locked / "run"
    result = runner.invoke(app, ["doctor", str(run), "--json"])
    assert result.exit_code == 1
    checks = json.loads(result.output)["checks"]
    assert any(check["status"] == "fail" and check["name"] == "run root writable" for check in checks)


@pytest.mark.slurm
def test_doctor_passes_against_the_local_cluster(tmp_path: Path) -> None:
    run = _init(tmp_path, "slurm")
    result = runner.invoke(app, ["doctor", str(run)])
    assert result.exit_code == 0, result.output
    for name in ("sinfo", "squeue", "sacct", "sbatch --test-only", "partitions", "accounting", "MaxArraySize"):
        assert f"PASS  {name}" in result.output, result.output


@pytest.mark.slurm
def test_doctor_fails_with_a_clear_line_when_sacct_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _init(tmp_path, "slurm")
    monkeypatch.setenv("PATH", _path_without(tmp_path, {"sacct"}))
    result = runner.invoke(app, ["doctor", str(run)])
    assert result.exit_code == 1
    assert "FAIL  sacct" in result.output and "sacct: not found on PATH" in result.output
    assert "PASS  sinfo" in result.output
