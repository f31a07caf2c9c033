"""Hand-built positions: lines (exact, overlength option 1 and every option-2 segment, square and
hex) and territory (regions found through buried rings, sealed pockets, border-marker collapse).

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
    player_field,
    progress,
)

from ringrift_hpc import rules

LINE_SQUARE = """
    m1 m1 m1 1 {x4} . . .
    .  .  .  . .    . . .
    .  .  .  . .    . . .
    .  .  .  . .    . . .
    .  .  .  . .    . . .
    .  .  .  . .    . . .
    .  .  .  . .    . 11 .
    .  .  .  . .    . . .
    """


def _line_offers(state: Any) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    """(type, line cells, collapsed cells) of every line decision on offer."""
    offers = set()
    for _, js in legal_move_jsons(state):
        line = frozenset(f"{p['x']},{p['y']}" for p in js["formedLines"][0]["positions"])
        collapse = js.get("collapsedMarkers") or js["formedLines"][0]["positions"]
        offers.add((js["type"], line, frozenset(f"{p['x']},{p['y']}" for p in collapse)))
    return offers


def _cells(*keys: str) -> frozenset[str]:
    return frozenset(keys)


def test_exact_line_collapses_and_costs_one_ring_from_any_own_stack() -> None:
    """§8.2 (length = L: collapse all, owe one ring), §12 (line cost: one ring from the top of any
    controlled stack), D5 (then `no_line_action`)."""
    state = load("square8", LINE_SQUARE.format(x4="."), phase="movement")
    before = progress(state)
    state = play(state, type="move_stack", from_="3,0", to="3,1")
    assert phase_and_player(state) == ("line_processing", 1)
    line = _cells("0,0", "1,0", "2,0", "3,0")
    assert {(kind, cells, collapse) for kind, cells, collapse in _line_offers(state)} <= {
        ("process_line", line, line),
        ("choose_line_option", line, line),
    }
    assert "process_line" in move_types(state)
    state = play(state, type="process_line")
    costs = {(js["to"]["x"], js["to"]["y"], js.get("eliminationContext")) for _, js in legal_move_jsons(state)}
    assert costs == {(3, 1, "line"), (6, 6, "line")}
    state = play(state, type="eliminate_rings_from_stack", to="6,6")
    assert_board(
        state,
        """
        #1 #1 #1 #1 . . . .
        .  .  .  1  . . . .
        .  .  .  .  . . . .
        .  .  .  .  . . . .
        .  .  .  .  . . . .
        .  .  .  .  . . . .
        .  .  .  .  . . 1 .
        .  .  .  .  . . . .
        """,
    )
    assert move_types(state) == {"no_line_action"}
    assert progress(state) - before == 2  # departure marker, then one eliminated ring
    assert player_field(state, 1, "territorySpaces") == 4


def test_overlength_line_offers_option_one_and_every_option_two_segment() -> None:
    """§8.2 (length > L: collapse all, or any L consecutive markers for free), D10 (no
    `process_line` for an overlength line)."""
    state = load("square8", LINE_SQUARE.format(x4="m1"), phase="movement")
    state = play(state, type="move_stack", from_="3,0", to="3,1")
    line = _cells("0,0", "1,0", "2,0", "3,0", "4,0")
    assert _line_offers(state) == {
        ("choose_line_option", line, line),
        ("choose_line_option", line, _cells("0,0", "1,0", "2,0", "3,0")),
        ("choose_line_option", line, _cells("1,0", "2,0", "3,0", "4,0")),
    }


@pytest.mark.parametrize("option", [1, 2])
def test_overlength_line_options_differ_in_cost(option: int) -> None:
    state = load("square8", LINE_SQUARE.format(x4="m1"), phase="movement")
    state = play(state, type="move_stack", from_="3,0", to="3,1")
    every = ["0,0", "1,0", "2,0", "3,0", "4,0"]
    state = play(state, type="choose_line_option", collapsedMarkers=every if option == 1 else every[1:])
    if option == 1:
        assert {js["type"] for _, js in legal_move_jsons(state)} == {"eliminate_rings_from_stack"}
        assert player_field(state, 1, "territorySpaces") == 5
    else:
        # Option 2 is free; with no line left and nothing owed, line processing ends at once
        # (§4.2; `no_line_action` follows only a paid ring, D5) and the turn moves to territory.
        assert move_types(state) == {"no_territory_action"}
        assert rules.state_to_json(state)["board"]["markers"].keys() == {"0,0"}
        assert player_field(state, 1, "territorySpaces") == 4


def test_hex_overlength_line_offers_both_segments() -> None:
    """§8.1/§8.2 on hex8 (L = 4 with 2 players): a 5-marker line along one axis."""
    cells = {"-2,0,2": "m1", "-1,0,1": "m1", "0,0,0": "1", "1,0,-1": "m1", "2,0,-2": "m1", "3,-3,0": "11"}
    state = load("hex8", sparse_text("hex8", cells), phase="movement")
    state = play(state, type="move_stack", from_="0,0,0", to="0,1,-1")
    assert phase_and_player(state) == ("line_processing", 1)
    keys = ["-2,0", "-1,0", "0,0", "1,0", "2,0"]
    line = frozenset(keys)
    assert _line_offers(state) == {
        ("choose_line_option", line, line),
        ("choose_line_option", line, frozenset(keys[:4])),
        ("choose_line_option", line, frozenset(keys[1:])),
    }


REGION_WALL = """
    . .  . #2 . . . .
    . 12 . #2 . . . .
    . .  . #2 . . . .
    . .  . #2 . . . .
    . .  . #2 . . . .
    . .  . #2 . . . .
    . .  . #2 . . 1 .
    . .  . 1  . . . .
    """


def _region_offers(state: Any) -> set[frozenset[str]]:
    return {
        frozenset(f"{p['x']},{p['y']}" for p in js["disconnectedRegions"][0]["spaces"])
        for _, js in legal_move_jsons(state)
        if js["type"] == "choose_territory_option"
    }


def test_buried_rings_make_a_player_active_so_both_halves_are_regions() -> None:
    """§9.1 and D11: P2 owns only a ring buried under P1, yet counts as active, so each half of the
    board split by the wall holds stacks of fewer players than are active and is a region. Each
    half is processable because P1 has a stack in the other half (§9.2)."""
    state = load("square8", REGION_WALL, phase="movement")
    state = play(state, type="move_stack", from_="3,7", to="4,7")
    assert move_types(state) == {"no_line_action"}
    state = play(state, type="no_line_action")
    assert phase_and_player(state) == ("territory_processing", 1)
    left = frozenset(f"{x},{y}" for x in range(3) for y in range(8))
    right = frozenset(f"{x},{y}" for x in range(4, 8) for y in range(8))
    assert _region_offers(state) == {left, right}
    assert move_types(state) == {"choose_territory_option", "skip_territory_processing"}


def test_processing_a_region_collapses_it_with_its_border_and_costs_a_cap_outside() -> None:
    """§9.3: the region and its border marker collapse to the mover, every ring inside is credited
    to the mover, then only cap eliminations from stacks outside the region are legal; with no
    region left after paying, the turn ends without a further move (§4.3)."""
    state = load("square8", REGION_WALL, phase="movement")
    state = play(state, type="move_stack", from_="3,7", to="4,7")
    state = play(state, type="no_line_action")
    left = [f"{x},{y}" for x in range(3) for y in range(8)]
    state = play(state, type="choose_territory_option", regionSpaces=left)
    assert_board(
        state,
        """
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . . .
        #1 #1 #1 #2 . . 1 .
        #1 #1 #1 #1 1 . . .
        """,
    )
    assert player_field(state, 1, "eliminatedRings") == 2
    assert player_field(state, 1, "territorySpaces") == 25
    costs = {(js["to"]["x"], js["to"]["y"], js.get("eliminationContext")) for _, js in legal_move_jsons(state)}
    assert costs == {(4, 7, "territory"), (6, 6, "territory")}
    state = play(state, type="eliminate_rings_from_stack", to="6,6")
    assert player_field(state, 1, "eliminatedRings") == 3
    assert phase_and_player(state) == ("ring_placement", 2)


def test_sealed_pocket_makes_the_rest_of_the_board_a_region_and_wins_on_territory() -> None:
    """§9.1 pass B (rules.md's checked example): P1's lone stack walled in by collapsed cells, empty
    hand. P1 walks through the no-action moves, may take the 60-cell remainder (its sealed stack
    pays), eliminating P2's stack and winning on territory (§13.2; D17: at the latest once the cost
    is paid)."""
    state = load(
        "square8",
        """
        1  #2 . . . . . .
        #2 #2 . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . . . .
        .  .  . . . 2 . .
        .  .  . . . . . .
        .  .  . . . . . .
        """,
        rings_in_hand={1: 0, 2: 17},
        eliminated={2: 17},
    )
    for forced in ("no_placement_action", "no_movement_action", "no_line_action"):
        assert move_types(state) == {forced}
        state = play(state, type=forced)
    assert phase_and_player(state) == ("territory_processing", 1)
    rest = frozenset(f"{x},{y}" for x in range(8) for y in range(8)) - {"0,0", "1,0", "0,1", "1,1"}
    assert _region_offers(state) == {rest}
    state = play(state, type="choose_territory_option", regionSpaces=sorted(rest))
    assert player_field(state, 1, "territorySpaces") == 60
    if not rules.is_terminal(state):
        state = play(state, type="eliminate_rings_from_stack", to="0,0")
    assert rules.is_terminal(state) and rules.winner(state) == 1


BORDER_CLUSTER = """
    2 m1 .  .  . . . .
    1 .  m2 .  . . . .
    . .  .  m1 . . . .
    . .  .  .  . . . .
    . .  .  .  . . . .
    . .  .  .  . . . .
    . .  .  .  . . 1 .
    . .  .  .  . . . .
    """


def _enclose_corner(**kwargs: Any) -> Any:
    """P1 moves (0,1) away; its departure marker closes the wall around P2's stack at (0,0)."""
    state = load("square8", BORDER_CLUSTER, phase="movement", **kwargs)
    state = play(state, type="move_stack", from_="0,1", to="0,4")
    state = play(state, type="no_line_action")
    assert phase_and_player(state) == ("territory_processing", 1)
    assert _region_offers(state) == {frozenset({"0,0"})}
    return play(state, type="choose_territory_option", regionSpaces=["0,0"])


def test_border_collapse_takes_the_whole_marker_cluster_touching_the_region() -> None:
    """§9.3 step 1 and D12 (what the code does): the markers next to the region seed the border,
    which then grows through any Moore-adjacent marker of any colour, so P2's marker at (2,1) and
    P1's marker at (3,2) collapse too."""
    state = _enclose_corner()
    assert_board(
        state,
        """
        #1 #1 .  .  . . . .
        #1 .  #1 .  . . . .
        .  .  .  #1 . . . .
        .  .  .  .  . . . .
        1  .  .  .  . . . .
        .  .  .  .  . . . .
        .  .  .  .  . . 1 .
        .  .  .  .  . . . .
        """,
    )
    assert player_field(state, 1, "territorySpaces") == 5
    assert player_field(state, 1, "eliminatedRings") == 1
    assert not rules.is_terminal(state), "P2 still has rings in hand"
