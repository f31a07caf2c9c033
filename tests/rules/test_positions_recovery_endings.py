"""Hand-built positions: recovery in its three modes, forced elimination, and every way a game
ends (ring elimination, territory, early and round-based last-player-standing, the bare-board
stalemate ladder).

Rules cited as rules.md sections; boards are ASCII (see ascii_board.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from ascii_board import sparse_text
from rules_helpers import (
    assert_board,
    legal_move_jsons,
    load,
    move_types,
    phase_and_player,
    play,
    play_bookkeeping,
    player_field,
    progress,
    summarize,
)
from test_positions_lines_territory import _enclose_corner

from ringrift_hpc import rules


def _slides(state: Any) -> set[tuple[Any, ...]]:
    """(mode, from, to, option, collapse cells, extraction stacks) of every recovery slide."""
    out = set()
    for _, js in legal_move_jsons(state):
        if js["type"] != "recovery_slide":
            continue
        option = js.get("recoveryOption", js.get("option"))
        collapse = frozenset(f"{p['x']},{p['y']}" for p in js.get("collapsePositions") or [])
        out.add(
            (
                js["recoveryMode"],
                f"{js['from']['x']},{js['from']['y']}",
                f"{js['to']['x']},{js['to']['y']}",
                option if js["recoveryMode"] == "line" else None,
                collapse if js["recoveryMode"] == "line" and option == 2 else None,
                frozenset(js.get("extractionStacks") or []),
            )
        )
    return out


def _to_movement(text: str) -> Any:
    """P1 controls nothing but has markers and buried rings: it may skip placement (§5.2 b)."""
    state = load("square8", text)
    assert "skip_placement" in move_types(state)
    state = play(state, type="skip_placement")
    assert phase_and_player(state) == ("movement", 1)
    return state


EXACT = """
    m1 m1 m1 .  . . .  .
    .  .  .  m1 . . 21 .
    .  .  .  .  . . .  .
    .  .  .  .  . . .  .
    .  .  .  .  . . .  .
    .  .  .  .  . 21 . .
    .  .  .  .  . . .  .
    .  .  .  .  . . .  .
    """


def test_recovery_line_slide_lets_the_player_choose_the_extraction_stack() -> None:
    """§10.1-§10.3 and D13: the only line-forming slide, once per stack holding a buried P1 ring,
    plus `skip_recovery`; the slide collapses the line and extracts P1's ring from the chosen stack."""
    state = _to_movement(EXACT)
    assert _slides(state) == {
        ("line", "3,1", "3,0", 1, None, frozenset({"6,1"})),
        ("line", "3,1", "3,0", 1, None, frozenset({"5,5"})),
    } or _slides(state) == {
        ("line", "3,1", "3,0", None, None, frozenset({"6,1"})),
        ("line", "3,1", "3,0", None, None, frozenset({"5,5"})),
    }
    assert move_types(state) == {"recovery_slide", "skip_recovery"}
    state = play(state, type="recovery_slide", from_="3,1", to="3,0", extractionStacks=["6,1"])
    assert_board(
        state, sparse_text("square8", {"0,0": "#1", "1,0": "#1", "2,0": "#1", "3,0": "#1", "6,1": "2", "5,5": "21"})
    )
    assert player_field(state, 1, "eliminatedRings") == 1
    assert player_field(state, 1, "territorySpaces") == 4


def test_recovery_overlength_offers_option_one_per_stack_and_each_window_with_the_landing() -> None:
    """§10.3: run of 5 through (3,0): Option 1 (whole run, one extraction per eligible stack) or
    Option 2 (any 4 consecutive cells containing the landing cell, free). Sliding (4,0) to (3,0)
    instead makes an exact run of 4."""
    state = _to_movement(EXACT.replace("m1 m1 m1 .  .", "m1 m1 m1 .  m1"))
    run = ["0,0", "1,0", "2,0", "3,0", "4,0"]
    from_31 = {s for s in _slides(state) if s[1] == "3,1"}
    assert from_31 == {
        ("line", "3,1", "3,0", 1, None, frozenset({"6,1"})),
        ("line", "3,1", "3,0", 1, None, frozenset({"5,5"})),
        ("line", "3,1", "3,0", 2, frozenset(run[:4]), frozenset()),
        ("line", "3,1", "3,0", 2, frozenset(run[1:]), frozenset()),
    }
    assert {s[:3] for s in _slides(state)} == {("line", "3,1", "3,0"), ("line", "4,0", "3,0")}
    before = progress(state)
    state = play(state, type="recovery_slide", from_="3,1", to="3,0", recoveryOption=2, collapsePositions=run[1:])
    assert rules.state_to_json(state)["board"]["markers"].keys() == {"0,0"}
    assert player_field(state, 1, "eliminatedRings") == 0
    assert progress(state) == before, "Option 2 only moves and collapses markers"


STRIKE = """
    .  .   . . . .  . .
    .  .   . . . .  . .
    .  .   . . . .  . .
    .  .   . . . .  . .
    .  .   . . . .  . .
    .  .   . . . 21 . .
    .  221 . . . .  . .
    m1 .   . . . .  . .
    """


def test_without_a_line_slide_fallback_and_stack_strike_are_offered() -> None:
    """§10.2: no slide makes a line, so every slide to an empty neighbour (fallback) and onto a
    neighbouring stack (stack-strike) is offered, each once per extraction stack."""
    state = _to_movement(STRIKE)
    both = [frozenset({"1,6"}), frozenset({"5,5"})]
    assert _slides(state) == {
        (mode, "0,7", to, None, None, stack)
        for mode, to in (("fallback", "0,6"), ("fallback", "1,7"), ("stack_strike", "1,6"))
        for stack in both
    }


def test_stack_strike_eliminates_the_top_ring_and_extracts_a_buried_one() -> None:
    """§10.3: the marker is removed, the struck stack loses its top ring, and P1's bottom-most ring
    leaves the chosen stack: +2 eliminated for P1, S +1."""
    state = _to_movement(STRIKE)
    before = progress(state)
    state = play(state, type="recovery_slide", recoveryMode="stack_strike", to="1,6", extractionStacks=["5,5"])
    assert_board(state, sparse_text("square8", {"1,6": "21", "5,5": "2"}))
    assert player_field(state, 1, "eliminatedRings") == 2
    assert progress(state) - before == 1


def test_fallback_slide_moves_the_marker_and_extracts() -> None:
    state = _to_movement(STRIKE)
    state = play(state, type="recovery_slide", recoveryMode="fallback", to="0,6", extractionStacks=["1,6"])
    assert_board(state, sparse_text("square8", {"0,6": "m1", "1,6": "22", "5,5": "21"}))
    assert player_field(state, 1, "eliminatedRings") == 1


def test_region_after_a_recovery_slide_is_paid_with_a_buried_ring() -> None:
    """§9.2/§9.3 recovery context: a fallback slide walls P2's stack in at (0,0); P1 may take the
    region, paying with its bottom-most buried ring from a stack outside it (context "recovery")."""
    state = _to_movement(sparse_text("square8", {"0,0": "2", "1,0": "m1", "1,1": "m1", "6,2": "21", "5,5": "211"}))
    state = play(state, type="recovery_slide", recoveryMode="fallback", from_="1,1", to="0,1", extractionStacks=["5,5"])
    state = play(state, type="no_line_action")
    assert phase_and_player(state) == ("territory_processing", 1)
    assert move_types(state) == {"choose_territory_option", "skip_territory_processing"}
    state = play(state, type="choose_territory_option", regionSpaces=["0,0"])
    costs = {(js["to"]["x"], js["to"]["y"], js.get("eliminationContext")) for _, js in legal_move_jsons(state)}
    assert costs == {(5, 5, "recovery"), (6, 2, "recovery")}
    state = play(state, type="eliminate_rings_from_stack", to="6,2")
    assert_board(state, sparse_text("square8", {"0,0": "#1", "1,0": "#1", "0,1": "#1", "6,2": "2", "5,5": "21"}))
    assert player_field(state, 1, "eliminatedRings") == 3  # extraction, P2's ring in the region, cost
    assert phase_and_player(state) == ("ring_placement", 2)


def test_blocked_player_walks_the_no_action_moves_into_forced_elimination() -> None:
    """§4.3 (blocked player: no_placement, no_movement, no_line, then forced elimination without a
    territory move), §11 (one move per controlled stack; the whole cap goes)."""
    state = load(
        "square8",
        """
        11  222 . . . . .   .
        222 222 . . . . .   .
        .   .   . . . . .   .
        .   .   . . . . .   .
        .   .   . . . . .   .
        .   .   . . . . .   .
        .   .   . . . . 222 222
        .   .   . . . . 222 1
        """,
        rings_in_hand={1: 0, 2: 0},
        eliminated={2: 15},
    )
    for forced in ("no_placement_action", "no_movement_action", "no_line_action"):
        assert move_types(state) == {forced}
        state = play(state, type=forced)
    assert phase_and_player(state) == ("forced_elimination", 1)
    targets = {(js["type"], js["to"]["x"], js["to"]["y"]) for _, js in legal_move_jsons(state)}
    assert targets == {("forced_elimination", 0, 0), ("forced_elimination", 7, 7)}
    state = play(state, type="forced_elimination", to="0,0")
    assert player_field(state, 1, "eliminatedRings") == 2
    assert "0,0" not in rules.state_to_json(state)["board"]["stacks"]
    assert phase_and_player(state) == ("ring_placement", 2)


def test_ring_elimination_victory() -> None:
    """§13.1: landing on an own marker eliminates P1's 18th credited ring (V = 18 on square8 2p)."""
    state = load(
        "square8",
        sparse_text("square8", {"2,2": "11", "2,4": "m1", "6,6": "2"}),
        phase="movement",
        rings_in_hand={1: 16, 2: 0},
        eliminated={1: 17},
    )
    state = play_bookkeeping(play(state, type="move_stack", from_="2,2", to="2,4"))
    assert rules.is_terminal(state) and rules.winner(state) == 1
    assert rules.ranking(state) == (1, 2)
    assert rules.legal_moves(state) == []


def test_early_last_player_standing_when_the_only_rival_loses_its_last_ring() -> None:
    """§13.3 (D14): P2's last ring dies in P1's region; P1 controls every stack and P2 owns nothing,
    so P1 wins at once although far from the ring and territory thresholds."""
    state = _enclose_corner(eliminated={2: 17})
    if not rules.is_terminal(state):
        state = play(state, type="eliminate_rings_from_stack", to="0,4")
    assert rules.is_terminal(state) and rules.winner(state) == 1
    assert player_field(state, 1, "territorySpaces") == 5


def test_round_based_last_player_standing_after_three_exclusive_rounds() -> None:
    """§13.4: P2 keeps a buried ring but never has a real action; P1 moves every turn and wins once
    three complete rounds had P1 as the only player able to act (D15: availability counts)."""
    state = load(
        "square8",
        sparse_text("square8", {"0,0": "1", "7,7": "12"}),
        rings_in_hand={1: 0, 2: 0},
        eliminated={1: 16, 2: 17},
    )
    # A zig-zag that never lines up four P1 markers, walls off a cell or offers a capture.
    path = [("0,0", "1,0"), ("1,0", "1,1"), ("1,1", "2,1"), ("2,1", "2,2"), ("2,2", "3,2"), ("3,2", "3,3")]
    made = 0
    while not rules.is_terminal(state):
        phase, player = phase_and_player(state)
        if player == 1 and phase == "movement":
            state = play(state, type="move_stack", from_=path[made][0], to=path[made][1])
            made += 1
            continue
        legal = legal_move_jsons(state)
        kinds = {js["type"] for _, js in legal}
        assert len(legal) == 1 or kinds == {"skip_capture", "overtaking_capture"}, kinds
        state = play(state, type="skip_capture" if "skip_capture" in kinds else legal[0][1]["type"])
        if made == 2:
            assert not rules.is_terminal(state), "one or two rounds are not enough"
    assert rules.winner(state) == 1
    assert made >= 3
    assert summarize(rules.state_to_json(state)).rings_on_board[2] == 1, "P2 still owns its buried ring"


# Bare board after P1's last ring dies on its own marker; 3 players (V = 24, so nobody wins on
# rings); every hand is empty. Ladder: territory, then eliminations (+ hand), then markers, then
# the last mover.
LADDER = {
    "territory": ({"7,0": "#1", "7,2": "#2", "7,4": "#3", "7,6": "#3"}, {1: 17, 2: 18, 3: 18}, 3),
    "eliminations": ({"7,0": "#1", "7,2": "#2", "7,4": "#2", "7,6": "#3", "5,7": "#3"}, {1: 16, 2: 19, 3: 18}, 2),
    "markers": (
        {"7,0": "#1", "7,2": "#2", "7,4": "#2", "7,6": "#3", "5,7": "#3", "4,4": "m2", "2,6": "m3", "6,2": "m3"},
        {1: 17, 2: 18, 3: 18},
        3,
    ),
    "last_mover": (
        {"7,0": "#1", "5,0": "#1", "7,2": "#2", "7,4": "#2", "7,6": "#3", "4,4": "m2"},
        {1: 17, 2: 18, 3: 18},
        1,
    ),
}


@pytest.mark.parametrize("rung", sorted(LADDER))
def test_bare_board_stalemate_ladder(rung: str) -> None:
    """§13.5: no stacks and no rings in hand end the game; the winner is decided rung by rung."""
    cells, eliminated, expected = LADDER[rung]
    state = load(
        "square8",
        sparse_text("square8", {"0,0": "1", "0,2": "m1", **cells}),
        num_players=3,
        phase="movement",
        rings_in_hand={1: 0, 2: 0, 3: 0},
        eliminated=eliminated,
    )
    state = play_bookkeeping(play(state, type="move_stack", from_="0,0", to="0,2"))
    assert rules.is_terminal(state)
    assert rules.winner(state) == expected
    assert rules.ranking(state)[expected - 1] == 1
