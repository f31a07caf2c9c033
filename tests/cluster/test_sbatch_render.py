"""sbatch templates rendered from a config: golden files, placeholder checks, the command, the
templates in an installed wheel, and ``sbatch --test-only`` on the local cluster.

When a change to a template or the renderer is intended, regenerate the golden files with
``RINGRIFT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/cluster/test_sbatch_render.py`` and review
the diff before committing.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from ringrift_hpc.cli.sbatch_cmd import SCRIPT_NAMES, sbatch_app
from ringrift_hpc.cluster.purposes import PURPOSES, check_purpose, resource_kind
from ringrift_hpc.cluster.sbatch_render import (
    SCRIPTS,
    Script,
    TemplateError,
    controller_directives,
    fill_placeholders,
    read_template,
    render_sbatch,
    render_script,
    sbatch_directives,
    template_file,
)
from ringrift_hpc.config import Config, load_config

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_CONFIG = GOLDEN / "sbatch_config.yaml"


def _render(purpose: Script, config: Config | None = None) -> str:
    cfg = config if config is not None else load_config(GOLDEN_CONFIG)
    return render_script(read_template(purpose), cfg, purpose, run_root=PurePosixPath(cfg.run.root))


@pytest.mark.parametrize("purpose", SCRIPTS)
def test_rendered_script_matches_its_golden_file(purpose: Script) -> None:
    golden = GOLDEN / f"{purpose}.sbatch"
    rendered = _render(purpose)
    if os.environ.get("RINGRIFT_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    expected = golden.read_text() if golden.exists() else ""
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                str(golden),
                "rendered",
            )
        )
        pytest.fail(
            f"the rendered {purpose} script differs from {golden}:\n{diff}\n"
            "If the change is intended, regenerate with RINGRIFT_UPDATE_GOLDEN=1 "
            ".venv/bin/pytest tests/cluster/test_sbatch_render.py and review the diff.",
            pytrace=False,
        )


def test_scripts_run_the_worker_of_their_purpose_and_arrays_read_their_task_line() -> None:
    for purpose in PURPOSES:
        script = _render(purpose)
        assert f'exec ringrift-hpc worker {purpose} --spec "$spec"' in script
        assert "@@" not in script
        assert ("SLURM_ARRAY_TASK_ID" in script) == (purpose != "train")


def test_the_command_knows_every_script() -> None:
    assert SCRIPT_NAMES == SCRIPTS


def test_the_controller_runs_loop_on_the_run_requeued_on_its_own_resources() -> None:
    script = _render("controller")
    assert "run=/shared/ringrift/runs/golden\n" in script
    assert 'ringrift-hpc loop "$run" &' in script
    assert "#SBATCH --job-name=rr-golden-controller" in script
    assert "@@" not in script
    config = load_config(GOLDEN_CONFIG)
    lines = controller_directives(config, PurePosixPath("/runs/r"))
    for line in (
        "#SBATCH --partition=service",
        "#SBATCH --time=14-00:00:00",
        "#SBATCH --mem=4G",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --signal=B:USR2@90",
        "#SBATCH --output=/runs/r/jobs/sbatch/%x-%j.out",
    ):
        assert line in lines
    assert lines[-1] == "#SBATCH --mail-type=FAIL"  # the config's own options come last
    # Not the resources of any job the controller submits.
    assert not any(line.startswith("#SBATCH --gpus") for line in lines)


def test_a_tournament_has_its_own_name_on_the_evaluation_resources() -> None:
    config = load_config(GOLDEN_CONFIG)
    root = PurePosixPath("/runs/r")
    evaluate = sbatch_directives(config, "evaluate", root)
    tournament = sbatch_directives(config, "tournament", root)
    assert [line for line in tournament if line not in evaluate] == [
        f"#SBATCH --job-name={config.run.name}-tournament"
    ]
    assert len(tournament) == len(evaluate)


def test_directives_carry_the_kinds_resources_and_leave_unset_ones_out() -> None:
    config = load_config(GOLDEN_CONFIG)
    train = sbatch_directives(config, "train", PurePosixPath("/runs/r"))
    assert "#SBATCH --gpus-per-node=4" in train
    assert "#SBATCH --constraint='a100|h100'" in train
    assert "#SBATCH --output=/runs/r/jobs/sbatch/%x-%j.out" in train
    evaluate = sbatch_directives(Config(), "evaluate", PurePosixPath("/runs/r"))
    assert [line.split("=")[0] for line in evaluate] == [
        "#SBATCH --job-name",
        "#SBATCH --time",
        "#SBATCH --cpus-per-task",
        "#SBATCH --output",
        "#SBATCH --signal",
    ]


def test_a_template_and_the_renderer_must_agree_on_placeholders() -> None:
    assert fill_placeholders("a @@x@@ b", {"x": "1"}, source="t") == "a 1 b"
    with pytest.raises(TemplateError, match="unknown placeholder"):
        fill_placeholders("@@x@@ @@y@@", {"x": "1"}, source="t")
    with pytest.raises(TemplateError, match="lacks placeholder"):
        fill_placeholders("@@x@@", {"x": "1", "y": "2"}, source="t")
    with pytest.raises(ValueError, match="must be absolute"):
        render_sbatch("", Config(), "train", run_root=PurePosixPath("runs/demo"))
    with pytest.raises(ValueError, match="must be absolute"):
        render_script("", Config(), "controller", run_root=PurePosixPath("runs/demo"))


def test_render_command_writes_every_purpose_or_prints_one(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(sbatch_app, ["render", "--config", str(GOLDEN_CONFIG), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for purpose in SCRIPTS:
        written = tmp_path / f"{purpose}.sbatch"
        assert written.read_text() == _render(purpose)
        assert os.access(written, os.X_OK)
    printed = runner.invoke(sbatch_app, ["render", "-c", str(GOLDEN_CONFIG), "--purpose", "tournament"])
    assert printed.exit_code == 0
    assert printed.output == _render("tournament")
    old_name = runner.invoke(sbatch_app, ["render", "-c", str(GOLDEN_CONFIG), "--kind", "train"])
    assert old_name.exit_code == 0
    assert old_name.output == _render("train")
    bad = runner.invoke(sbatch_app, ["render", "-c", str(GOLDEN_CONFIG), "--purpose", "match"])
    assert bad.exit_code == 2 and "'match' is not one of" in bad.output
    neither = runner.invoke(sbatch_app, ["render", "-c", str(GOLDEN_CONFIG)])
    assert neither.exit_code == 2 and "--out DIR" in neither.output
    controller = runner.invoke(sbatch_app, ["render", "-c", str(GOLDEN_CONFIG), "--kind", "controller"])
    assert controller.exit_code == 0 and controller.output == _render("controller")


def test_render_command_takes_templates_of_your_own(tmp_path: Path) -> None:
    (tmp_path / template_file("train")).write_text("#!/bin/bash\n# @@run_name@@ @@purpose@@\n")
    runner = CliRunner()
    args = ["render", "-c", str(GOLDEN_CONFIG), "--templates", str(tmp_path)]
    lacking = runner.invoke(sbatch_app, [*args, "--purpose", "train"])
    assert lacking.exit_code == 2 and "lacks placeholder(s) @@directives@@" in lacking.output
    missing = runner.invoke(sbatch_app, [*args, "--purpose", "controller"])
    assert missing.exit_code == 2 and f"no template controller.sbatch in {tmp_path}" in missing.output


@pytest.mark.slow
def test_a_built_wheel_ships_the_templates_and_renders_without_the_source_tree(tmp_path: Path) -> None:
    """Build the wheel (and check the sdist holds the templates too), install the wheel alone into a
    folder and render from there, away from the repository."""
    repo = Path(__file__).resolve().parents[2]
    # pip builds in the source folder (build/, *.egg-info): build a copy, not the checkout.
    source = tmp_path / "source"
    shutil.copytree(
        repo / "ringrift_hpc", source / "ringrift_hpc", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)]
    subprocess.run(build, check=True, timeout=300, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("ringrift_hpc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("ringrift_hpc/cluster/templates/")}
    templates = {f"ringrift_hpc/cluster/templates/{template_file(s)}" for s in SCRIPTS}
    assert shipped == templates
    sdist = "from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {sdist}", str(tmp_path / "sdist")],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    with tarfile.open(tmp_path / "sdist" / done.stdout.split()[-1]) as archive:
        assert templates <= {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    probe = (
        "import sys, ringrift_hpc; from ringrift_hpc.cluster.sbatch_render import read_template; "
        "assert ringrift_hpc.__file__.startswith(sys.argv[1]), ringrift_hpc.__file__; "
        "print(read_template('controller'))"
    )
    # Only the install on the path (no PYTHONPATH, no repository as the working directory).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(site)],
        env=env,
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == read_template("controller") + "\n"


def _section(script: Script) -> str:
    return "controller" if script == "controller" else resource_kind(check_purpose(script))


@pytest.mark.slurm
@pytest.mark.parametrize("purpose", SCRIPTS)
def test_rendered_script_passes_sbatch_test_only(purpose: Script, tmp_path: Path) -> None:
    gpu = purpose == "train"
    resources = {
        "partition": "gpu" if gpu else "cpu",
        "gpus": 1 if gpu else 0,
        "cpus": 1,
        "mem": "200M",
        "time": 5,
        "extra_sbatch_args": ["--mail-type=NONE"],
    }
    config = Config.model_validate(
        {
            "executor": "slurm",
            "run": {"name": "sbatchtest", "root": str(tmp_path / "run")},
            "slurm": {"setup": ["true"], _section(purpose): resources},
        }
    )
    script = tmp_path / f"{purpose}.sbatch"
    script.write_text(_render(purpose, config))
    array = [] if purpose in ("train", "controller") else ["--array=0-3%2"]
    done = subprocess.run(
        ["sbatch", "--test-only", *array, str(script), str(tmp_path / "specs.txt")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "to start at" in done.stderr
