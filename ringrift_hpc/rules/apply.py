"""Applying moves: the validating entry point and the unchecked fast path for search."""

from __future__ import annotations

from ringrift_hpc.rules.capture import apply_capture
from ringrift_hpc.rules.elimination import apply_cost, remove_cap
from ringrift_hpc.rules.errors import IllegalMoveError, explain_illegal
from ringrift_hpc.rules.legal import legal_moves
from ringrift_hpc.rules.lines import apply_line, find_lines
from ringrift_hpc.rules.movement import apply_move_stack
from ringrift_hpc.rules.moves import (
    CHOOSE_LINE_OPTION,
    CHOOSE_TERRITORY_OPTION,
    CONTEXT_LINE,
    CONTINUE_CAPTURE_SEGMENT,
    ELIMINATE_RINGS_FROM_STACK,
    FORCED_ELIMINATION,
    MOVE_STACK,
    NO_LINE_ACTION,
    NO_MOVEMENT_ACTION,
    NO_PLACEMENT_ACTION,
    NO_TERRITORY_ACTION,
    NON_CHANGING_TYPES,
    OVERTAKING_CAPTURE,
    PLACE_RING,
    PROCESS_LINE,
    RECOVERY_SLIDE,
    RESIGN,
    SKIP_CAPTURE,
    SKIP_PLACEMENT,
    SKIP_RECOVERY,
    SKIP_TERRITORY_PROCESSING,
    SWAP_SIDES,
    TIMEOUT,
    Move,
)
from ringrift_hpc.rules.placement import apply_place
from ringrift_hpc.rules.recovery import apply_recovery
from ringrift_hpc.rules.state import ACTIVE, MOVEMENT, GameState
from ringrift_hpc.rules.territory import apply_region, processable_regions
from ringrift_hpc.rules.turn import (
    after_capture,
    after_plain_move,
    end_turn,
    enter_lines,
    leave_lines,
    territory_done,
)
from ringrift_hpc.rules.victory import RESIGNATION, finish
from ringrift_hpc.rules.victory import TIMEOUT as TIMEOUT_REASON


def apply_move(state: GameState, move: Move) -> GameState:
    """Apply a legal move and return the new state; raises IllegalMoveError otherwise.

    Legality is membership in `legal_moves(state)` (memoised on the state), plus the
    host-level `resign` / `timeout` by the player to move.
    """
    if move.kind in (RESIGN, TIMEOUT):
        if state.status != ACTIVE or move.player != state.current or move.board != state.geo.board:
            raise IllegalMoveError(move, state, explain_illegal(state, move))
        return apply_move_unchecked(state, move)
    if move not in legal_moves(state):
        raise IllegalMoveError(move, state, explain_illegal(state, move))
    return apply_move_unchecked(state, move)


def apply_move_unchecked(state: GameState, move: Move) -> GameState:
    """Apply a move assumed legal (search fast path): no validation at all.

    The effect follows the move's type whatever the phase, which also lets a replay apply
    recorded moves of older engines; an impossible move may raise or corrupt the state.
    """
    kind = move.kind
    changing = kind not in NON_CHANGING_TYPES
    s = state.copy(board=changing)
    s.move_count += 1
    s.last_mover = move.player
    if changing:
        s.turn_changed = True
    p = move.player
    if kind == PLACE_RING:
        apply_place(s, p, move.to, move.placement_count)
        s.phase = MOVEMENT
        s.must_move = move.to
    elif kind == MOVE_STACK:
        apply_move_stack(s, p, move.frm, move.to)
        after_plain_move(s, move.to)
    elif kind == OVERTAKING_CAPTURE or kind == CONTINUE_CAPTURE_SEGMENT:
        apply_capture(s, p, move.frm, move.target, move.to)
        after_capture(s, move.to)
    elif kind == NO_LINE_ACTION:
        leave_lines(s)
    elif kind == NO_TERRITORY_ACTION or kind == SKIP_TERRITORY_PROCESSING:
        territory_done(s)
    elif kind == SKIP_PLACEMENT or kind == NO_PLACEMENT_ACTION:
        s.phase = MOVEMENT
    elif kind == SKIP_CAPTURE or kind == NO_MOVEMENT_ACTION or kind == SKIP_RECOVERY:
        enter_lines(s)
    elif kind == PROCESS_LINE or kind == CHOOSE_LINE_OPTION:
        apply_line(s, move)
        if not s.pending_line and not find_lines(s, p):
            leave_lines(s)
    elif kind == ELIMINATE_RINGS_FROM_STACK:
        apply_cost(s, move)
        if move.mode == CONTEXT_LINE:
            s.pending_line = False
        else:
            s.pending_region = False
            if not processable_regions(s, p):
                territory_done(s)
    elif kind == CHOOSE_TERRITORY_OPTION:
        apply_region(s, p, move.cells)
    elif kind == RECOVERY_SLIDE:
        apply_recovery(s, move)
        s.turn_recovery = True
        enter_lines(s)
    elif kind == FORCED_ELIMINATION:
        remove_cap(s, p, move.to)
        end_turn(s)
    elif kind == SWAP_SIDES:
        s.swapped = not s.swapped
    elif kind == RESIGN or kind == TIMEOUT:
        winner = 0
        if s.num_players == 2:
            winner = 3 - p
        finish(s, winner, RESIGNATION if kind == RESIGN else TIMEOUT_REASON)
    else:
        raise ValueError(f"unknown move type {kind!r}")
    return s
