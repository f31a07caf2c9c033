"""The pie rule (rules.md §14, D19) as an option, and illegal moves being refused with a reason."""

from __future__ import annotations

import pytest
from rules_helpers import move_types, phase_and_player, play, play_bookkeeping

from ringrift_hpc import rules


def _after_first_turn(swap: bool) -> object:
    state = rules.initial_state("square8", 2, rules_options={"swapRuleEnabled": swap})
    state = play(state, type="place_ring", to="3,3", placementCount=1)
    state = play(state, type="move_stack", from_="3,3", to="3,4")
    return play_bookkeeping(state)


def test_swap_is_offered_to_seat_two_once_and_only_when_enabled() -> None:
    assert "swap_sides" not in move_types(_after_first_turn(swap=False))
    state = _after_first_turn(swap=True)
    assert phase_and_player(state) == ("ring_placement", 2)
    assert "swap_sides" in move_types(state)
    before = rules.state_to_json(state)["board"]
    state = play(state, type="swap_sides")
    # D19: only identities change; the board stays and seat 2 is still to act in ring_placement.
    assert phase_and_player(state) == ("ring_placement", 2)
    assert rules.state_to_json(state)["board"]["stacks"] == before["stacks"]
    assert "swap_sides" not in move_types(state)


def test_swap_is_never_offered_with_more_than_two_players() -> None:
    state = rules.initial_state("square8", 3, rules_options={"swapRuleEnabled": True})
    state = play(state, type="place_ring", to="3,3", placementCount=1)
    state = play_bookkeeping(play(state, type="move_stack", from_="3,3", to="3,4"))
    assert phase_and_player(state) == ("ring_placement", 2)
    assert "swap_sides" not in move_types(state)


def test_an_illegal_move_is_refused_with_the_move_and_the_reason() -> None:
    state = rules.initial_state("square8", 2)
    move = rules.move_from_json({"type": "move_stack", "player": 1, "from": {"x": 0, "y": 0}, "to": {"x": 0, "y": 1}}, state)
    with pytest.raises(rules.IllegalMoveError, match="move_stack") as err:
        rules.apply_move(state, move)
    assert "ring_placement" in str(err.value)
