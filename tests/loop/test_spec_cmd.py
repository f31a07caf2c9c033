"""`ringrift-hpc spec`: the specs the sbatch templates run are the controller's, from the run's
files; bad options are refused naming the option and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tiny_run import make_tiny_run
from typer.testing import CliRunner

from ringrift_hpc.cli.spec_cmd import SPECS_LIST, spec_app
from ringrift_hpc.config import load_config
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.loop.tournament_plan import evaluation_specs
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.store import RunLayout

VARIANT = "square8_2p"


@pytest.fixture
def run(tmp_path: Path) -> RunLayout:
    return make_tiny_run(tmp_path / "run")


def _spec(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(spec_app, list(args))
    return result.exit_code, result.output


def _model(layout: RunLayout, content: bytes) -> str:
    """A model file as the run keeps it: named by its sha256 (which is all `spec` checks)."""
    model = hashlib.sha256(content).hexdigest()
    path = layout.model_weights(VARIANT, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return model


def _listed(out: Path) -> list[Path]:
    return [Path(line) for line in (out / SPECS_LIST).read_text().splitlines()]


def test_selfplay_specs_are_the_controllers_tasks_listed_in_array_order(
    run: RunLayout, tmp_path: Path
) -> None:
    out = tmp_path / "sp"
    code, output = _spec("selfplay", str(run.root), "--tasks", "3", "--first-task", "2", "--out", str(out))
    assert code == 0, output
    assert "sbatch --array=0-2%64 selfplay.sbatch" in output
    config = load_config(run.run_config)
    listed = _listed(out)
    assert [p.name for p in listed] == [f"selfplay-g000000-{i:06d}.json" for i in (2, 3, 4)]
    for index, path in zip((2, 3, 4), listed):
        expected = SelfplaySpec.from_config(
            config, run_root=run.root, variant=VARIANT, generation=0, task_index=index, model_id="none"
        )
        assert SelfplaySpec.from_json(path.read_text()) == expected
    code, output = _spec("selfplay", str(run.root), "--games", "5", "--out", str(out))
    assert code == 0 and SelfplaySpec.from_json(_listed(out)[0].read_text()).games == 5


def test_a_published_selfplay_task_is_refused_with_the_next_free_index(
    run: RunLayout, tmp_path: Path
) -> None:
    shard = run.selfplay_shard(VARIANT, 0, "000000")
    shard.parent.mkdir(parents=True)
    shard.with_suffix(".json").write_text("{}")
    code, output = _spec("selfplay", str(run.root), "--out", str(tmp_path / "sp"))
    assert code == 2
    assert "task 000000 of generation 0 is already published" in output
    assert "--first-task 1" in output
    assert not (tmp_path / "sp").exists()


def test_bad_options_name_the_option_and_the_fix(run: RunLayout, tmp_path: Path) -> None:
    root = str(run.root)
    missing = "ab" * 32
    cases = [
        (["selfplay", root, "--variant", "hex8_3p"], "--variant hex8_3p: run"),
        (["selfplay", root, "--model", "none", "--generation", "2"], "plays generation 0 only"),
        (["selfplay", root, "--model", missing], f"--model {missing}: "),
        (["train", root], "holds no published shard of square8_2p"),
        (["evaluate", root, "--candidate", missing], f"--candidate {missing}: "),
        (["evaluate", root, "--candidate", "random"], "a candidate is a model"),
        (["tournament", root, "--eval-id", "round-1"], "starts with 'tournament-'"),
        (["tournament", root], "fewer than two participants enter"),
        (["selfplay", str(tmp_path)], "is not a run directory"),
    ]
    for args, message in cases:
        code, output = _spec(*args, "--out", str(tmp_path / "out"))
        assert code == 2 and message in output, (args, output)
    (tmp_path / "file").write_text("")
    code, output = _spec("selfplay", root, "--out", str(tmp_path / "file"))
    assert code == 2 and "is a file" in output


def test_evaluation_specs_are_the_controllers_first_batch(run: RunLayout, tmp_path: Path) -> None:
    model = _model(run, b"weights")
    out = tmp_path / "ev"
    code, output = _spec("evaluate", str(run.root), "--candidate", model, "--out", str(out))
    assert code == 0, output
    config = load_config(run.run_config)
    candidate = Participant(VARIANT, "gumbel", config.evaluation_simulations, model)
    eval_id = f"eval-g0001-{model[:16]}"
    expected = evaluation_specs(
        config, run_root=run.root, candidate=candidate, best=None, eval_id=eval_id, batch=0
    )
    assert expected  # the anchor gate: nothing is promoted, so there is no best to play
    assert {p.name: MatchSpec.from_json(p.read_text()) for p in _listed(out)} == {
        f"{eval_id}-{task}.json": spec for task, spec in expected.items()
    }


def test_a_tournament_seats_the_participants_and_the_anchors(run: RunLayout, tmp_path: Path) -> None:
    model = _model(run, b"weights")
    out = tmp_path / "to"
    args = ["tournament", str(run.root), "-p", model, "--eval-id", "tournament-x", "--groups-per-pair", "3"]
    code, output = _spec(*args, "--out", str(out))
    assert code == 0, output
    (path,) = _listed(out)
    spec = MatchSpec.from_json(path.read_text())
    assert path.name == "tournament-x-pair-000-001.json"
    assert spec.eval_id == "tournament-x" and len(spec.groups) == 3
    seated = {p.id for group in spec.groups for p in group.lineup}
    assert seated == {"random", f"gumbel@{load_config(run.run_config).evaluation_simulations}#{model}"}
