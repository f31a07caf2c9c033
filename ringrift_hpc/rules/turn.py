"""The phase machine between moves (rules.md 4.2): rules X and Y, end of turn, rotation."""

from __future__ import annotations

from ringrift_hpc.rules.capture import has_capture
from ringrift_hpc.rules.state import (
    CAPTURE,
    CHAIN_CAPTURE,
    FORCED_ELIMINATION,
    LINE_PROCESSING,
    RING_PLACEMENT,
    TERRITORY_PROCESSING,
    GameState,
    rings_anywhere,
)
from ringrift_hpc.rules.territory import processable_regions
from ringrift_hpc.rules.victory import check_victory, lps_turn_start


def after_plain_move(s: GameState, landing: int) -> None:
    """After move_stack: optional capture phase if the moved stack can capture."""
    rings = s.stacks[landing]
    if rings and rings[-1] == s.current and has_capture(s, landing):
        s.phase = CAPTURE
        s.chain_pos = landing
        s.must_move = landing
    else:
        enter_lines(s)


def after_capture(s: GameState, landing: int) -> None:
    """After a capture segment: the chain continues while a segment exists."""
    rings = s.stacks[landing]
    if rings and rings[-1] == s.current and has_capture(s, landing):
        s.phase = CHAIN_CAPTURE
        s.chain_pos = landing
        s.must_move = landing
    else:
        enter_lines(s)


def enter_lines(s: GameState) -> None:
    s.phase = LINE_PROCESSING
    s.must_move = -1
    s.chain_pos = -1


def leave_lines(s: GameState) -> None:
    """Rule X."""
    p = s.current
    if processable_regions(s, p):
        s.phase = TERRITORY_PROCESSING
    elif not s.turn_changed and s.control[p]:
        s.phase = FORCED_ELIMINATION
    else:
        s.phase = TERRITORY_PROCESSING


def territory_done(s: GameState) -> None:
    """Rule Y."""
    if not s.turn_changed and s.control[s.current]:
        s.phase = FORCED_ELIMINATION
    else:
        end_turn(s)


def end_turn(s: GameState) -> None:
    """Victory check, then the next seat that still owns a ring starts in ring placement."""
    n = s.num_players
    for p in range(1, n + 1):
        if not s.out_turn[p] and rings_anywhere(s, p) == 0:
            out = list(s.out_turn)
            out[p] = s.turn_number
            s.out_turn = tuple(out)
    if check_victory(s):
        return
    nxt = s.current
    for _ in range(n):
        nxt = nxt % n + 1
        if rings_anywhere(s, nxt) > 0:
            break
    s.current = nxt
    s.phase = RING_PLACEMENT
    s.must_move = -1
    s.chain_pos = -1
    s.pending_line = False
    s.pending_region = False
    s.turn_changed = False
    s.turn_recovery = False
    s.turn_number += 1
    lps_turn_start(s)
