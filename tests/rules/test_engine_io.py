"""Engine unit tests for the JSON boundary, the fingerprint and the errors."""

from __future__ import annotations

import json
import pickle

import pytest
from test_engine_internals import sample_states
from test_engine_mechanics import cell, position

from ringrift_hpc import rules
from ringrift_hpc.rules import Move
from ringrift_hpc.rules.fingerprint import simple_hash

VARIANTS = [(b, n) for b in ("square8", "hex8", "square19", "hexagonal") for n in (2, 3)]


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_state_json_round_trip_is_exact(board: str, players: int) -> None:
    for s in sample_states(board, players):
        js = json.loads(json.dumps(rules.state_to_json(s)))
        back = rules.state_from_json(js)
        assert back == s
        assert rules.fingerprint(back) == rules.fingerprint(s)
        assert back is not s and rules.legal_moves(back) == rules.legal_moves(s)


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_every_legal_move_survives_json(board: str, players: int) -> None:
    for s in sample_states(board, players)[:12]:
        for m in rules.legal_moves(s):
            assert rules.move_from_json(json.loads(json.dumps(rules.move_to_json(m))), s) == m


def test_rings_are_top_first_at_the_boundary() -> None:
    s = position(stacks={"3,3": [2, 1, 1]})
    assert s.stacks[cell("square8", "3,3")] == (1, 1, 2)
    stack = rules.state_to_json(s)["board"]["stacks"]["3,3"]
    assert (stack["rings"], stack["controllingPlayer"], stack["capHeight"]) == ([2, 1, 1], 2, 1)


def test_python_dumps_with_bottom_first_rings_import_on_request() -> None:
    js = rules.state_to_json(position(stacks={"3,3": [2, 1, 1]}))
    js["board"]["stacks"]["3,3"]["rings"] = [1, 1, 2]
    s = rules.state_from_json(js, rings_bottom_first=True)
    assert rules.state_to_json(s)["board"]["stacks"]["3,3"]["rings"] == [2, 1, 1]


def test_hex_keys_without_z_are_completed() -> None:
    s = position("hex8", stacks={"1,-1": [1]})
    assert list(rules.state_to_json(s)["board"]["stacks"]) == ["1,-1,0"]


def test_zero_rings_in_hand_stay_zero() -> None:
    """D23: the reference Python importer turned 0 into 18."""
    s = position(stacks={"3,3": [1]}, hands=[0, 18])
    assert rules.state_to_json(s)["players"][0]["ringsInHand"] == 0


def test_fingerprint_sections() -> None:
    s = position(stacks={"3,3": [1]}, hands=[17, 18], phase="movement", markers={"0,0": 2}, collapsed={"7,7": 1})
    text, digest = rules.fingerprint(s)
    assert text == "1:movement:active:0#1:17:0:0|2:18:0:0#3,3:1:1:1#0,0:2#7,7:1"
    assert digest == simple_hash(text) and len(digest) == 16 and int(digest, 16) >= 0


def test_fingerprint_of_a_finished_game_has_no_player_to_move() -> None:
    s = rules.apply_move(rules.initial_state("square8", 2), Move("resign", 1, "square8"))
    assert rules.fingerprint(s).text.startswith("0:game_over:completed:0#")


def test_simple_hash_mixes_every_character() -> None:
    assert simple_hash("") != simple_hash("a") != simple_hash("b")
    assert simple_hash("abc") == simple_hash("abc")
    assert len({simple_hash(f"1:movement:active:0#{i}") for i in range(1000)}) == 1000


def test_bad_state_names_the_field() -> None:
    obj = rules.state_to_json(rules.initial_state("square8", 2))
    obj["board"]["stacks"] = {"9,9": {"rings": [1]}}
    with pytest.raises(rules.StateFormatError, match=r"board\.stacks\['9,9'\].*not on board square8"):
        rules.state_from_json(obj)
    obj["board"]["stacks"] = {"1,1": {"rings": [3]}}
    with pytest.raises(rules.StateFormatError, match=r"seat 3 does not exist"):
        rules.state_from_json(obj)


def test_illegal_move_error_names_the_move_and_the_reason() -> None:
    s = rules.initial_state("square8", 2)
    bad = rules.move_from_json({"type": "move_stack", "player": 1, "from": {"x": 0, "y": 0}, "to": {"x": 0, "y": 1}}, s)
    with pytest.raises(rules.IllegalMoveError, match="move_stack.*phase ring_placement allows only place_ring"):
        rules.apply_move(s, bad)
    wrong_seat = Move("place_ring", 2, "square8", to=0, placement_count=1)
    with pytest.raises(rules.IllegalMoveError, match="seat 1's turn"):
        rules.apply_move(s, wrong_seat)


def test_apply_move_never_mutates_its_input() -> None:
    s = rules.initial_state("square8", 2)
    before = rules.state_to_json(s)
    for m in rules.legal_moves(s)[:20]:
        rules.apply_move(s, m)
    assert rules.state_to_json(s) == before


def test_legacy_and_underspecified_moves_are_completed_from_the_state() -> None:
    lines = position(
        stacks={"7,7": [1], "6,0": [2]},
        markers={f"{x},3": 1 for x in range(5)},
        phase="line_processing",
        hands=[5, 5],
    )
    overlength = rules.move_from_json({"type": "process_line", "player": 1, "to": {"x": 0, "y": 3}}, lines)
    assert (overlength.kind, overlength.option, len(overlength.collapse)) == ("choose_line_option", 1, 5)
    assert overlength in rules.legal_moves(lines)
    legacy = rules.move_from_json({"type": "move_ring", "player": 1, "from": {"x": 0, "y": 0}, "to": {"x": 1, "y": 1}}, lines)
    assert legacy.kind == "move_stack"
    recovery = position(
        stacks={"7,7": [2, 1], "7,5": [2, 1], "6,0": [2]},
        markers={"0,0": 1, "1,0": 1, "2,0": 1, "3,1": 1},
        phase="movement",
        hands=[0, 5],
    )
    slide = rules.move_from_json(
        {"type": "recovery_slide", "player": 1, "from": {"x": 3, "y": 1}, "to": {"x": 3, "y": 0}, "option": 1},
        recovery,
    )
    assert slide in rules.legal_moves(recovery)
    assert (slide.mode, slide.extract) == ("line", cell("square8", "7,5")), "D13: first eligible stack"


def test_capture_states_without_a_position_let_any_controlled_stack_capture() -> None:
    s = position(stacks={"0,0": [1], "1,0": [2], "7,7": [2]}, phase="chain_capture", hands=[5, 5])
    moves = rules.legal_moves(s)
    assert moves and {m.kind for m in moves} == {"continue_capture_segment"}
    assert {m.frm for m in moves} == {cell("square8", "0,0")}


def test_rules_options_are_checked() -> None:
    with pytest.raises(ValueError, match="ringsPerPlayer"):
        rules.initial_state("square8", 2, rules_options={"ringsPerPlayer": 0})
    with pytest.raises(ValueError, match="unknown keys"):
        rules.initial_state("square8", 2, rules_options={"pieRule": True})
    small = rules.initial_state("square8", 2, rules_options={"ringsPerPlayer": 10})
    assert small.hand[1:] == [10, 10] and small.params.victory_rings == 10


def test_states_pickle_small_and_share_the_board_tables() -> None:
    s = sample_states("hexagonal", 2)[-1]
    data = pickle.dumps(s)
    back = pickle.loads(data)
    assert back == s and back.geo is s.geo
    assert len(data) < 20_000
    assert rules.legal_moves(back) == rules.legal_moves(s)
