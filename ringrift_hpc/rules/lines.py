"""Lines of markers (rules.md 8): detection, the decisions they offer, and their effect."""

from __future__ import annotations

from ringrift_hpc.rules.moves import CHOOSE_LINE_OPTION, PROCESS_LINE, Move
from ringrift_hpc.rules.state import GameState, collapse

_new = tuple.__new__


def _may_have_line(s: GameState, player: int) -> bool:
    """Bitboard pre-check: some run of L markers exists along some axis."""
    m = s.markers[player]
    if not m:
        return False
    L = s.params.line_length
    for sh in s.geo.line_shifts:
        t = m
        for i in range(1, L):
            t &= (m >> (sh * i)) if sh > 0 else (m << (-sh * i))
            if not t:
                break
        if t:
            return True
    return False


def find_lines(s: GameState, player: int) -> list[tuple[int, ...]]:
    """Every maximal run of the player's markers of length >= L, ordered along its axis."""
    if not _may_have_line(s, player):
        return []
    g = s.geo
    cells = s.cells
    L = s.params.line_length
    rays = g.rays
    found = []
    for c in g.cells_of(s.markers[player]):
        for fwd, back in g.line_axes:
            behind = rays[c][back]
            if behind and cells[behind[0]] == player:
                continue
            run = [c]
            for t in rays[c][fwd]:
                if cells[t] != player:
                    break
                run.append(t)
            if len(run) >= L:
                found.append(tuple(run))
    return found


def line_moves(s: GameState, player: int) -> list[Move]:
    """process_line for exact lines; option 1 and every option-2 window for longer ones."""
    board = s.geo.board
    L = s.params.line_length
    out = []
    for line in find_lines(s, player):
        if len(line) == L:
            out.append(_new(Move, (PROCESS_LINE, player, board, line[0], -1, -1, 0, line, line, "", 1, -1)))
        else:
            out.append(_new(Move, (CHOOSE_LINE_OPTION, player, board, line[0], -1, -1, 0, line, line, "", 1, -1)))
            for i in range(len(line) - L + 1):
                window = line[i : i + L]
                out.append(_new(Move, (CHOOSE_LINE_OPTION, player, board, line[0], -1, -1, 0, line, window, "", 2, -1)))
    return out


def apply_line(s: GameState, m: Move) -> None:
    """Collapse the chosen markers; a full collapse owes one ring if the player has a stack."""
    for c in m.collapse:
        collapse(s, c, m.player)
    if m.option == 1 and s.control[m.player]:
        s.pending_line = True
