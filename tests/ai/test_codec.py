"""Action codec: layout, round trip and injectivity over the legal moves of random positions.

Positions come from seeded random play on every board and player count (2-player games with
the pie rule on, so swap_sides occurs); `random_positions` is shared with the symmetry tests.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest

from ringrift_hpc.ai.codec import (
    CODEC_VERSION,
    EXTRACTION_SLOTS,
    TAIL_KINDS,
    ActionCodec,
    CodecError,
    extraction_rank,
    region_anchor,
)
from ringrift_hpc.ai.encoding import encoder_shape
from ringrift_hpc.rules import (
    MOVE_TYPES,
    GameState,
    apply_move_unchecked,
    geometry,
    initial_state,
    is_terminal,
    legal_moves,
    state_from_json,
    state_to_json,
)
from ringrift_hpc.rules.moves import RESIGN, TIMEOUT, Move

BOARDS = ("square8", "hex8", "square19", "hexagonal")
SMALL = ("square8", "hex8")
VARIANTS = [(board, n) for board in BOARDS for n in (2, 3, 4)]
# Positions per variant: thousands in all, fewer on the big boards where games are long.
POSITIONS = {"square8": 700, "hex8": 700, "square19": 160, "hexagonal": 160}


@functools.cache
def random_positions(board: str, num_players: int, count: int) -> tuple[GameState, ...]:
    """`count` active positions sampled from seeded random games."""
    rng = random.Random(f"{board}/{num_players}")
    options = {"swapRuleEnabled": True} if num_players == 2 else None
    keep = 0.25 if board in SMALL else 0.06
    out: list[GameState] = []
    while len(out) < count:
        s = initial_state(board, num_players, rules_options=options)
        while not is_terminal(s) and len(out) < count:
            if rng.random() < keep:
                out.append(s)
            s = apply_move_unchecked(s, rng.choice(legal_moves(s)))
    return tuple(out)


def positions(board: str, num_players: int) -> tuple[GameState, ...]:
    return random_positions(board, num_players, POSITIONS[board])


@pytest.mark.parametrize("board", BOARDS)
def test_layout_matches_the_encoder_grid_and_ignores_the_player_count(board: str) -> None:
    codecs = [ActionCodec.for_board(board, n) for n in (2, 3, 4)]
    shape = encoder_shape(board, 2)
    for codec in codecs:
        assert (codec.height, codec.width) == (shape.height, shape.width)
        assert codec.size == codec.spatial_planes * codec.height * codec.width + codec.num_nonspatial
        assert codec.num_nonspatial == len(TAIL_KINDS)
        assert (codec.spatial_planes, codec.size) == (codecs[0].spatial_planes, codecs[0].size)
    assert ActionCodec.for_board(board, 3) is codecs[1]
    assert CODEC_VERSION.startswith("codec")


@pytest.mark.parametrize(("board", "num_players"), VARIANTS)
def test_round_trip_and_injectivity_over_random_positions(board: str, num_players: int) -> None:
    codec = ActionCodec.for_board(board, num_players)
    rng = random.Random(7)
    checked = 0
    for s in positions(board, num_players):
        moves = legal_moves(s)
        idx = codec.legal_indices(s)
        assert idx.dtype == np.int64 and len(idx) == len(moves)
        assert len(set(idx.tolist())) == len(moves), f"two legal moves of {s!r} share an index"
        assert 0 <= idx.min() and idx.max() < codec.size
        for m, i in zip(moves, idx):
            assert codec.index(s, m) == i
        for k in rng.sample(range(len(moves)), min(3, len(moves))):
            assert codec.move(s, int(idx[k])) == moves[k]
        checked += len(moves)
    assert checked > 1000


def test_random_positions_exercise_every_move_type() -> None:
    seen = {m.kind for board, n in VARIANTS for s in positions(board, n) for m in legal_moves(s)}
    assert seen == set(MOVE_TYPES) - {RESIGN, TIMEOUT}


def test_host_moves_and_bookkeeping_each_have_their_own_tail_index() -> None:
    codec = ActionCodec.for_board("hex8", 2)
    s = initial_state("hex8", 2)
    tail = [codec.index(s, Move(kind, 1, "hex8")) for kind in TAIL_KINDS]
    assert tail == list(range(codec.tail_start, codec.size))


def test_moves_and_captures_share_origin_direction_distance_slots_without_colliding() -> None:
    codec = ActionCodec.for_board("square8", 2)
    s = initial_state("square8", 2)
    # Cell 9 is (x=1, y=1) at row 1, column 1; cell 12 is (1, 4), three steps along (0, 1).
    step = Move("move_stack", 1, "square8", to=12, frm=9)
    capture = Move("overtaking_capture", 1, "square8", to=12, frm=9, target=10)
    assert codec.index(s, step) == codec.index(s, capture)
    plane = codec.families[1].first + 2 * codec.max_distance + 2  # direction 2 is (0, 1)
    assert codec.index(s, step) == plane * codec.height * codec.width + 1 * codec.width + 1
    longer = Move("move_stack", 1, "square8", to=13, frm=9)
    assert codec.index(s, longer) == codec.index(s, step) + codec.height * codec.width


def test_an_index_without_a_legal_move_is_refused_with_its_meaning() -> None:
    codec = ActionCodec.for_board("square8", 2)
    s = initial_state("square8", 2)
    taken = set(codec.legal_indices(s).tolist())
    free = next(i for i in range(codec.size) if i not in taken)
    with pytest.raises(CodecError, match=f"index {free} .*is not a legal move"):
        codec.move(s, free)
    with pytest.raises(CodecError, match="has no policy slot"):
        codec.index(s, Move("no_such_move", 1, "square8"))


def test_more_extraction_stacks_than_slots_is_refused_by_name() -> None:
    board = "square19"
    slots = EXTRACTION_SLOTS[board]
    js = state_to_json(initial_state(board, 2))
    # Seat 1 controls nothing, has one marker and a buried ring under slots + 1 seat-2 stacks.
    cells = [(x, y) for x in range(4, 19, 2) for y in range(0, 19, 2)][: slots + 1]
    js["board"]["stacks"] = {f"{x},{y}": {"rings": [2, 1]} for x, y in cells}
    js["board"]["markers"] = {"0,0": {"player": 1}}
    js["currentPhase"] = "movement"
    del js["ringriftHpc"]
    s = state_from_json(js)
    codec = ActionCodec.for_board(board, 2)
    slides = [m for m in legal_moves(s) if m.kind == "recovery_slide"]
    assert len({m.extract for m in slides}) == slots + 1
    with pytest.raises(CodecError, match="exceeds the 32 slots of square19 .EXTRACTION_SLOTS"):
        codec.legal_indices(s)
    within = [m for m in slides if extraction_rank(s, m)[0] < slots]
    assert len(within) == len(slides) - len(slides) // (slots + 1)
    assert len(set(codec.indices(s, within).tolist())) == len(within)


def test_region_anchor_is_inside_the_region_and_flags_mirror_symmetric_regions() -> None:
    g = geometry("square8")
    straddling = tuple(sorted((g.index[(3, 0)], g.index[(4, 0)])))  # mirrored onto itself across x = 3.5
    corner = tuple(sorted((g.index[(0, 0)], g.index[(1, 0)])))
    diagonal = tuple(sorted((g.index[(2, 2)], g.index[(2, 3)], g.index[(3, 2)])))  # fixed by the x = y mirror
    for region, symmetric in ((straddling, False), (corner, True), (diagonal, True)):
        anchor, covariant = region_anchor("square8", region)
        assert anchor in region and covariant is symmetric
    assert region_anchor("square8", diagonal)[0] == g.index[(2, 2)]
