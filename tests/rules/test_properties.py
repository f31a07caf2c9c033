"""Invariants of uniformly random play on all 12 variants (4 boards x 2-4 players).

Checked at every step: per-colour ring conservation, the progress measure S (rules.md §16),
a non-empty legal set while active, bounded stretches without progress. Checked on sampled
steps (to stay fast): every listed move applies, no move is listed twice, unlisted variants of
listed moves are rejected, `apply_move` leaves its input untouched, move and state JSON
round-trips hold, and the fingerprint
(§1.8) agrees with one computed independently from the JSON. Separately: games end within the
bound S gives, seeded play is reproducible, and finished games have a winner and a full ranking.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from ascii_board import BOARD_SPECS, board_rows, key
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rules_helpers import (
    BOOKKEEPING_TYPES,
    VARIANTS,
    fingerprint_hash,
    fingerprint_text,
    max_game_moves,
    move_key,
    reference_fingerprint,
    simple_hash,
    summarize,
)

from ringrift_hpc import rules

SMALL = ("square8", "hex8")
EXAMPLES = {"square8": 10, "hex8": 10, "square19": 3, "hexagonal": 3}
STEPS = {"square8": 400, "hex8": 400, "square19": 250, "hexagonal": 250}
SAMPLE_EVERY = {"square8": 3, "hex8": 3, "square19": 6, "hexagonal": 6}
# Moves that must strictly increase S: each leaves a departure marker or eliminates a ring.
S_GROWING = frozenset(
    {
        "move_stack",
        "overtaking_capture",
        "continue_capture_segment",
        "eliminate_rings_from_stack",
        "forced_elimination",
    }
)
# Moves that leave S unchanged: placements add rings from hand, line collapses turn markers
# into collapsed cells one for one, and bookkeeping changes nothing on the board.
S_KEEPING = frozenset({"place_ring", "swap_sides", "process_line"}) | BOOKKEEPING_TYPES
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def _variant_id(variant: tuple[str, int]) -> str:
    return f"{variant[0]}-{variant[1]}p"


def _all_cells(board: str) -> list[str]:
    return [key(c) for row in board_rows(board) for c in row]


def _expected_s_change(move_js: dict[str, Any], delta: int) -> bool:
    kind = move_js["type"]
    if kind in S_GROWING:
        return delta > 0
    if kind in S_KEEPING:
        return delta == 0
    if kind == "recovery_slide":
        option = move_js.get("recoveryOption", move_js.get("option"))
        mode = move_js.get("recoveryMode")
        # Option 2 only slides a marker and collapses markers. A strike's removed marker is matched
        # by the ring it eliminates, so S grows by its extraction, which it lacks when the struck
        # stack held the player's last buried ring (rules.md 10.3). Every other slide extracts one.
        if mode == "line" and option == 2:
            return delta == 0
        if mode == "stack_strike":
            return delta == len(move_js.get("extractionStacks") or [])
        return delta == 1
    if kind == "choose_line_option":
        return delta == 0
    return delta >= 0


def _perturbations(move_js: dict[str, Any], rng: random.Random, cells: list[str], seats: int) -> list[dict[str, Any]]:
    """Nearby variants of a legal move: another cell, another count, another player."""
    variants = []
    if move_js.get("to") is not None and move_js["type"] not in BOOKKEEPING_TYPES:
        other = dict(move_js)
        x, y, *z = (int(v) for v in rng.choice(cells).split(","))
        other["to"] = {"x": x, "y": y, **({"z": z[0]} if z else {})}
        variants.append(other)
    if move_js["type"] == "place_ring":
        other = dict(move_js)
        other["placementCount"] = rng.randint(1, 4)
        variants.append(other)
    other = dict(move_js)
    other["player"] = rng.randint(1, seats)
    variants.append(other)
    return variants


def _check_listed_moves_apply(state: Any, legal: list[Any], rng: random.Random) -> None:
    sample = legal if len(legal) <= 24 else rng.sample(legal, 24)
    for move in sample:
        after = rules.apply_move(state, move)
        reparsed = rules.move_from_json(rules.move_to_json(move), state)
        assert fingerprint_hash(rules.apply_move(state, reparsed)) == fingerprint_hash(after), (
            f"move JSON round trip changed the effect of {rules.move_to_json(move)}"
        )


def _check_unlisted_moves_rejected(state: Any, legal: list[Any], board: str, seats: int, rng: random.Random) -> None:
    listed = {move_key(rules.move_to_json(m), board) for m in legal}
    assert len(listed) == len(legal), "the legal list repeats a move (e.g. one region under two colours)"
    cells = _all_cells(board)
    for move in rng.sample(legal, min(3, len(legal))):
        for variant in _perturbations(rules.move_to_json(move), rng, cells, seats):
            if move_key(variant, board) in listed:
                continue
            with pytest.raises(rules.IllegalMoveError):
                rules.apply_move(state, rules.move_from_json(variant, state))


def _check_round_trip(state: Any, js: dict[str, Any], board: str) -> None:
    again = rules.state_from_json(js)
    assert rules.state_to_json(again) == js
    assert rules.fingerprint(again) == rules.fingerprint(state)
    assert {move_key(rules.move_to_json(m), board) for m in rules.legal_moves(again)} == {
        move_key(rules.move_to_json(m), board) for m in rules.legal_moves(state)
    }, "an imported state offers different moves: per-turn flags were lost in the JSON"
    text = reference_fingerprint(js)
    assert fingerprint_text(state) == text
    assert fingerprint_hash(state) == simple_hash(text)


def _check_conservation(js: dict[str, Any], out_before: dict[int, int], rings: int) -> dict[int, int]:
    """Per colour: hand + on board + out of play = R, with out of play never shrinking."""
    summary = summarize(js)
    out = {p: rings - summary.rings_in_hand[p] - summary.rings_on_board[p] for p in summary.rings_in_hand}
    for p, gone in out.items():
        assert 0 <= gone and gone >= out_before.get(p, 0), f"rings of colour {p} reappeared: {out_before} -> {out}"
    assert sum(out.values()) == summary.eliminated_total, "eliminated rings credited != rings out of play"
    return out


def _pick(rng: random.Random, legal: list[Any], by_type: bool) -> Any:
    """A uniform move, or (by_type) a uniform move type first, so rare decisions such as recovery
    slides and line options are played far more often than uniform play reaches them."""
    if not by_type:
        return rng.choice(legal)
    by_kind: dict[str, list[Any]] = {}
    for move in legal:
        by_kind.setdefault(rules.move_to_json(move)["type"], []).append(move)
    return rng.choice(by_kind[rng.choice(sorted(by_kind))])


def play_and_check(
    board: str, num_players: int, seed: int, steps: int, sample_every: int, *, by_type: bool = False
) -> None:
    rng = random.Random(seed)
    rings = BOARD_SPECS[board].rings_per_player
    state = rules.initial_state(board, num_players)
    js = rules.state_to_json(state)
    out = _check_conservation(js, {}, rings)
    since_progress = 0
    for step in range(steps):
        if rules.is_terminal(state):
            assert not rules.legal_moves(state), "a finished game still lists legal moves"
            return
        assert rules.winner(state) is None, "an active game has a winner"
        legal = list(rules.legal_moves(state))
        assert legal, f"no legal move while active at step {step}: {fingerprint_text(state)}"
        sampled = step % sample_every == 0
        if sampled:
            _check_listed_moves_apply(state, legal, rng)
            _check_unlisted_moves_rejected(state, legal, board, num_players, rng)
            _check_round_trip(state, js, board)
        move = _pick(rng, legal, by_type)
        move_js = rules.move_to_json(move)
        after = rules.apply_move(state, move)
        if sampled:
            assert rules.state_to_json(state) == js, f"apply_move changed its input ({move_js['type']})"
        after_js = rules.state_to_json(after)
        delta = summarize(after_js).progress - summarize(js).progress
        assert _expected_s_change(move_js, delta), f"{move_js['type']} changed S by {delta} at step {step}"
        out = _check_conservation(after_js, out, rings)
        since_progress = 0 if delta > 0 else since_progress + 1
        assert since_progress <= 12 * num_players + 12, f"{since_progress} moves without progress"
        state, js = after, after_js


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_random_play_invariants(variant: tuple[str, int]) -> None:
    board, num_players = variant

    @settings(max_examples=EXAMPLES[board], deadline=None)
    @given(seed=SEEDS, by_type=st.booleans())
    @example(seed=300, by_type=True)  # square8 2p: a strike that uncovers the last buried ring
    def check(seed: int, by_type: bool) -> None:
        play_and_check(board, num_players, seed, STEPS[board], SAMPLE_EVERY[board], by_type=by_type)

    check()


def _finish(board: str, num_players: int, seed: int) -> tuple[Any, list[str]]:
    """Play a random game to its end with the fast path; the final state and the hash trail."""
    rng = random.Random(seed)
    state = rules.initial_state(board, num_players)
    trail = [fingerprint_hash(state)]
    bound = max_game_moves(board, num_players)
    for _ in range(bound):
        if rules.is_terminal(state):
            return state, trail
        legal = rules.legal_moves(state)
        state = rules.apply_move_unchecked(state, legal[rng.randrange(len(legal))])
        trail.append(fingerprint_hash(state))
    raise AssertionError(f"{board} {num_players}p seed {seed}: no end after {bound} moves")


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_games_end_with_a_winner_and_a_full_ranking(variant: tuple[str, int]) -> None:
    board, num_players = variant

    @settings(max_examples=4 if board in SMALL else 1, deadline=None)
    @given(seed=SEEDS)
    def check(seed: int) -> None:
        state, _ = _finish(board, num_players, seed)
        winner = rules.winner(state)
        ranking = rules.ranking(state)
        assert winner in range(1, num_players + 1)
        assert len(ranking) == num_players and ranking[winner - 1] == 1
        # Competition ranking ("1-2-2-4"): a rank r is shared by seats with exactly r-1 seats ahead.
        for rank in ranking:
            assert sum(1 for other in ranking if other < rank) == rank - 1, ranking
        assert sum(1 for rank in ranking if rank == 1) == 1, f"the winner shares rank 1: {ranking}"

    check()


@pytest.mark.parametrize("board", sorted(BOARD_SPECS))
def test_seeded_play_is_reproducible(board: str) -> None:
    _, first = _finish(board, 2, seed=12345)
    _, second = _finish(board, 2, seed=12345)
    assert first == second
