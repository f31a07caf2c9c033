"""`ringrift-hpc init`: creates the run with its frozen config, never overwrites a different one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ringrift_hpc.cli.app import app
from ringrift_hpc.config import load_config
from ringrift_hpc.loop.run_init import frozen_for

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "config" / "unified_loop.yaml"
SLURM = REPO / "config" / "unified_loop.slurm.yaml"

runner = CliRunner()


def test_init_creates_layout_and_freezes_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, ["init", str(run), "--config", str(LOCAL)])
    assert result.exit_code == 0, result.output
    frozen = load_config(run / "run.yaml")
    assert frozen.run.root == str(run.resolve())
    assert frozen == frozen_for(load_config(LOCAL), run)
    for sub in ("jobs", "metrics", "requests", "variants/square8_2p"):
        assert (run / sub).is_dir(), sub


def test_init_is_idempotent_for_the_same_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.invoke(app, ["init", str(run), "--config", str(LOCAL)])
    before = (run / "run.yaml").read_bytes()
    result = runner.invoke(app, ["init", str(run), "--config", str(LOCAL)])
    assert result.exit_code == 0
    assert "exists with the same config" in result.output
    assert (run / "run.yaml").read_bytes() == before


def test_init_refuses_a_different_config_and_names_the_changes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.invoke(app, ["init", str(run), "--config", str(LOCAL)])
    before = (run / "run.yaml").read_bytes()
    result = runner.invoke(app, ["init", str(run), "--config", str(SLURM)])
    assert result.exit_code == 2
    assert "was started with a different config" in result.output
    assert "executor: 'local' -> 'slurm'" in result.output
    assert "... and" in result.output
    assert "fix: choose a new run directory" in result.output
    assert (run / "run.yaml").read_bytes() == before


def test_init_reports_a_bad_config_without_creating_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("executor: local\nselfplay:\n  simulatons: 8\n")
    run = tmp_path / "run"
    result = runner.invoke(app, ["init", str(run), "--config", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output and "selfplay.simulatons" in result.output and "simulations" in result.output
    assert not run.exists()
