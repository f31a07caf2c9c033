"""Tiny selfplay shards for the training tests: real positions of seeded random games.

Targets are synthetic but well formed: a random distribution over a few legal moves and a
value vector derived from the game's seed, so a network can fit them in a few steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ringrift_hpc.ai.codec import CODEC_VERSION, ActionCodec
from ringrift_hpc.ai.encoding import ENCODER_VERSION, encode_states
from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config.learning import TrainingSection
from ringrift_hpc.data.shards import AUX_DATASETS, FORMAT_VERSION, GameRecord, ShardHeader, ShardWriter
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.rules import GameState, apply_move, initial_state, is_terminal, legal_moves
from ringrift_hpc.store import RunLayout, publish_file, temp_path_for

BOARD = "square8"
PLAYERS = 2
VARIANT = f"{BOARD}_{PLAYERS}p"

NET = NetConfig(
    channels=8,
    blocks=1,
    gpool_channels=8,
    policy_channels=8,
    nonspatial_hidden=16,
    value_channels=8,
    value_hidden=16,
)


def training(**overrides: object) -> TrainingSection:
    """A training section for a few steps of tiny batches on the CPU."""
    values: dict[str, object] = {
        "batch_size": 8,
        "warmup_steps": 2,
        "checkpoint_every_steps": 3,
        "validation_fraction": 0.2,
        "device": "cpu",
        "min_steps": 1,
        "max_steps": 50,
        "lr": 1e-3,
    }
    values.update(overrides)
    return TrainingSection.model_validate(values)


def spec_for(
    root: Path,
    *,
    parent: str | None = None,
    steps: int = 6,
    section: TrainingSection | None = None,
    processes: int = 1,
) -> TrainSpec:
    """A spec of this module's variant and network on `root`, for `steps` steps."""
    return TrainSpec(
        run_root=str(root.resolve()),
        variant=VARIANT,
        parent_model=parent,
        generation=1,
        new_samples=40,
        network=NET.to_dict(),
        training=(section or training()).model_dump(mode="json"),
        seed=11,
        steps=steps,
        processes=processes,
    )


def game_positions(seed: int, plies: int) -> list[GameState]:
    """The positions with at least two legal moves of a seeded random game, at most `plies`."""
    rng = np.random.default_rng(seed)
    state = initial_state(BOARD, PLAYERS)
    out: list[GameState] = []
    while len(out) < plies and not is_terminal(state):
        moves = legal_moves(state)
        if len(moves) > 1:
            out.append(state)
        state = apply_move(state, moves[int(rng.integers(len(moves)))])
    return out


def game_record(seed: int, plies: int) -> GameRecord:
    codec = ActionCodec.for_board(BOARD, PLAYERS)
    rng = np.random.default_rng(seed + 1)
    states = game_positions(seed, plies)
    planes, scalars = encode_states(states)
    legal = tuple(np.sort(codec.legal_indices(s)).astype(np.int32) for s in states)
    policy_indices = []
    policy_probs = []
    for moves in legal:
        picked = np.sort(rng.choice(moves, size=min(3, moves.size), replace=False))
        weights = rng.random(picked.size) + 0.1
        policy_indices.append(picked.astype(np.int32))
        policy_probs.append((weights / weights.sum()).astype(np.float32))
    sign = 1.0 if seed % 2 else -1.0
    values = np.array([[sign, -sign] if s.current == 1 else [-sign, sign] for s in states], dtype=np.float32)
    return GameRecord(
        seed=seed,
        length=len(states) + 1,
        ranks=np.array([1, 2] if sign > 0 else [2, 1]),
        planes=planes,
        scalars=scalars,
        policy_indices=tuple(policy_indices),
        policy_probs=tuple(policy_probs),
        legal_indices=legal,
        values=values,
        plies=np.arange(len(states)),
        ownership=rng.integers(0, PLAYERS + 1, size=(len(states), 8, 8)).astype(np.int8),
        score=rng.random((len(states), 2, PLAYERS)).astype(np.float32),
    )


def publish_shard(
    root: Path,
    generation: int,
    task: str,
    *,
    games: int = 3,
    plies: int = 8,
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
    version: int = FORMAT_VERSION,
) -> Path:
    """Write and publish one shard of `games` games as selfplay would; returns its path.

    `version` 1 writes the shard as format version 1 did: without the auxiliary targets."""
    layout = RunLayout(root)
    path = layout.selfplay_shard(VARIANT, generation, task)
    temp = temp_path_for(path)
    temp.parent.mkdir(parents=True, exist_ok=True)
    header = ShardHeader(
        variant=VARIANT,
        board=BOARD,
        num_players=PLAYERS,
        model_id="none",
        generation=generation,
        task=task,
        run_seed=seed,
    )
    writer = ShardWriter(temp, header)
    for g in range(games):
        writer.add_game(game_record(seed * 1000 + generation * 100 + g, plies))
    samples = writer.samples
    writer.finish()
    if version == 1:
        with h5py.File(temp, "r+", locking=False) as f:
            f.attrs["format_version"] = 1
            for name in AUX_DATASETS:
                del f[name]
    meta = {
        "generation": generation,
        "positions": samples,
        "variant": VARIANT,
        "encoder_version": ENCODER_VERSION,
        "codec_version": CODEC_VERSION,
    }
    meta.update(metadata or {})
    publish_file(path, temp, meta)
    return path
