"""Non-capture movement (rules.md 6) and the path effects shared with captures."""

from __future__ import annotations

from ringrift_hpc.rules.geometry import geometry
from ringrift_hpc.rules.state import GameState, Rings, collapse, set_marker, set_stack

_PATHS: dict[str, dict[int, tuple[int, ...] | None]] = {}


def path_between(board: str, a: int, b: int) -> tuple[int, ...] | None:
    """Cells strictly between a and b if they lie on one movement direction, else None."""
    cache = _PATHS.setdefault(board, {})
    key = a * 1000 + b
    if key in cache:
        return cache[key]
    g = geometry(board)
    result = None
    for ray in g.rays[a]:
        if b in ray:
            result = ray[: ray.index(b)]
            break
    cache[key] = result
    return result


def can_move_stack(s: GameState, c: int, h: int) -> bool:
    """Whether a stack of height h on c would have a legal non-capture move (it moves exactly h)."""
    stacks = s.stacks
    cells = s.cells
    for ray in s.geo.rays[c]:
        if len(ray) < h:
            continue
        for t in ray[:h]:
            if cells[t] < 0 or stacks[t]:
                break
        else:
            return True
    return False


def process_path(s: GameState, path: tuple[int, ...], player: int) -> None:
    """Flip opponent markers to `player`; collapse the player's own markers (rules.md 6.2)."""
    cells = s.cells
    for c in path:
        code = cells[c]
        if code > 0:
            if code == player:
                collapse(s, c, player)
            else:
                set_marker(s, c, player)


def land(s: GameState, c: int, rings: Rings, player: int) -> None:
    """Put a moving stack down on c; landing on a marker costs its top ring (credited to player)."""
    if s.cells[c] > 0:
        set_marker(s, c, 0)
        top = rings[-1]
        rings = rings[:-1]
        s.on_board[top] -= 1
        s.eliminated[player] += 1
    set_stack(s, c, rings)


def apply_move_stack(s: GameState, player: int, frm: int, to: int) -> None:
    rings = s.stacks[frm]
    set_stack(s, frm, ())
    set_marker(s, frm, player)
    process_path(s, path_between(s.geo.board, frm, to) or (), player)
    land(s, to, rings, player)
