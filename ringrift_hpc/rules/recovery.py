"""Recovery (rules.md 10): marker slides for a player who controls no stack.

Decisions made explicit (docs/rules-decisions.md, D13): the extraction stack is the
player's choice (one move per eligible stack), and every Option-2 window of the formed
run that contains the landing cell is offered.
"""

from __future__ import annotations

from ringrift_hpc.rules.moves import (
    RECOVERY_FALLBACK,
    RECOVERY_LINE,
    RECOVERY_SLIDE,
    RECOVERY_STACK_STRIKE,
    SKIP_RECOVERY,
    Move,
    tables,
)
from ringrift_hpc.rules.state import (
    GameState,
    buried_bits,
    collapse,
    set_marker,
    set_stack,
)

_new = tuple.__new__


def recovery_eligible(s: GameState, player: int) -> bool:
    """No controlled stack, a marker on the board, and a buried ring (all its rings are buried)."""
    return not s.control[player] and bool(s.markers[player]) and s.on_board[player] > 0


def run_through(s: GameState, frm: int, to: int, player: int) -> tuple[int, ...]:
    """Longest run of player markers through `to` after sliding the marker off `frm`.

    Ties between axes go to the first axis in the board's axis order.
    """
    g = s.geo
    cells = s.cells
    best: tuple[int, ...] = ()
    for fwd, back in g.line_axes:
        before = []
        for c in g.rays[to][back]:
            if c == frm or cells[c] != player or s.stacks[c]:
                break
            before.append(c)
        after = []
        for c in g.rays[to][fwd]:
            if c == frm or cells[c] != player or s.stacks[c]:
                break
            after.append(c)
        if len(before) + 1 + len(after) > len(best):
            best = tuple(reversed(before)) + (to,) + tuple(after)
    return best


def extraction_stacks(s: GameState, player: int, exclude_bits: int = 0) -> list[int]:
    """Stacks (outside `exclude_bits`) holding a buried ring of the player, in cell order."""
    return sorted(s.geo.cells_of(buried_bits(s, player) & ~exclude_bits))


def recovery_moves(s: GameState, player: int) -> list[Move]:
    """skip_recovery plus every legal slide (rules.md 10.1-10.3)."""
    g = s.geo
    board = g.board
    L = s.params.line_length
    cells = s.cells
    stacks = s.stacks
    line_moves: list[tuple[int, int, tuple[int, ...]]] = []
    empty_targets: list[tuple[int, int]] = []
    strikes: list[tuple[int, int]] = []
    for frm in g.cells_of(s.markers[player]):
        for to in g.neighbours[frm]:
            if stacks[to]:
                strikes.append((frm, to))
            elif cells[to] == 0:
                run = run_through(s, frm, to, player)
                if len(run) >= L:
                    line_moves.append((frm, to, run))
                else:
                    empty_targets.append((frm, to))
    out: list[Move] = [tables(board, g.n).bookkeeping(SKIP_RECOVERY, player)]
    extract = extraction_stacks(s, player)
    if line_moves:
        for frm, to, run in line_moves:
            for e in extract:
                out.append(_new(Move, (RECOVERY_SLIDE, player, board, to, frm, -1, 0, run, run, RECOVERY_LINE, 1, e)))
            if len(run) > L:
                pos = run.index(to)
                for start in range(max(0, pos - L + 1), min(pos, len(run) - L) + 1):
                    window = run[start : start + L]
                    out.append(_new(Move, (RECOVERY_SLIDE, player, board, to, frm, -1, 0, run, window, RECOVERY_LINE, 2, -1)))
        return out
    for frm, to in empty_targets:
        for e in extract:
            out.append(_new(Move, (RECOVERY_SLIDE, player, board, to, frm, -1, 0, (), (), RECOVERY_FALLBACK, 0, e)))
    for frm, to in strikes:
        for e in strike_extractions(s, player, to):
            out.append(_new(Move, (RECOVERY_SLIDE, player, board, to, frm, -1, 0, (), (), RECOVERY_STACK_STRIKE, 0, e)))
    return out


def strike_extractions(s: GameState, player: int, struck: int) -> list[int]:
    """Extraction choices after the strike removed the top ring of `struck`.

    If the strike leaves the player no buried ring at all, the slide pays no extraction (-1).
    """
    rings = s.stacks[struck]
    out = []
    for e in extraction_stacks(s, player):
        if e != struck or player in rings[:-2]:
            out.append(e)
    return out or [-1]


def extract_ring(s: GameState, player: int, c: int) -> None:
    """Remove the player's bottom-most ring from the stack on c (credited to the player)."""
    rings = s.stacks[c]
    i = rings.index(player)
    rest = rings[:i] + rings[i + 1 :]
    set_stack(s, c, rest)
    s.on_board[player] -= 1
    s.eliminated[player] += 1


def apply_recovery(s: GameState, m: Move) -> None:
    player = m.player
    if m.mode == RECOVERY_STACK_STRIKE:
        set_marker(s, m.frm, 0)
        rings = s.stacks[m.to]
        s.on_board[rings[-1]] -= 1
        s.eliminated[player] += 1
        set_stack(s, m.to, rings[:-1])
    else:
        set_marker(s, m.frm, 0)
        set_marker(s, m.to, player)
        for c in m.collapse:
            collapse(s, c, player)
    if m.extract >= 0:
        extract_ring(s, player, m.extract)
