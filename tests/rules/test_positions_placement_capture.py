"""Hand-built positions: placement (counts, no-dead-placement, must-move) and overtaking capture
(chains with 180-degree reversals, marker processing on both legs, cap comparison).

Rules cited as rules.md sections. Boards are ASCII (see ascii_board.py): digits = stack owners
top first, m<p> = marker, #<p> = collapsed.
"""

from __future__ import annotations

import pytest
from ascii_board import BOARD_SPECS, sparse_text
from rules_helpers import (
    assert_board,
    find_moves,
    legal_move_jsons,
    load,
    move_types,
    phase_and_player,
    play,
    play_bookkeeping,
    progress,
)

from ringrift_hpc import rules


@pytest.mark.parametrize("board", sorted(BOARD_SPECS))
def test_opening_offers_every_cell_with_counts_one_to_three(board: str) -> None:
    """§5.1/§5.2: on an empty board every cell takes 1-3 rings, and there is nothing to skip."""
    moves = [js for _, js in legal_move_jsons(rules.initial_state(board, 2))]
    assert {js["type"] for js in moves} == {"place_ring"}
    assert len(moves) == 3 * BOARD_SPECS[board].cell_count
    assert {js.get("placementCount") or 1 for js in moves} == {1, 2, 3}


def test_no_dead_placement_is_checked_per_count() -> None:
    """§5.1 rule 5 and D7: in the walled corner a single ring could neither move nor capture the
    cap-2 stack below it, but a 2- or 3-ring stack captures it, so only counts 2 and 3 are legal."""
    state = load(
        "square8",
        """
        .  #2 . . . . . .
        22 #2 . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        """,
    )
    counts = {rules.move_to_json(m).get("placementCount") or 1 for m in find_moves(state, type="place_ring", to="0,0")}
    assert counts == {2, 3}


def test_placement_on_a_stack_is_one_ring_and_then_that_stack_must_move() -> None:
    """§5.1 rule 4 (one ring onto any stack), §5.3 (must-move), §5.2 (skip offered when a stack
    of the player can move)."""
    text = """
        . . . . . . . .
        . 2 . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . 1 . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        """
    state = load("square8", text)
    assert {rules.move_to_json(m).get("placementCount") or 1 for m in find_moves(state, type="place_ring", to="1,1")} == {1}
    assert "skip_placement" in move_types(state)
    state = play(state, type="place_ring", to="1,1", placementCount=1)
    assert phase_and_player(state) == ("movement", 1)
    origins = {js["from"]["x"] * 10 + js["from"]["y"] for _, js in legal_move_jsons(state)}
    assert origins == {11}, "after placing, only the placed stack may move"


def test_skip_placement_is_not_offered_when_no_stack_can_move() -> None:
    """§5.2: with its only stack stuck, placing is compulsory."""
    state = load(
        "square8",
        """
        1  #2 . . . . . .
        #2 #2 . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . 2
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        """,
    )
    assert move_types(state) == {"place_ring"}


def test_chain_reverses_over_the_same_stack_and_processes_markers_on_both_legs() -> None:
    """§7.1-§7.3: a chain may turn 180 degrees and capture the same stack again; the opponent
    marker passed on the first leg flips, and on the way back the player's own markers collapse.
    The chain is compulsory: no skip while a segment exists."""
    state = load(
        "square8",
        """
        . . .  . .  . . .
        . . .  . .  . . .
        . . .  . .  . . .
        . . 11 m2 22 . . .
        . . .  . .  . . .
        . . .  . .  . . .
        . . .  . .  . . .
        . . .  . .  . . .
        """,
        phase="movement",
    )
    before = progress(state)
    state = play(state, type="overtaking_capture", from_="2,3", captureTarget="4,3", to="5,3")
    assert phase_and_player(state) == ("chain_capture", 1)
    assert_board(
        state,
        """
        . . .  .  . .   . .
        . . .  .  . .   . .
        . . .  .  . .   . .
        . . m1 m1 2 112 . .
        . . .  .  . .   . .
        . . .  .  . .   . .
        . . .  .  . .   . .
        . . .  .  . .   . .
        """,
    )
    # Back over (4,3) at distance >= the new height 3: (2,3), (1,3) or (0,3); nothing else.
    segments = {(js["type"], js["to"]["x"]) for _, js in legal_move_jsons(state)}
    assert segments == {("continue_capture_segment", 2), ("continue_capture_segment", 1), ("continue_capture_segment", 0)}
    state = play(state, type="continue_capture_segment", from_="5,3", captureTarget="4,3", to="1,3")
    assert_board(
        state,
        """
        . .    .  .  . .  . .
        . .    .  .  . .  . .
        . .    .  .  . .  . .
        . 1122 #1 #1 . m1 . .
        . .    .  .  . .  . .
        . .    .  .  . .  . .
        . .    .  .  . .  . .
        . .    .  .  . .  . .
        """,
    )
    assert phase_and_player(state) == ("line_processing", 1)
    assert progress(state) - before == 2, "each segment leaves one departure marker; collapses keep S"
    js = rules.state_to_json(state)
    assert js["players"][0]["territorySpaces"] == 2


def test_chain_landing_on_a_marker_eliminates_the_top_ring_and_ends_control() -> None:
    """§7.2 step 4 edge: a 1-ring attacker that captures and lands on a marker loses its own ring,
    leaving the captured opponent ring as a stack the opponent controls; the chain ends."""
    state = load(
        "square8",
        """
        . . . . . . . .
        . . . . . . . .
        . 1 2 m2 . 2 . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        """,
        phase="movement",
    )
    before = progress(state)
    state = play(state, type="overtaking_capture", from_="1,2", captureTarget="2,2", to="3,2")
    assert_board(
        state,
        """
        . .  . . . . . .
        . .  . . . . . .
        . m1 . 2 . 2 . .
        . .  . . . . . .
        . .  . . . . . .
        . .  . . . . . .
        . .  . . . . . .
        . .  . . . . . .
        """,
    )
    assert phase_and_player(state) == ("line_processing", 1)
    assert progress(state) - before == 1  # +1 departure marker, -1 landing marker, +1 eliminated
    assert rules.state_to_json(state)["players"][0]["eliminatedRings"] == 1


def test_capture_needs_a_cap_at_least_the_targets_cap() -> None:
    """§7.1: cap heights decide, not stack heights (12 has cap 1; 22 has cap 2)."""
    state = load(
        "square8",
        """
        . . . . . . . .
        . . . . . . . .
        . 12 . 22 . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . . . . .
        """,
        phase="movement",
    )
    assert not find_moves(state, type="overtaking_capture")
    assert find_moves(state, type="move_stack", from_="1,2", to="1,4")


def test_capture_phase_after_a_move_offers_only_that_stack_and_a_skip() -> None:
    """§7.3: after a plain move the moved stack may capture (or skip_capture); other stacks may not."""
    state = load(
        "square8",
        """
        . . . . . . . .
        . 1 . . . . . .
        . . . . . . . .
        . . . . . . . .
        . . . . 2 . . .
        . . . . . . . .
        . . . . . . . 1
        . . . . . . . .
        """,
        phase="movement",
    )
    state = play(state, type="move_stack", from_="1,1", to="2,2")
    assert phase_and_player(state) == ("capture", 1)
    moves = {(js["type"], (js.get("from") or {}).get("x")) for _, js in legal_move_jsons(state)}
    assert moves == {("skip_capture", None), ("overtaking_capture", 2)}
    state = play(state, type="skip_capture")
    state = play_bookkeeping(state)
    assert phase_and_player(state) == ("ring_placement", 2)


def test_hex_chain_turns_between_axes() -> None:
    """§7.3 on a hex board: the second segment leaves along another axis, at distance >= the new
    height 2, and lands anywhere up to the edge."""
    state = load("hex8", sparse_text("hex8", {"-3,0,3": "1", "-2,0,2": "2", "-1,-1,2": "2"}), phase="movement")
    state = play(state, type="overtaking_capture", from_="-3,0,3", captureTarget="-2,0,2", to="-1,0,1")
    assert phase_and_player(state) == ("chain_capture", 1)
    landings = {tuple(js["to"][a] for a in "xyz") for _, js in legal_move_jsons(state)}
    assert landings == {(-1, -2, 3), (-1, -3, 4)}
    state = play(state, type="continue_capture_segment", from_="-1,0,1", captureTarget="-1,-1,2", to="-1,-2,3")
    assert_board(
        state,
        sparse_text("hex8", {"-3,0,3": "m1", "-1,0,1": "m1", "-1,-2,3": "122"}),
    )
    assert phase_and_player(state) == ("line_processing", 1)
