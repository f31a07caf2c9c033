"""State encoder: layout, grid embedding, seat-relative blocks and a hand-checked position."""

from __future__ import annotations

import numpy as np
import pytest
from test_codec import random_positions

from ringrift_hpc.ai.encoding import (
    ENCODER_VERSION,
    MAX_SEATS,
    NUM_PLANES,
    NUM_SCALARS,
    PLANE_NAMES,
    SCALAR_NAMES,
    SEAT_PLANES,
    SEAT_SCALARS,
    board_grid,
    encode_states,
    encoder_shape,
)
from ringrift_hpc.rules import (
    GameState,
    geometry,
    initial_state,
    state_from_json,
    state_to_json,
)


def plane(name: str) -> int:
    return PLANE_NAMES.index(name)


def scalar(name: str) -> int:
    return SCALAR_NAMES.index(name)


@pytest.mark.parametrize(
    ("board", "side", "cells"),
    [("square8", 8, 64), ("square19", 19, 361), ("hex8", 9, 61), ("hexagonal", 25, 469)],
)
def test_shape_and_valid_mask(board: str, side: int, cells: int) -> None:
    for n in (2, 3, 4):
        assert encoder_shape(board, n) == encoder_shape(board, 2)
    shape = encoder_shape(board, 4)
    assert (shape.planes, shape.height, shape.width, shape.scalars) == (NUM_PLANES, side, side, NUM_SCALARS)
    grid = board_grid(board)
    assert int(grid.valid.sum()) == cells
    states = random_positions(board, 4, 40)
    planes, scalars = encode_states(states)
    assert planes.dtype == np.float32 and scalars.dtype == np.float32
    assert planes.shape == (len(states), NUM_PLANES, side, side) and scalars.shape == (
        len(states),
        NUM_SCALARS,
    )
    valid = grid.valid.reshape(side, side)
    assert (planes[:, plane("valid")] == valid).all()
    assert not planes[:, :, ~valid].any(), "a plane has a value outside the board"


def test_hex_neighbours_are_six_fixed_grid_offsets() -> None:
    for board in ("hex8", "hexagonal"):
        g = geometry(board)
        grid = board_grid(board)
        offsets = [set() for _ in range(6)]
        for c in range(g.n):
            for d, ray in enumerate(g.rays[c]):
                if ray:
                    offsets[d].add((int(grid.row[ray[0]] - grid.row[c]), int(grid.col[ray[0]] - grid.col[c])))
        assert [len(o) for o in offsets] == [1] * 6
        assert {next(iter(o)) for o in offsets} == {(0, 1), (1, 0), (1, -1), (0, -1), (-1, 0), (-1, 1)}


def test_square_cells_sit_at_row_y_column_x() -> None:
    g = geometry("square19")
    grid = board_grid("square19")
    for c, (x, y) in enumerate(g.coords):
        assert (grid.row[c], grid.col[c]) == (y, x)


def _with_mover(s: GameState, seat: int) -> GameState:
    t = s.copy()
    t.current = seat
    return t


@pytest.mark.parametrize("num_players", [2, 3, 4])
def test_seat_blocks_follow_turn_order_from_the_mover(num_players: int) -> None:
    block = len(SEAT_PLANES)
    width = len(SEAT_SCALARS)
    first_seat_scalar = scalar("seat0.present")
    for s in random_positions("square8", num_players, 60)[::6]:
        by_mover = {seat: encode_states([_with_mover(s, seat)]) for seat in range(1, num_players + 1)}
        for seat, (planes, scalars) in by_mover.items():
            for k in range(MAX_SEATS):
                blk = planes[0, k * block : (k + 1) * block]
                sc = scalars[0, first_seat_scalar + k * width : first_seat_scalar + (k + 1) * width]
                if k >= num_players:
                    assert not blk.any() and not sc.any(), "an absent seat's block is not zero"
                    continue
                # Block k of "seat to move" is block 0 of the seat k places later in turn order.
                other = (seat - 1 + k) % num_players + 1
                assert np.array_equal(blk, by_mover[other][0][0, :block])
                assert np.array_equal(
                    sc, by_mover[other][1][0, first_seat_scalar : first_seat_scalar + width]
                )


def test_batches_encode_like_single_states_and_mixed_boards_are_refused() -> None:
    states = random_positions("hexagonal", 3, 20)
    planes, scalars = encode_states(states)
    for i, s in enumerate(states):
        p, sc = encode_states([s])
        assert np.array_equal(planes[i], p[0]) and np.array_equal(scalars[i], sc[0])
    with pytest.raises(ValueError, match="state 1 is on square8, state 0 on hexagonal"):
        encode_states([states[0], initial_state("square8", 3)])
    with pytest.raises(ValueError, match="no states"):
        encode_states([])
    assert ENCODER_VERSION.startswith("enc")


def test_a_hand_checked_position() -> None:
    js = state_to_json(initial_state("square8", 3))
    js["board"]["stacks"] = {
        "2,5": {"rings": [2, 2, 3, 1]},  # top first: seat 2 controls with cap 2 over a 3 and a 1
        "6,1": {"rings": [3]},
    }
    js["board"]["markers"] = {"0,0": {"player": 1}}
    js["board"]["collapsedSpaces"] = {"7,7": 3}
    hands = {1: 10, 2: 12, 3: 15}
    for p in js["players"]:
        p["ringsInHand"] = hands[p["playerNumber"]]
        p["eliminatedRings"] = 2 if p["playerNumber"] == 1 else 0
    js.update(
        currentPlayer=2,
        currentPhase="movement",
        mustMoveFromStackKey="2,5",
        lpsCurrentRoundFirstPlayer=1,
        lpsCurrentRoundActorMask={"1": True},
        lpsConsecutiveExclusiveRounds=1,
        lpsConsecutiveExclusivePlayer=1,
    )
    del js["ringriftHpc"]
    planes, scalars = encode_states([state_from_json(js)])
    # Turn order from seat 2: seat 2 (block 0), seat 3 (block 1), seat 1 (block 2).
    expected = {
        ("seat0.stack", 5, 2): 1.0,
        ("seat0.height", 5, 2): 4 / 8,
        ("seat0.cap", 5, 2): 2 / 8,
        ("seat1.buried", 5, 2): 1 / 8,
        ("seat2.buried", 5, 2): 1 / 8,
        ("seat1.stack", 1, 6): 1.0,
        ("seat1.height", 1, 6): 1 / 8,
        ("seat1.cap", 1, 6): 1 / 8,
        ("seat2.marker", 0, 0): 1.0,
        ("seat1.collapsed", 7, 7): 1.0,
        ("must_move", 5, 2): 1.0,
    }
    got = {
        (PLANE_NAMES[c], r, q): float(planes[0, c, r, q])
        for c, r, q in zip(*np.nonzero(planes[0]))
        if PLANE_NAMES[c] != "valid"
    }
    assert got == pytest.approx(expected)
    want = {
        "phase.movement": 1,
        "players.3": 1,
        "seat0.present": 1,
        "seat0.hand": 12 / 18,
        "seat0.on_board": 2 / 18,
        "seat1.present": 1,
        "seat1.hand": 15 / 18,
        "seat1.on_board": 2 / 18,
        "seat1.territory": 1 / 22,
        "seat2.present": 1,
        "seat2.hand": 10 / 18,
        "seat2.on_board": 1 / 18,
        "seat2.eliminated": 2 / 24,
        "seat2.lps_acted": 1,
        "seat2.lps_leader": 1,
        "seat2.lps_round_opener": 1,
        "lps_rounds": 1 / 3,
    }
    got_scalars = {SCALAR_NAMES[i]: float(v) for i, v in enumerate(scalars[0]) if v}
    assert got_scalars == pytest.approx(want)
