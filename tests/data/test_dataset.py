"""Training batches: symmetry at load time agrees with the rules, the validation split holds out
whole games, and the data order is a pure function of (seed, step)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.encoding import board_grid, encode_states
from ringrift_hpc.ai.symmetry import symmetries, transform_state
from ringrift_hpc.data.dataset import SampleSet, make_batch, split_by_game, step_rows, symmetry_choices
from ringrift_hpc.rules import GameState, apply_move, initial_state, is_terminal, legal_moves


def positions(board: str, seed: int, count: int) -> list[GameState]:
    """Every 7th position with a choice of a seeded random game, so placements and movements both appear."""
    rng = np.random.default_rng(seed)
    state = initial_state(board, 2)
    out: list[GameState] = []
    ply = 0
    while len(out) < count and not is_terminal(state):
        moves = legal_moves(state)
        if len(moves) > 1 and ply % 7 == 0:
            out.append(state)
        state = apply_move(state, moves[int(rng.integers(len(moves)))])
        ply += 1
    return out


def sample_set(states: list[GameState], codec: ActionCodec) -> SampleSet:
    planes, scalars = encode_states(states)
    legal = [np.sort(codec.legal_indices(s)) for s in states]
    targets = [moves[:2] for moves in legal]
    # Arbitrary labels on the board's cells, so that every cell's move under a symmetry shows.
    grid = board_grid(states[0].geo.board)
    ownership = np.zeros((len(states), grid.height * grid.width), dtype=np.int8)
    ownership[:, grid.pos] = np.random.default_rng(0).integers(0, 3, size=(len(states), grid.pos.size))
    return SampleSet(
        planes=planes.astype(np.float16),
        scalars=scalars,
        policy_offsets=np.cumsum([0] + [t.size for t in targets]),
        policy_indices=np.concatenate(targets).astype(np.int32),
        policy_probs=np.concatenate([np.array([0.25, 0.75], np.float32)[: t.size] for t in targets]),
        legal_offsets=np.cumsum([0] + [m.size for m in legal]),
        legal_indices=np.concatenate(legal).astype(np.int32),
        values=np.tile(np.array([[0.5, -0.5]], np.float32), (len(states), 1)),
        game_keys=np.zeros(len(states), np.int64),
        ownership=ownership.reshape(len(states), grid.height, grid.width),
        score=np.full((len(states), 2, 2), 0.25, dtype=np.float32),
        has_aux=np.arange(len(states)) % 2 == 0,
    )


@pytest.mark.parametrize("board", ["square8", "hex8"])
def test_symmetric_batch_is_the_batch_of_the_symmetric_positions(board: str) -> None:
    codec = ActionCodec.for_board(board, 2)
    states = positions(board, seed=4, count=12)
    data = sample_set(states, codec)
    group = symmetries(board)
    sym_ids = np.arange(len(states)) % len(group)
    batch = make_batch(data, np.arange(len(states)), codec, sym_ids)
    images = [transform_state(group[k], s) for k, s in zip(sym_ids, states)]
    planes, _ = encode_states(images)
    assert torch.equal(batch.planes, torch.from_numpy(planes.astype(np.float16).astype(np.float32)))
    for row, image in enumerate(images):
        legal = np.flatnonzero(batch.legal[row].numpy())
        assert np.array_equal(legal, np.sort(codec.legal_indices(image)))
        targets = batch.target_cols[batch.target_rows == row].numpy()
        assert np.array_equal(
            targets, codec.symmetry_table(int(sym_ids[row]))[data.policy_indices[2 * row : 2 * row + 2]]
        )
    assert torch.equal(batch.values, torch.from_numpy(data.values))
    # Ownership labels move with their cells, as the rules move the cells (`cell_perm`).
    grid = board_grid(board)
    for row, k in enumerate(sym_ids):
        moved = batch.ownership[row].reshape(-1).numpy()[grid.pos[group[k].cell_perm]]
        assert np.array_equal(moved, data.ownership[row].reshape(-1)[grid.pos])
    assert torch.equal(batch.score, torch.from_numpy(data.score))
    assert torch.equal(batch.has_aux, torch.from_numpy(data.has_aux))


def test_batch_without_symmetry_is_the_stored_samples() -> None:
    codec = ActionCodec.for_board("square8", 2)
    data = sample_set(positions("square8", seed=1, count=5), codec)
    rows = np.array([3, 0])
    batch = make_batch(data, rows, codec, None)
    assert torch.equal(batch.planes, torch.from_numpy(data.planes[rows].astype(np.float32)))
    assert batch.target_rows.tolist() == [0, 0, 1, 1]
    assert batch.target_cols.tolist() == data.policy_indices[[6, 7, 0, 1]].tolist()
    assert batch.target_probs.tolist() == [0.25, 0.75, 0.25, 0.75]
    assert batch.legal.sum().item() == int(np.diff(data.legal_offsets)[rows].sum())
    assert torch.equal(batch.ownership, torch.from_numpy(data.ownership[rows].astype(np.int64)))
    assert batch.has_aux.tolist() == [False, True]


def test_validation_holds_out_whole_games() -> None:
    game_keys = np.repeat(np.arange(40, dtype=np.int64), 7)
    train, validation = split_by_game(game_keys, 0.1, seed=3)
    assert np.intersect1d(game_keys[train], game_keys[validation]).size == 0
    assert train.size + validation.size == game_keys.size
    assert np.unique(game_keys[validation]).size == 4
    again = split_by_game(game_keys, 0.1, seed=3)
    assert np.array_equal(again[1], validation)


def test_validation_keeps_one_game_each_side_when_possible() -> None:
    two_games = np.array([0, 0, 1, 1], dtype=np.int64)
    train, validation = split_by_game(two_games, 0.01, seed=0)
    assert train.size == 2 and validation.size == 2
    assert split_by_game(two_games, 0.0, seed=0)[1].size == 0


def test_each_epoch_visits_every_row_once_in_a_fixed_order() -> None:
    rows = np.arange(100, 123)
    batches = [step_rows(rows, step=s, batch_size=5, seed=9) for s in range(23)]
    order = np.concatenate(batches)  # 115 = 5 epochs of 23
    for epoch in range(5):
        assert sorted(order[epoch * 23 : (epoch + 1) * 23]) == list(rows)
    assert np.array_equal(step_rows(rows, step=17, batch_size=5, seed=9), batches[17])
    assert not np.array_equal(step_rows(rows, step=17, batch_size=5, seed=10), batches[17])


def test_batch_larger_than_the_data_repeats_rows() -> None:
    rows = np.arange(3)
    assert sorted(step_rows(rows, step=0, batch_size=6, seed=0)) == [0, 0, 1, 1, 2, 2]


def test_symmetry_choices_cover_the_group_and_depend_on_rank_and_step() -> None:
    picks = symmetry_choices("hex8", 600, seed=1, step=0, rank=0)
    assert set(picks.tolist()) == set(range(12))
    assert np.array_equal(picks, symmetry_choices("hex8", 600, seed=1, step=0, rank=0))
    assert not np.array_equal(picks, symmetry_choices("hex8", 600, seed=1, step=0, rank=1))
    assert not np.array_equal(picks, symmetry_choices("hex8", 600, seed=1, step=1, rank=0))
