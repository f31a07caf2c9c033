"""The selfplay job end to end on tiny budgets (square8, a tiny network, a few short games).

Checks that a task publishes one verified shard with its manifest (and no metrics textfile:
the controller counts games and positions per variant) and that re-running it changes
nothing; that seeded selfplay with a network is reproducible bit for bit and stores
improved-policy targets; that every game replays from the seed in its shard and its value
targets are rotated to the mover (3 players); that HALT, the walltime and a time budget each
stop a task with its finished games published; and that a task that finished nothing
publishes nothing and exits non-zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_nets import publish_model, tiny_checkpoint

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION, encode_states
from ringrift_hpc.ai.evaluation import outcome_values
from ringrift_hpc.ai.players import RandomPlayer
from ringrift_hpc.config.learning import SelfplaySection
from ringrift_hpc.config.root import Config
from ringrift_hpc.data.shard_store import load_shard
from ringrift_hpc.data.shards import Shard
from ringrift_hpc.jobs.seeds import game_rng, game_seed, task_seed
from ringrift_hpc.jobs.selfplay import (
    NothingPlayedError,
    PublishedShardCorruptError,
    SelfplaySpec,
    run_selfplay,
)
from ringrift_hpc.jobs.selfplay_games import BootstrapMover
from ringrift_hpc.loop.events import to_record
from ringrift_hpc.loop.ingest import scan_variant
from ringrift_hpc.rules import apply_move_unchecked, initial_state, is_terminal
from ringrift_hpc.store import RunLayout, list_quarantined, read_manifest


def _scan(layout: RunLayout, variant: str, ingested: frozenset[str]) -> list[dict[str, Any]]:
    """The journal records of what the controller's ingest finds."""
    return [to_record(event) for event in scan_variant(layout, variant, ingested)]


def _spec(root: Path, **changes: object) -> SelfplaySpec:
    fields: dict[str, object] = {
        "run_root": str(root),
        "variant": "square8_2p",
        "generation": 0,
        "task_index": 0,
        "model_id": "none",
        "run_seed": 11,
        "games": 3,
        "bootstrap_player": "random",
        "concurrent_games": 3,
        "device": "cpu",
        "walltime_margin_s": 0.0,
    }
    fields.update(changes)
    return SelfplaySpec(**fields)  # type: ignore[arg-type]


def _load(spec: SelfplaySpec) -> Shard:
    layout = RunLayout(Path(spec.run_root))
    return load_shard(
        layout.selfplay_shard(spec.variant.name, spec.generation, spec.task), variant=spec.variant.name
    )


def test_bootstrap_task_publishes_shard_and_manifest(tmp_path: Path) -> None:
    spec = _spec(tmp_path, task_index=4)
    result = run_selfplay(spec)
    assert result.games == 3 and result.stop_reason == "games" and not result.already_published
    shard = _load(spec)
    assert shard.samples == result.positions > 0 and shard.header.model_id == "none"
    meta = read_manifest(result.shard).manifest.metadata
    seed = task_seed(11, "square8_2p", 0, 4)
    assert meta["task_seed"] == seed and meta["game_seeds"] == [game_seed(seed, k) for k in range(3)]
    assert sorted(shard.game_seeds.tolist()) == sorted(meta["game_seeds"])  # finishing order
    assert (meta["encoder_version"], meta["codec_version"]) == (ENCODER_VERSION, CODEC_VERSION)
    assert meta["games"] == 3 and meta["positions"] == shard.samples and meta["host"]
    assert "slurm_job_id" in meta and meta["play_seconds"] >= 0 and meta["cpu_seconds"] > 0
    # One-hot targets of the bootstrap player's own move.
    assert np.all(np.diff(shard.policy_offsets) == 1) and np.all(shard.policy_probs == 1.0)
    assert not list(tmp_path.glob("metrics/*.prom"))  # a file per task would grow without bound
    again = run_selfplay(spec)
    assert again.already_published and again.positions == result.positions
    assert read_manifest(result.shard).manifest == read_manifest(again.shard).manifest


def test_damaged_shard_of_an_earlier_attempt_fails_the_task_until_the_controller_quarantines_it(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    first = run_selfplay(spec)
    with first.shard.open("r+b") as f:
        f.truncate(100)
    with pytest.raises(PublishedShardCorruptError, match=r"(?s)000000\.h5: size is 100 bytes.*controller"):
        run_selfplay(spec)
    assert first.shard.exists() and list_quarantined(RunLayout(tmp_path)) == ()  # jobs never move files
    (quarantined,) = _scan(RunLayout(tmp_path), "square8_2p", frozenset())  # the controller's ingest
    assert quarantined["event"] == "quarantined" and quarantined["path"].endswith("000000.h5")
    again = run_selfplay(spec)
    assert not again.already_published and again.games == first.games
    (record,) = list_quarantined(RunLayout(tmp_path))
    assert record.original.endswith("000000.h5") and "size" in record.reason
    assert _load(spec).samples == first.positions  # same seeds, same games


def test_manifest_carries_what_ingest_needs(tmp_path: Path) -> None:
    spec = _spec(tmp_path, generation=0, task_index=1)
    result = run_selfplay(spec)
    layout = RunLayout(tmp_path)
    (record,) = _scan(layout, "square8_2p", frozenset())
    meta = read_manifest(result.shard).manifest.metadata
    assert record == {
        "event": "ingested",
        "artifact": "shard",
        "variant": "square8_2p",
        "path": "variants/square8_2p/selfplay/000000/000001.h5",
        "samples": result.positions,
        "generation": 0,
        "games": result.games,
        "cpu_seconds": meta["cpu_seconds"],
    }
    described = ("variant", "generation", "task", "model_id", "run_seed", "task_seed", "game_seeds", "games")
    assert set(described) <= set(meta)


def test_spec_from_config_takes_the_selfplay_section_and_run_seed(tmp_path: Path) -> None:
    config = Config().model_copy(
        update={"selfplay": SelfplaySection(games_per_task=5, simulations=9, device="cpu")}
    )
    spec = SelfplaySpec.from_config(
        config, run_root=tmp_path, variant="square8_2p", generation=0, task_index=2, model_id="none"
    )
    assert (spec.games, spec.simulations, spec.device, spec.run_seed) == (5, 9, "cpu", config.run.seed)
    assert spec.run_root == str(tmp_path) and spec.search_config.simulations == 9


def test_network_selfplay_is_reproducible_from_its_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One intra-op thread, as in a 1-CPU allocation: on a shared 2-core machine two threads made
    # this tiny net's forward pass 20x slower (OpenMP threads waiting for a busy core).
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    shards = []
    for name in ("a", "b"):
        root = tmp_path / name
        model = publish_model(root, "square8_2p", tiny_checkpoint(5))
        spec = _spec(
            root,
            generation=1,
            model_id=model,
            games=2,
            concurrent_games=2,
            simulations=4,
            gumbel_actions=4,
            opening_sample_moves=2,
        )
        result = run_selfplay(spec)
        assert result.games == 2
        assert read_manifest(result.shard).manifest.metadata["model_id"] == model
        shards.append(_load(spec))
    a, b = shards
    for name in (
        "planes",
        "scalars",
        "values",
        "policy_offsets",
        "policy_indices",
        "policy_probs",
        "legal_offsets",
        "legal_indices",
        "game",
        "ply",
        "game_seeds",
        "game_lengths",
        "game_ranks",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # Improved-policy targets spread over the legal moves, unlike a one-hot.
    assert np.mean(np.diff(a.policy_offsets) > 1) > 0.5


def test_three_player_games_replay_from_their_seeds_with_values_rotated_to_the_mover(tmp_path: Path) -> None:
    spec = _spec(tmp_path, variant="square8_3p", games=1, concurrent_games=1)
    shard = _load(spec) if run_selfplay(spec) else None
    assert shard is not None and shard.games == 1
    mover = BootstrapMover(RandomPlayer(), spec.opening_sample_moves)
    rng = game_rng(int(shard.game_seeds[0]))
    state = initial_state("square8", 3)
    samples = []
    while not is_terminal(state):
        decision = mover.decide([state], [rng])[0]
        if decision.target is not None:
            samples.append(state)
        state = apply_move_unchecked(state, decision.move)
    assert len(samples) == shard.samples
    planes, _ = encode_states(samples)
    np.testing.assert_array_equal(shard.planes, planes.astype(np.float16))
    outcome = outcome_values(state)
    assert len(set(outcome.tolist())) == 3
    movers = [s.current for s in samples]
    assert len(set(movers)) == 3
    for row, seat in zip(shard.values, movers):
        assert row.tolist() == [outcome[(seat - 1 + k) % 3] for k in range(3)]


def test_halt_mid_task_publishes_the_finished_games(tmp_path: Path) -> None:
    spec = _spec(tmp_path, games=100_000, concurrent_games=4)
    timer = threading.Timer(1.5, lambda: (tmp_path / "HALT").write_text("test"))
    timer.start()
    try:
        result = run_selfplay(spec)
    finally:
        timer.cancel()
    assert result.stop_reason == "halt" and 0 < result.games < 100_000
    meta = read_manifest(result.shard).manifest.metadata
    assert 1 <= meta["abandoned_games"] <= 4
    assert len(meta["game_seeds"]) == result.games + meta["abandoned_games"]
    assert _load(spec).games == result.games


def test_walltime_stops_the_task_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-squeue"))  # squeue absent: the environment is used
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    monkeypatch.setenv("SLURM_JOB_END_TIME", str(int(time.time()) + 4))
    spec = _spec(tmp_path, games=100_000, concurrent_games=2, walltime_margin_s=2.0)
    t0 = time.time()
    result = run_selfplay(spec)
    assert result.stop_reason == "walltime" and result.games > 0
    assert time.time() - t0 < 5
    assert read_manifest(result.shard).manifest.metadata["slurm_job_id"] == "777"


def test_time_budget_finishes_games_in_flight(tmp_path: Path) -> None:
    result = run_selfplay(_spec(tmp_path, games=100_000, concurrent_games=3, time_budget_s=0.5))
    meta = read_manifest(result.shard).manifest.metadata
    assert result.stop_reason == "time_budget" and meta["abandoned_games"] == 0
    assert len(meta["game_seeds"]) == result.games


def test_task_that_finished_nothing_fails_and_publishes_nothing(tmp_path: Path) -> None:
    (tmp_path / "HALT").write_text("halted before the task began")
    spec = _spec(tmp_path)
    with pytest.raises(NothingPlayedError, match="finished no game.*halt"):
        run_selfplay(spec)
    directory = RunLayout(tmp_path).selfplay_dir("square8_2p", 0)
    assert list(directory.iterdir()) == []
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    code = (
        "from pathlib import Path; from ringrift_hpc.jobs.registry import run_from_spec_file; "
        f"run_from_spec_file('selfplay', Path({str(spec_file)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "NothingPlayedError" in done.stderr


def test_missing_model_is_named(tmp_path: Path) -> None:
    spec = _spec(tmp_path, generation=1, model_id="ab" * 32)
    with pytest.raises(ValueError, match=r"abab.*\.pt does not exist.*model_id"):
        run_selfplay(spec)
    assert json.loads(spec.to_json())["model_id"] == "ab" * 32
