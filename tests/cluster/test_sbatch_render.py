"""sbatch templates rendered from a config: golden files, placeholder checks, the command, and
``sbatch --test-only`` on the local cluster.

When a change to a template or the renderer is intended, regenerate the golden files with
``RINGRIFT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/cluster/test_sbatch_render.py`` and review
the diff before committing.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from ringrift_hpc.cli.sbatch_cmd import DEFAULT_TEMPLATES, sbatch_app
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose, resource_kind
from ringrift_hpc.cluster.sbatch_render import (
    TemplateError,
    fill_placeholders,
    render_sbatch,
    sbatch_directives,
    template_file,
)
from ringrift_hpc.config import Config, load_config

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_CONFIG = GOLDEN / "sbatch_config.yaml"


def _render(purpose: Purpose, config: Config | None = None) -> str:
    cfg = config if config is not None else load_config(GOLDEN_CONFIG)
    template = (DEFAULT_TEMPLATES / template_file(purpose)).read_text()
    return render_sbatch(template, cfg, purpose, run_root=PurePosixPath(cfg.run.root))


@pytest.mark.parametrize("purpose", PURPOSES)
def test_rendered_script_matches_its_golden_file(purpose: Purpose) -> None:
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


def test_render_command_writes_every_purpose_or_prints_one(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(sbatch_app, ["render", "--config", str(GOLDEN_CONFIG), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for purpose in PURPOSES:
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


@pytest.mark.slurm
@pytest.mark.parametrize("purpose", PURPOSES)
def test_rendered_script_passes_sbatch_test_only(purpose: Purpose, tmp_path: Path) -> None:
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
            "slurm": {"setup": ["true"], resource_kind(purpose): resources},
        }
    )
    script = tmp_path / f"{purpose}.sbatch"
    script.write_text(_render(purpose, config))
    array = [] if purpose == "train" else ["--array=0-3%2"]
    done = subprocess.run(
        ["sbatch", "--test-only", *array, str(script), str(tmp_path / "specs.txt")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "to start at" in done.stderr
