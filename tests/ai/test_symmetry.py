"""Symmetries: group structure, and equivariance of legal moves, policy indices and planes.

For every symmetry g and random position s: legal_moves(g(s)) = g(legal_moves(s)), the
policy index of g(m) in g(s) is table_g[index of m in s], and encode(g(s)) = g(encode(s)).
The only moves exempt from the per-move check are the two documented non-symmetric choices
(docs/action-space.md): an extraction-stack rank tied with its mirror image, and a region
mirrored onto itself with no cell on the mirror; each test counts them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_codec import BOARDS, VARIANTS, random_positions

from ringrift_hpc.ai.codec import ActionCodec, extraction_rank, region_anchor
from ringrift_hpc.ai.encoding import encode_states
from ringrift_hpc.ai.symmetry import (
    inverse,
    symmetries,
    transform_move,
    transform_planes,
    transform_state,
)
from ringrift_hpc.rules import (
    GameState,
    geometry,
    initial_state,
    legal_moves,
    state_from_json,
    state_to_json,
)
from ringrift_hpc.rules.moves import CHOOSE_TERRITORY_OPTION, RECOVERY_SLIDE, Move

# Fewer positions than the codec test: each one is checked under all 8 or 12 symmetries.
EQUIVARIANCE_POSITIONS = {"square8": 160, "hex8": 160, "square19": 30, "hexagonal": 30}


def _composed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[b]


@pytest.mark.parametrize("board", BOARDS)
def test_group_structure(board: str) -> None:
    g = geometry(board)
    syms = symmetries(board)
    assert len(syms) == (12 if g.is_hex else 8)
    assert np.array_equal(syms[0].cell_perm, np.arange(g.n)) and syms[0].dir_perm == tuple(
        range(len(g.rays[0]))
    )
    perms = {tuple(s.cell_perm.tolist()) for s in syms}
    assert len(perms) == len(syms)
    for s in syms:
        assert sorted(s.cell_perm.tolist()) == list(range(g.n))
        assert tuple(_composed(s.cell_perm, inverse(s).cell_perm).tolist()) == tuple(range(g.n))
        for t in syms:
            assert tuple(_composed(s.cell_perm, t.cell_perm).tolist()) in perms
        # Directions move with cells: the first step of a ray maps to the first step of its image ray.
        for c in range(g.n):
            for d, ray in enumerate(g.rays[c]):
                image = g.rays[int(s.cell_perm[c])][s.dir_perm[d]]
                assert [int(s.cell_perm[x]) for x in ray] == list(image)


@pytest.mark.parametrize("board", BOARDS)
def test_policy_tables_are_a_group_action_on_every_index(board: str) -> None:
    codec = ActionCodec.for_board(board, 2)
    syms = symmetries(board)
    tables = [codec.symmetry_table(s.index) for s in syms]
    assert np.array_equal(tables[0], np.arange(codec.size))
    for s, table in zip(syms, tables):
        assert np.array_equal(np.sort(table), np.arange(codec.size))
        assert np.array_equal(table[tables[inverse(s).index]], np.arange(codec.size))
        assert np.array_equal(table[codec.tail_start :], np.arange(codec.tail_start, codec.size))
    # table(g . h) = table(g) o table(h), with g . h read off the cell permutations.
    by_perm = {tuple(s.cell_perm.tolist()): s.index for s in syms}
    for s in syms:
        for t in syms[:4]:
            gh = by_perm[tuple(_composed(s.cell_perm, t.cell_perm).tolist())]
            assert np.array_equal(tables[s.index][tables[t.index]], tables[gh])


def _exempt(state: GameState, move: Move) -> bool:
    if move.kind == RECOVERY_SLIDE and move.extract >= 0:
        return not extraction_rank(state, move)[1]
    if move.kind == CHOOSE_TERRITORY_OPTION:
        return not region_anchor(state.geo.board, move.cells)[1]
    return False


@pytest.mark.parametrize(("board", "num_players"), VARIANTS)
def test_legal_moves_indices_and_planes_are_equivariant(board: str, num_players: int) -> None:
    codec = ActionCodec.for_board(board, num_players)
    syms = symmetries(board)
    states = random_positions(board, num_players, EQUIVARIANCE_POSITIONS[board])
    exempt = checked = 0
    planes, scalars = encode_states(states)
    for g in syms:
        images = [transform_state(g, s) for s in states]
        g_planes, g_scalars = encode_states(images)
        assert np.array_equal(g_planes, transform_planes(g, planes)), f"{g}: planes are not equivariant"
        assert np.array_equal(g_scalars, scalars)
        for s, gs in zip(states, images):
            moves = legal_moves(s)
            mapped = [transform_move(g, m) for m in moves]
            assert set(legal_moves(gs)) == set(mapped), f"{g}: legal moves of the image of {s!r} differ"
            expected = codec.symmetry_table(g.index)[codec.legal_indices(s)]
            got = codec.indices(gs, mapped)
            keep = np.array([not _exempt(s, m) for m in moves], dtype=bool)
            exempt += int((~keep).sum())
            checked += int(keep.sum())
            assert np.array_equal(got[keep], expected[keep]), (
                f"{g}: policy indices of {s!r} are not equivariant"
            )
            if keep.all():
                assert set(codec.legal_indices(gs).tolist()) == set(expected.tolist())
    assert checked > 20 * exempt


def test_transform_state_round_trips_through_the_inverse() -> None:
    for board in BOARDS:
        for s in random_positions(board, 3, 30)[::5]:
            for g in symmetries(board):
                assert transform_state(inverse(g), transform_state(g, s)) == s


def test_transform_planes_accepts_torch_tensors_and_batches() -> None:
    board = "hex8"
    s = random_positions(board, 2, 40)[-1]
    planes, _ = encode_states([s, s])
    for g in symmetries(board):
        as_numpy = transform_planes(g, planes)
        as_torch = transform_planes(g, torch.from_numpy(planes))
        assert np.array_equal(as_torch.numpy(), as_numpy)
        assert np.array_equal(as_numpy[0], transform_planes(g, planes[0]))


def test_a_quarter_turn_moves_a_corner_placement_to_the_next_corner() -> None:
    board = "square8"
    codec = ActionCodec.for_board(board, 2)
    turn = symmetries(board)[1]
    s = initial_state(board, 2)
    corner = geometry(board).index[(0, 0)]
    place = next(
        m for m in legal_moves(s) if m.kind == "place_ring" and m.to == corner and m.placement_count == 2
    )
    image = transform_move(turn, place)
    assert geometry(board).coords[image.to] == (7, 0)
    moved = codec.symmetry_table(turn.index)[codec.index(s, place)]
    assert moved == codec.index(transform_state(turn, s), image)


def _position(board: str, num_players: int, stacks: dict, markers: dict, **fields: object) -> GameState:
    js = state_to_json(initial_state(board, num_players))
    js["board"]["stacks"] = {k: {"rings": v} for k, v in stacks.items()}
    js["board"]["markers"] = {k: {"player": v} for k, v in markers.items()}
    for p in js["players"]:
        p["ringsInHand"] = 0
    js.update(fields)
    del js["ringriftHpc"]
    return state_from_json(js)


def _row(y: int, xs: range, seat: int) -> dict:
    return {f"{x},{y}": seat for x in xs}


DECISION_POSITIONS = {
    # Seat 1 owns no stack but a buried ring: sliding (2,2) to (2,3) completes five in a row,
    # which offers option 1 and two option-2 windows through the landing cell.
    "recovery_windows": (
        {"6,6": [2, 1], "6,0": [2]},
        {**_row(3, range(2), 1), **_row(3, range(3, 5), 1), "2,2": 1},
        {"currentPhase": "movement"},
        {"recovery_slide"},
    ),
    # A line of six and a line of four: option 1 and the windows of each line longer than L.
    "line_options": (
        {"7,7": [1], "7,0": [2]},
        {**_row(2, range(6), 1), **_row(5, range(2, 6), 1)},
        {"currentPhase": "line_processing"},
        {"choose_line_option"},
    ),
}


@pytest.mark.parametrize("num_players", [2, 3])  # lines of 4, and of 3 (windows centred on the landing)
@pytest.mark.parametrize("name", sorted(DECISION_POSITIONS))
def test_decision_moves_with_windows_are_equivariant(name: str, num_players: int) -> None:
    stacks, markers, fields, kinds = DECISION_POSITIONS[name]
    s = _position("square8", num_players, stacks, markers, **fields)
    moves = legal_moves(s)
    assert kinds <= {m.kind for m in moves}
    assert any(m.option == 2 for m in moves)
    codec = ActionCodec.for_board("square8", num_players)
    for g in symmetries("square8"):
        gs = transform_state(g, s)
        mapped = [transform_move(g, m) for m in moves]
        assert set(legal_moves(gs)) == set(mapped)
        assert not any(_exempt(s, m) for m in moves)
        assert np.array_equal(
            codec.indices(gs, mapped), codec.symmetry_table(g.index)[codec.legal_indices(s)]
        )
