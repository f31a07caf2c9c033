"""Legal moves per phase (rules.md 4.1). Never empty while the game is active."""

from __future__ import annotations

from ringrift_hpc.rules.capture import add_captures, add_moves_and_captures
from ringrift_hpc.rules.elimination import cost_moves, forced_moves
from ringrift_hpc.rules.lines import line_moves
from ringrift_hpc.rules.moves import (
    CONTEXT_LINE,
    CONTEXT_RECOVERY,
    CONTEXT_TERRITORY,
    CONTINUE_CAPTURE_SEGMENT,
    NO_LINE_ACTION,
    NO_MOVEMENT_ACTION,
    NO_TERRITORY_ACTION,
    OVERTAKING_CAPTURE,
    SKIP_CAPTURE,
    SKIP_TERRITORY_PROCESSING,
    Move,
    tables,
)
from ringrift_hpc.rules.placement import placement_phase_moves
from ringrift_hpc.rules.recovery import recovery_eligible, recovery_moves
from ringrift_hpc.rules.state import (
    ACTIVE,
    CAPTURE,
    CHAIN_CAPTURE,
    FORCED_ELIMINATION,
    LINE_PROCESSING,
    MOVEMENT,
    RING_PLACEMENT,
    TERRITORY_PROCESSING,
    GameState,
)
from ringrift_hpc.rules.territory import region_moves


def legal_moves(s: GameState) -> list[Move]:
    """Every legal move of the player to move; empty only when the game is over.

    The list is memoised on the state (states never change), so calling it again, or
    `apply_move` after it, costs nothing extra. Do not mutate the returned list.
    """
    cached = s._legal
    if cached is not None:
        return cached
    moves = _generate(s) if s.status == ACTIVE else []
    s._legal = moves
    return moves


def _generate(s: GameState) -> list[Move]:
    p = s.current
    phase = s.phase
    t = tables(s.geo.board, s.geo.n)
    if phase == RING_PLACEMENT:
        return placement_phase_moves(s, p)
    if phase == MOVEMENT:
        out: list[Move] = []
        if s.must_move >= 0:
            origins = [s.must_move] if s.stacks[s.must_move] and s.stacks[s.must_move][-1] == p else []
        else:
            origins = s.geo.cells_of(s.control[p])
        for c in origins:
            add_moves_and_captures(s, c, p, out)
        if out:
            return out
        if not s.control[p] and recovery_eligible(s, p):
            return recovery_moves(s, p)
        return [t.bookkeeping(NO_MOVEMENT_ACTION, p)]
    if phase == CAPTURE or phase == CHAIN_CAPTURE:
        out = []
        # An imported state may not say which stack is capturing: then any controlled one may.
        kind = OVERTAKING_CAPTURE if phase == CAPTURE else CONTINUE_CAPTURE_SEGMENT
        for c in [s.chain_pos] if s.chain_pos >= 0 else s.geo.cells_of(s.control[p]):
            add_captures(s, c, p, kind, out)
        if phase == CAPTURE:
            out.append(t.bookkeeping(SKIP_CAPTURE, p))
        return out
    if phase == LINE_PROCESSING:
        if s.pending_line:
            return cost_moves(s, p, CONTEXT_LINE)
        return line_moves(s, p) or [t.bookkeeping(NO_LINE_ACTION, p)]
    if phase == TERRITORY_PROCESSING:
        if s.pending_region:
            return cost_moves(s, p, CONTEXT_RECOVERY if s.turn_recovery else CONTEXT_TERRITORY)
        regions = region_moves(s, p)
        if regions:
            regions.append(t.bookkeeping(SKIP_TERRITORY_PROCESSING, p))
            return regions
        return [t.bookkeeping(NO_TERRITORY_ACTION, p)]
    if phase == FORCED_ELIMINATION:
        return forced_moves(s, p)
    raise ValueError(f"state has unknown phase {phase!r}")
