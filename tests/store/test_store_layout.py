"""RunLayout derives the DESIGN.md §4 paths and refuses names that could leave the run root."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringrift_hpc.store import RunLayout, UnsafePathError

MODEL_ID = "ab" * 32


def test_paths_follow_the_documented_layout(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    variant = layout.root / "variants" / "hex8_2p"
    assert layout.run_config == tmp_path / "run.yaml"
    assert layout.halt == tmp_path / "HALT"
    assert layout.lease == tmp_path / "controller.lease"
    assert layout.journal == tmp_path / "journal.jsonl"
    assert layout.state == tmp_path / "state.json"
    assert layout.requests_dir == tmp_path / "requests"
    assert layout.jobs_dir == tmp_path / "jobs"
    assert layout.quarantine_dir == tmp_path / "quarantine"
    assert layout.metrics_file("controller") == tmp_path / "metrics" / "controller.prom"
    assert layout.model_weights("hex8_2p", MODEL_ID) == variant / "models" / f"{MODEL_ID}.pt"
    assert layout.model_manifest("hex8_2p", MODEL_ID) == variant / "models" / f"{MODEL_ID}.json"
    assert layout.best("hex8_2p") == variant / "best.json"
    assert layout.promotions("hex8_2p") == variant / "promotions.jsonl"
    assert layout.selfplay_shard("hex8_2p", 17, "task-3") == variant / "selfplay" / "000017" / "task-3.h5"
    assert layout.match_file("hex8_2p", "eval-1", "t0") == variant / "matches" / "eval-1" / "t0.jsonl"
    assert layout.match_manifest("hex8_2p", "eval-1", "t0") == variant / "matches" / "eval-1" / "t0.json"
    assert [layout.leaderboard_json("hex8_2p").name, layout.leaderboard_md("hex8_2p").name] == [
        "leaderboard.json",
        "leaderboard.md",
    ]
    assert layout.leaderboard_csv("hex8_2p").name == "leaderboard.csv"


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert RunLayout(Path("run")).journal == tmp_path / "run" / "journal.jsonl"


@pytest.mark.parametrize(
    "task",
    ["", ".", "..", "../escape", "a/b", "/etc/passwd", ".hidden", "a\\b", "x\x00y", "tab\tname", "é", "a" * 129],
)
def test_unsafe_task_names_are_refused(tmp_path: Path, task: str) -> None:
    with pytest.raises(UnsafePathError, match="task"):
        RunLayout(tmp_path).selfplay_shard("square8_2p", 0, task)


@pytest.mark.parametrize("variant", ["", "..", "square8", "Square8_2p", "square8_0p", "sq/8_2p", "square8_2p/.."])
def test_malformed_variants_are_refused(tmp_path: Path, variant: str) -> None:
    with pytest.raises(UnsafePathError, match="variant"):
        RunLayout(tmp_path).best(variant)


@pytest.mark.parametrize("model_id", ["", "../" + "a" * 61, "A" * 64, "a" * 63, "g" * 64])
def test_model_ids_must_be_sha256_hex(tmp_path: Path, model_id: str) -> None:
    with pytest.raises(UnsafePathError, match="sha256"):
        RunLayout(tmp_path).model_weights("square8_2p", model_id)


@pytest.mark.parametrize("generation", [-1, True, 1.0, "3"])
def test_generation_must_be_a_non_negative_int(tmp_path: Path, generation: object) -> None:
    with pytest.raises(UnsafePathError, match="generation"):
        RunLayout(tmp_path).selfplay_dir("square8_2p", generation)  # type: ignore[arg-type]


def test_relative_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    assert layout.relative(layout.state) == Path("state.json")
    with pytest.raises(UnsafePathError, match="outside the run directory"):
        layout.relative(layout.root / ".." / "other" / "state.json")
