"""Auxiliary targets of a final position: ownership and score, relative to each sample's mover."""

from __future__ import annotations

from typing import Any

import numpy as np

from ringrift_hpc.ai.aux_targets import aux_targets, final_scores
from ringrift_hpc.ai.encoding import board_grid
from ringrift_hpc.rules import initial_state, state_from_json, state_to_json


def _position() -> dict[str, Any]:
    """Square8 3p: seat 1 holds (0,0) and (1,0), seat 3 holds (7,7); seat 3 eliminated 30 rings."""
    js = state_to_json(initial_state("square8", 3))
    js["board"]["collapsedSpaces"] = {"0,0": 1, "1,0": 1, "7,7": 3}
    eliminated = {1: 2, 2: 0, 3: 30}
    js["board"]["eliminatedRings"] = {str(k): v for k, v in eliminated.items()}
    for p in js["players"]:
        p["eliminatedRings"] = eliminated[p["playerNumber"]]
        p["territorySpaces"] = {1: 2, 2: 0, 3: 1}[p["playerNumber"]]
    return js


def test_hand_made_final_position_from_each_mover() -> None:
    state = state_from_json(_position())
    v = state.params.victory_rings  # round(18 * 4 / 3) = 24
    assert v == 24
    np.testing.assert_allclose(final_scores(state), [[2 / 64, 0, 1 / 64], [2 / 24, 0, 1.0]], rtol=1e-6)
    ownership, score = aux_targets(state, np.array([1, 2, 3]))
    assert ownership.shape == (3, 8, 8) and ownership.dtype == np.int8
    assert score.shape == (3, 2, 3) and score.dtype == np.float32
    # Square cell (x, y) sits at row y, column x; labels are 1 + the owner's slot from the mover.
    for row, mover in enumerate((1, 2, 3)):
        expected = np.zeros((8, 8), dtype=np.int8)
        expected[0, 0] = expected[0, 1] = (1 - mover) % 3 + 1
        expected[7, 7] = (3 - mover) % 3 + 1
        np.testing.assert_array_equal(ownership[row], expected)
    # Mover 2: slots are seats 2, 3, 1.
    np.testing.assert_allclose(score[1], [[0, 1 / 64, 2 / 64], [0, 1.0, 2 / 24]], rtol=1e-6)
    np.testing.assert_allclose(score[0], final_scores(state), rtol=1e-6)


def test_hex_cells_land_on_the_grid_and_off_board_cells_stay_empty() -> None:
    js = state_to_json(initial_state("hex8", 2))
    js["board"]["collapsedSpaces"] = {"-4,0,4": 2, "0,0,0": 1}
    state = state_from_json(js)
    ownership, score = aux_targets(state, np.array([2]))
    grid = board_grid("hex8")
    flat = ownership[0].reshape(-1)
    # Hex cell (x, y, z) sits at row y + R, column x + R (R = 4).
    assert flat[(0 + 4) * 9 + (-4 + 4)] == 1  # seat 2's cell, seen by seat 2: slot 0
    assert flat[4 * 9 + 4] == 2  # seat 1's cell: slot 1
    assert np.count_nonzero(flat) == 2 and not flat[~grid.valid].any()
    np.testing.assert_allclose(score[0, 0], [1 / 61, 1 / 61])


def test_no_samples() -> None:
    ownership, score = aux_targets(initial_state("square8", 2), np.zeros(0, dtype=np.int64))
    assert ownership.shape == (0, 8, 8) and score.shape == (0, 2, 2)
