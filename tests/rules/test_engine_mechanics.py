"""Engine unit tests: one rule mechanic per test, on small hand-made positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ringrift_hpc import rules
from ringrift_hpc.rules import Move, geometry

R = {"square8": 18, "square19": 72, "hex8": 18, "hexagonal": 96}


def position(
    board: str = "square8",
    *,
    stacks: Mapping[str, Sequence[int]] | None = None,
    markers: Mapping[str, int] | None = None,
    collapsed: Mapping[str, int] | None = None,
    hands: Sequence[int] | None = None,
    eliminated: Sequence[int] | None = None,
    current: int = 1,
    phase: str = "ring_placement",
    players: int = 2,
    **extra: Any,
) -> rules.GameState:
    """A state from reference JSON; stacks are top-first owner lists keyed "x,y"."""
    hands = hands if hands is not None else [R[board]] * players
    eliminated = eliminated if eliminated is not None else [0] * players
    obj: dict[str, Any] = {
        "board": {
            "type": board,
            "stacks": {k: {"rings": list(v)} for k, v in (stacks or {}).items()},
            "markers": {k: {"player": p} for k, p in (markers or {}).items()},
            "collapsedSpaces": dict(collapsed or {}),
        },
        "players": [
            {"playerNumber": i + 1, "ringsInHand": hands[i], "eliminatedRings": eliminated[i], "territorySpaces": 0}
            for i in range(players)
        ],
        "currentPlayer": current,
        "currentPhase": phase,
        "gameStatus": "active",
        "moveHistory": [],
    }
    obj.update(extra)
    return rules.state_from_json(obj)


def cell(board: str, key: str) -> int:
    return geometry(board).index[tuple(int(v) for v in key.split(","))[:2]]


def keys(board: str, cells: Sequence[int]) -> list[str]:
    return [geometry(board).keys[c] for c in cells]


def kinds(state: rules.GameState) -> set[str]:
    return {m.kind for m in rules.legal_moves(state)}


def only(state: rules.GameState, kind: str) -> Move:
    moves = [m for m in rules.legal_moves(state) if m.kind == kind]
    assert len(moves) == 1, moves
    return moves[0]


def play_bookkeeping(state: rules.GameState) -> rules.GameState:
    """Apply forced single moves until a real decision (or the end) is reached."""
    while not rules.is_terminal(state):
        moves = rules.legal_moves(state)
        if len(moves) != 1 or not moves[0].kind.startswith("no_"):
            return state
        state = rules.apply_move(state, moves[0])
    return state


# ---------------------------------------------------------------- placement


def test_each_placement_count_is_checked_on_its_own() -> None:
    """D7: a single ring at (0,0) is dead (walled in, cap too small to capture); 2 or 3 can capture."""
    s = position(stacks={"1,0": [2, 2], "5,5": [2]}, collapsed={"0,1": 2, "1,1": 2})
    corner = cell("square8", "0,0")
    counts = sorted(m.placement_count for m in rules.legal_moves(s) if m.kind == "place_ring" and m.to == corner)
    assert counts == [2, 3]


def test_all_three_counts_are_offered_on_an_open_cell() -> None:
    """D8: every count is its own decision."""
    s = rules.initial_state("square8", 2)
    centre = cell("square8", "3,3")
    assert sorted(m.placement_count for m in rules.legal_moves(s) if m.to == centre) == [1, 2, 3]
    assert len(rules.legal_moves(s)) == 64 * 3


def test_placement_on_a_stack_is_one_ring_and_sets_must_move() -> None:
    s = position(stacks={"3,3": [2]}, hands=[5, 17])
    target = cell("square8", "3,3")
    on_stack = [m for m in rules.legal_moves(s) if m.to == target]
    assert [m.placement_count for m in on_stack] == [1]
    after = rules.apply_move(s, on_stack[0])
    assert after.phase == "movement" and after.must_move == target
    origins = {m.frm for m in rules.legal_moves(after)}
    assert origins == {target}


def test_skip_placement_needs_a_stack_that_can_act() -> None:
    stuck = position(stacks={"0,0": [1], "7,7": [2]}, collapsed={"1,0": 2, "0,1": 2, "1,1": 2}, hands=[3, 18])
    assert "skip_placement" not in kinds(stuck)
    free = position(stacks={"3,3": [1], "7,7": [2]}, hands=[3, 18])
    assert "skip_placement" in kinds(free)


def test_empty_hand_gives_only_no_placement_action() -> None:
    s = position(stacks={"3,3": [1], "7,7": [2]}, hands=[0, 18])
    assert kinds(s) == {"no_placement_action"}


# ---------------------------------------------------------------- movement


def test_move_flips_opponent_markers_collapses_own_and_pays_for_a_marker_landing() -> None:
    s = position(
        stacks={"0,0": [1, 1], "7,7": [2]},
        markers={"1,0": 2, "2,0": 1, "3,0": 2},
        phase="movement",
        hands=[0, 18],
    )
    move = next(m for m in rules.legal_moves(s) if m.kind == "move_stack" and m.to == cell("square8", "3,0"))
    after = rules.apply_move(s, move)
    js = rules.state_to_json(after)
    assert js["board"]["markers"].keys() == {"0,0", "1,0"}
    assert js["board"]["markers"]["1,0"]["player"] == 1
    assert js["board"]["collapsedSpaces"] == {"2,0": 1}
    assert js["board"]["stacks"]["3,0"]["rings"] == [1]
    assert js["players"][0]["eliminatedRings"] == 1
    assert js["players"][0]["territorySpaces"] == 1


def test_moves_must_travel_at_least_the_stack_height() -> None:
    s = position(stacks={"3,3": [1, 2, 1], "7,7": [2]}, phase="movement", hands=[0, 18])
    origin = cell("square8", "3,3")
    g = geometry("square8")
    for m in rules.legal_moves(s):
        if m.kind == "move_stack":
            (x0, y0), (x1, y1) = g.coords[origin], g.coords[m.to]
            assert max(abs(x1 - x0), abs(y1 - y0)) >= 3


# ---------------------------------------------------------------- capture


def test_capture_then_optional_capture_phase_after_a_plain_move() -> None:
    s = position(stacks={"0,0": [1], "2,1": [2], "7,7": [2]}, phase="movement", hands=[0, 18])
    step = next(m for m in rules.legal_moves(s) if m.kind == "move_stack" and m.to == cell("square8", "1,1"))
    after = rules.apply_move(s, step)
    assert after.phase == "capture"
    assert kinds(after) == {"overtaking_capture", "skip_capture"}
    assert all(m.frm == cell("square8", "1,1") for m in rules.legal_moves(after) if m.kind == "overtaking_capture")
    declined = rules.apply_move(after, only(after, "skip_capture"))
    assert declined.phase == "line_processing"


def test_chain_may_reverse_over_the_same_stack() -> None:
    """A 180-degree reversal over the stack just captured is legal (rules.md 7.3)."""
    s = position(stacks={"0,0": [1], "1,0": [2, 1], "7,7": [2]}, phase="movement", hands=[0, 17])
    first = next(
        m for m in rules.legal_moves(s) if m.kind == "overtaking_capture" and m.to == cell("square8", "2,0")
    )
    after = rules.apply_move(s, first)
    assert after.phase == "chain_capture"
    segments = {(m.target, m.to) for m in rules.legal_moves(after)}
    assert (cell("square8", "1,0"), cell("square8", "0,0")) in segments
    assert all(m.kind == "continue_capture_segment" for m in rules.legal_moves(after))


def test_single_ring_attacker_landing_on_a_marker_loses_control_and_the_chain_ends() -> None:
    s = position(
        stacks={"0,0": [1], "1,0": [2], "3,0": [2], "7,7": [2]},
        markers={"2,0": 2},
        phase="movement",
        hands=[0, 15],
    )
    capture = next(
        m for m in rules.legal_moves(s) if m.kind == "overtaking_capture" and m.to == cell("square8", "2,0")
    )
    after = rules.apply_move(s, capture)
    js = rules.state_to_json(after)
    assert js["board"]["stacks"]["2,0"]["rings"] == [2]
    assert after.phase == "line_processing"
    assert js["players"][0]["eliminatedRings"] == 1


def test_capture_needs_cap_at_least_the_targets_cap() -> None:
    s = position(stacks={"0,0": [1], "1,0": [2, 2], "7,7": [2]}, phase="movement", hands=[0, 14])
    assert not [m for m in rules.legal_moves(s) if m.kind == "overtaking_capture"]


# ---------------------------------------------------------------- lines


def _line_state(length: int, *, with_stack: bool = True) -> rules.GameState:
    markers = {f"{x},3": 1 for x in range(length)}
    stacks = {"7,7": [1], "6,0": [2]} if with_stack else {"6,0": [2]}
    return position(stacks=stacks, markers=markers, phase="line_processing", hands=[5, 5])


def test_exact_line_is_one_process_line_and_owes_a_ring() -> None:
    s = _line_state(4)
    move = only(s, "process_line")
    after = rules.apply_move(s, move)
    assert after.pending_line
    assert kinds(after) == {"eliminate_rings_from_stack"}
    paid = rules.apply_move(after, rules.legal_moves(after)[0])
    assert kinds(paid) == {"no_line_action"}
    assert rules.state_to_json(paid)["players"][0]["territorySpaces"] == 4


def test_overlength_line_offers_option_one_and_every_window() -> None:
    s = _line_state(6)
    moves = [m for m in rules.legal_moves(s) if m.kind == "choose_line_option"]
    assert sorted(m.option for m in moves) == [1, 2, 2, 2]
    windows = {tuple(keys("square8", m.collapse)) for m in moves if m.option == 2}
    assert windows == {
        ("0,3", "1,3", "2,3", "3,3"),
        ("1,3", "2,3", "3,3", "4,3"),
        ("2,3", "3,3", "4,3", "5,3"),
    }
    option2 = next(m for m in moves if m.option == 2)
    after = rules.apply_move(s, option2)
    assert not after.pending_line
    assert after.phase == "territory_processing"


def test_line_cost_is_waived_without_a_controlled_stack() -> None:
    s = _line_state(4, with_stack=False)
    after = rules.apply_move(s, only(s, "process_line"))
    assert not after.pending_line
    assert after.phase == "territory_processing"


# ---------------------------------------------------------------- territory


def test_sealed_pocket_gives_the_rest_of_the_board_as_a_region() -> None:
    """rules.md 9.1: P1's lone stack walled in by collapsed cells; the 60-cell remainder holding
    P2's only stack becomes P1's region, paid by the sealed stack, and wins on territory."""
    s = position(
        stacks={"0,0": [1], "5,5": [2]},
        collapsed={"1,0": 1, "0,1": 1, "1,1": 1},
        hands=[0, 0],
    )
    s = play_bookkeeping(s)
    regions = [m for m in rules.legal_moves(s) if m.kind == "choose_territory_option"]
    assert [len(m.cells) for m in regions] == [60]
    assert "skip_territory_processing" in kinds(s)
    after = rules.apply_move(s, regions[0])
    assert kinds(after) == {"eliminate_rings_from_stack"}
    done = rules.apply_move(after, rules.legal_moves(after)[0])
    assert rules.is_terminal(done)
    assert rules.winner(done) == 1
    assert done.victory_reason == "territory_control"


def test_region_with_only_buried_rings_of_a_player_counts_that_player_active() -> None:
    """D11: P2 owns only a buried ring, so every marker-bounded component qualifies."""
    s = position(
        stacks={"0,0": [1], "6,6": [1, 2]},
        markers={"2,0": 1, "2,1": 1, "1,2": 1, "0,2": 1},
        phase="territory_processing",
        hands=[3, 3],
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    regions = sorted(len(m.cells) for m in rules.legal_moves(s) if m.kind == "choose_territory_option")
    assert regions == [4, 56]


def test_border_markers_collapse_with_the_region() -> None:
    s = position(
        stacks={"0,0": [2], "6,6": [1]},
        markers={"1,0": 1, "1,1": 1, "0,1": 1, "2,2": 2},
        phase="territory_processing",
        hands=[3, 3],
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    corner = next(m for m in rules.legal_moves(s) if m.kind == "choose_territory_option" and len(m.cells) == 1)
    after = rules.apply_move(s, corner)
    js = rules.state_to_json(after)
    # (2,2) is diagonal to (1,1): the Moore growth takes it too (D12).
    assert set(js["board"]["collapsedSpaces"]) == {"0,0", "1,0", "1,1", "0,1", "2,2"}
    assert js["players"][0]["eliminatedRings"] == 1


def test_forced_elimination_ends_a_blocked_turn_without_a_territory_move() -> None:
    # P2's taller caps block every ray from (0,0) and cannot be captured.
    # P1 keeps a buried ring at (1,0), so it is still in the game afterwards.
    s = position(stacks={"0,0": [1, 1], "1,0": [2, 2, 2, 1], "0,1": [2, 2, 2], "1,1": [2, 2, 2]}, hands=[0, 9])
    s = play_bookkeeping(s)
    assert s.phase == "forced_elimination"
    after = rules.apply_move(s, only(s, "forced_elimination"))
    assert after.current == 2 and after.phase == "ring_placement"
    assert rules.state_to_json(after)["players"][0]["eliminatedRings"] == 2


# ---------------------------------------------------------------- recovery


def test_recovery_line_slide_offers_each_extraction_stack_and_each_window() -> None:
    s = position(
        stacks={"7,7": [2, 1], "7,5": [2, 1], "6,0": [2]},
        markers={"0,0": 1, "1,0": 1, "2,0": 1, "4,0": 1, "3,1": 1},
        phase="movement",
        hands=[0, 5],
    )
    moves = rules.legal_moves(s)
    assert "skip_recovery" in kinds(s)
    slides = [m for m in moves if m.kind == "recovery_slide"]
    assert {m.mode for m in slides} == {"line"}
    into_gap = [m for m in slides if keys("square8", [m.frm, m.to]) == ["3,1", "3,0"]]
    option1 = sorted(keys("square8", [m.extract])[0] for m in into_gap if m.option == 1)
    assert option1 == ["7,5", "7,7"]
    windows = {tuple(keys("square8", m.collapse)) for m in into_gap if m.option == 2}
    assert windows == {("0,0", "1,0", "2,0", "3,0"), ("1,0", "2,0", "3,0", "4,0")}
    taken = next(m for m in into_gap if m.option == 1 and keys("square8", [m.extract]) == ["7,5"])
    after = rules.apply_move(s, taken)
    js = rules.state_to_json(after)
    assert js["board"]["stacks"]["7,5"]["rings"] == [2]
    assert js["players"][0]["eliminatedRings"] == 1
    assert len(js["board"]["collapsedSpaces"]) == 5
    assert after.turn_recovery and after.phase == "line_processing"


def test_recovery_without_a_line_offers_fallback_and_stack_strike() -> None:
    s = position(
        stacks={"1,1": [2, 1], "6,6": [2]},
        markers={"0,0": 1},
        phase="movement",
        hands=[0, 5],
    )
    modes = {m.mode for m in rules.legal_moves(s) if m.kind == "recovery_slide"}
    assert modes == {"fallback", "stack_strike"}
    strike = next(m for m in rules.legal_moves(s) if m.mode == "stack_strike")
    after = rules.apply_move(s, strike)
    js = rules.state_to_json(after)
    # The strike takes P2's top ring; P1's ring is now on top, so no buried ring is left to extract.
    assert strike.extract == -1
    assert js["board"]["stacks"]["1,1"]["rings"] == [1]
    assert js["board"]["markers"] == {}
    assert js["players"][0]["eliminatedRings"] == 1


def test_no_move_means_no_movement_action_not_recovery() -> None:
    s = position(stacks={"6,6": [2]}, markers={"0,0": 1}, phase="movement", hands=[3, 5])
    assert kinds(s) == {"no_movement_action"}


@pytest.mark.parametrize("board", ["square8", "hex8", "square19", "hexagonal"])
def test_every_opening_move_is_a_placement(board: str) -> None:
    s = rules.initial_state(board, 2)
    assert kinds(s) == {"place_ring"}
    assert len(rules.legal_moves(s)) == geometry(board).n * 3


def test_three_player_lines_need_only_three_markers() -> None:
    """D21: L = 3 on square8 with 3-4 players."""
    s = position(
        players=3,
        stacks={"7,7": [1], "6,0": [2], "0,7": [3]},
        markers={"0,3": 1, "1,3": 1, "2,3": 1},
        phase="line_processing",
        hands=[5, 5, 5],
    )
    assert [len(m.cells) for m in rules.legal_moves(s) if m.kind == "process_line"] == [3]


def test_hex_lines_run_along_the_three_axes() -> None:
    s = position(
        "hex8",
        stacks={"4,-4,0": [1], "-4,4,0": [2]},
        markers={"0,0,0": 1, "1,-1,0": 1, "2,-2,0": 1, "3,-3,0": 1},
        phase="line_processing",
        hands=[5, 5],
    )
    line = only(s, "process_line")
    assert keys("hex8", line.cells) == ["0,0,0", "1,-1,0", "2,-2,0", "3,-3,0"]


def test_region_after_a_recovery_slide_is_paid_with_a_buried_ring() -> None:
    """rules.md 9.2 / 9.3: in the recovery context the cost is P's bottom-most buried ring
    from a stack outside the region, whoever controls it."""
    s = position(
        stacks={"0,0": [2], "6,6": [2, 1, 2]},
        markers={"1,0": 1, "1,1": 1, "0,1": 1},
        phase="territory_processing",
        hands=[0, 5],
        moveHistory=[{"type": "recovery_slide", "player": 1}],
    )
    corner = next(m for m in rules.legal_moves(s) if m.kind == "choose_territory_option" and len(m.cells) == 1)
    after = rules.apply_move(s, corner)
    cost = only(after, "eliminate_rings_from_stack")
    assert (cost.mode, keys("square8", [cost.to])) == ("recovery", ["6,6"])
    paid = rules.apply_move(after, cost)
    js = rules.state_to_json(paid)
    assert js["board"]["stacks"]["6,6"]["rings"] == [2, 2]
    assert js["players"][0]["eliminatedRings"] == 2
