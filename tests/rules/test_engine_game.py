"""Engine unit tests for whole-game behaviour: turn flow, victory, ranking, pie rule, resign."""

from __future__ import annotations

from test_engine_mechanics import cell, kinds, only, play_bookkeeping, position

from ringrift_hpc import rules
from ringrift_hpc.rules import Move


def test_plain_turn_records_bookkeeping_and_passes_the_turn() -> None:
    s = rules.initial_state("square8", 2)
    s = rules.apply_move(s, next(m for m in rules.legal_moves(s) if m.to == cell("square8", "3,3") and m.placement_count == 1))
    s = rules.apply_move(s, next(m for m in rules.legal_moves(s) if m.to == cell("square8", "3,4")))
    assert kinds(s) == {"no_line_action"}
    s = rules.apply_move(s, only(s, "no_line_action"))
    assert kinds(s) == {"no_territory_action"}
    s = rules.apply_move(s, only(s, "no_territory_action"))
    assert (s.current, s.phase, s.turn_number) == (2, "ring_placement", 2)


def test_ring_elimination_victory_at_turn_end() -> None:
    s = position(
        stacks={"3,3": [1, 1], "6,6": [2]},
        markers={"3,5": 2},
        eliminated=[17, 0],
        phase="movement",
        hands=[0, 10],
    )
    landing = next(m for m in rules.legal_moves(s) if m.kind == "move_stack" and m.to == cell("square8", "3,5"))
    s = rules.apply_move(s, landing)
    assert not rules.is_terminal(s), "victory waits for the end of the turn (D17)"
    s = play_bookkeeping(s)
    assert rules.is_terminal(s)
    assert (rules.winner(s), s.victory_reason) == (1, "ring_elimination")
    assert rules.ranking(s) == (1, 2)
    assert rules.legal_moves(s) == []


def test_territory_victory_needs_dominance() -> None:
    """33 collapsed cells reach the 2-player minimum only with more than all opponents together."""
    collapsed = {f"{x},{y}": 1 for x in range(4) for y in range(8)}
    collapsed.update({f"{x},{y}": 2 for x in range(4, 8) for y in range(4)})
    s = position(
        stacks={"5,5": [1], "7,7": [2]},
        collapsed=collapsed,
        phase="territory_processing",
        hands=[5, 5],
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    s = rules.apply_move(s, only(s, "no_territory_action"))
    assert not rules.is_terminal(s), "32 cells are below the minimum of 33"


def test_early_last_player_standing() -> None:
    """D14: P1 collapses the region holding P2's last ring; P1 then controls every stack while
    P2 owns nothing, so P1 wins when the turn ends."""
    s = position(
        stacks={"0,0": [2], "5,5": [1], "6,6": [1]},
        markers={"1,0": 1, "0,1": 1, "1,1": 1},
        phase="territory_processing",
        hands=[0, 0],
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    corner = next(m for m in rules.legal_moves(s) if m.kind == "choose_territory_option" and len(m.cells) == 1)
    s = rules.apply_move(s, corner)
    s = rules.apply_move(s, next(m for m in rules.legal_moves(s) if m.to == cell("square8", "5,5")))
    assert rules.is_terminal(s)
    assert (rules.winner(s), s.victory_reason) == (1, "last_player_standing")


def test_round_based_last_player_standing_after_three_exclusive_rounds() -> None:
    """D15: P2 owns only a buried ring, no marker and no hand, so it never has a real action.
    Tracking starts with turn 2; the third exclusive round closes at turn 8 and P1 wins when
    turn 9 starts."""
    s = position(stacks={"0,0": [1], "18,18": [1, 2]}, board="square19", hands=[30, 0])
    while not rules.is_terminal(s):
        moves = rules.legal_moves(s)
        pick = next((m for m in moves if m.kind in ("skip_territory_processing", "place_ring")), moves[0])
        s = rules.apply_move(s, pick)
        assert s.turn_number <= 9
    assert (rules.winner(s), s.victory_reason, s.turn_number) == (1, "last_player_standing", 9)


def _bare_board(eliminated: list[int], collapsed: dict[str, int], markers: dict[str, int]) -> rules.GameState:
    s = position(
        collapsed=collapsed,
        markers=markers,
        eliminated=eliminated,
        phase="territory_processing",
        hands=[0, 0],
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    return rules.apply_move(s, only(s, "no_territory_action"))


def test_stalemate_ladder_uses_eliminations_after_territory() -> None:
    s = _bare_board([10, 12], {"0,0": 1, "1,0": 2}, {"5,5": 1})
    assert (rules.winner(s), s.victory_reason) == (2, "stalemate")
    assert rules.ranking(s) == (2, 1)


def test_stalemate_full_tie_goes_to_the_last_mover() -> None:
    """D16: tied on territory, eliminations and markers; P1 made the last move."""
    s = _bare_board([10, 10], {"0,0": 1, "1,0": 2}, {"5,5": 1, "6,6": 2})
    assert rules.winner(s) == 1
    assert rules.ranking(s) == (1, 2)


def test_ranking_shares_ranks_on_full_ties() -> None:
    s = position(
        players=4,
        stacks={"0,0": [1], "7,7": [2], "0,7": [3], "7,0": [4]},
        collapsed={"3,3": 2, "3,4": 3},
        hands=[5, 5, 5, 5],
    )
    assert rules.ranking(s) == (3, 1, 1, 3)


def test_pie_rule_is_off_by_default_and_offered_once_when_enabled() -> None:
    def first_turn(state: rules.GameState) -> rules.GameState:
        state = rules.apply_move(state, next(m for m in rules.legal_moves(state) if m.placement_count == 1))
        state = rules.apply_move(state, next(m for m in rules.legal_moves(state) if m.kind == "move_stack"))
        return play_bookkeeping(state)

    plain = first_turn(rules.initial_state("square8", 2))
    assert "swap_sides" not in kinds(plain)
    s = first_turn(rules.initial_state("square8", 2, rules_options={"swapRuleEnabled": True}))
    assert s.current == 2 and "swap_sides" in kinds(s)
    swapped = rules.apply_move(s, only(s, "swap_sides"))
    assert swapped.swapped and swapped.current == 2 and swapped.phase == "ring_placement"
    assert rules.fingerprint(swapped).text.split("#")[1:] == rules.fingerprint(s).text.split("#")[1:]
    assert "swap_sides" not in kinds(swapped)


def test_resign_ends_a_two_player_game_for_the_other_seat() -> None:
    s = rules.initial_state("hex8", 2)
    done = rules.apply_move(s, Move("resign", 1, "hex8"))
    assert rules.is_terminal(done) and rules.winner(done) == 2
    assert rules.ranking(done) == (2, 1)


def test_resign_in_three_player_game_has_no_winner_and_ranks_the_quitter_last() -> None:
    s = rules.initial_state("square8", 3)
    done = rules.apply_move(s, Move("resign", 1, "square8"))
    assert rules.is_terminal(done) and rules.winner(done) is None
    assert rules.ranking(done)[0] == 3


def test_turn_skips_players_without_rings() -> None:
    """A seat that owns no ring anywhere is skipped at rotation."""
    s = position(
        players=3,
        stacks={"0,0": [1], "7,7": [3], "5,5": [1, 2]},
        hands=[3, 0, 3],
        phase="territory_processing",
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    s = rules.apply_move(s, only(s, "no_territory_action"))
    assert s.current == 2, "P2 still owns a buried ring"
    s2 = position(
        players=3,
        stacks={"0,0": [1], "7,7": [3]},
        hands=[3, 0, 3],
        phase="territory_processing",
        moveHistory=[{"type": "move_stack", "player": 1}],
    )
    s2 = rules.apply_move(s2, only(s2, "no_territory_action"))
    assert s2.current == 3
