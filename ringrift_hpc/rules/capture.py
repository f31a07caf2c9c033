"""Overtaking capture segments (rules.md 7)."""

from __future__ import annotations

from ringrift_hpc.rules.movement import land, path_between, process_path
from ringrift_hpc.rules.moves import OVERTAKING_CAPTURE, Move, tables
from ringrift_hpc.rules.state import GameState, cap_height, set_marker, set_stack


def add_captures(s: GameState, c: int, player: int, kind: str, out: list[Move]) -> None:
    """Append every legal capture segment by the stack on c, as moves of `kind`."""
    stacks = s.stacks
    cells = s.cells
    rings = stacks[c]
    h = len(rings)
    my_cap = cap_height(rings)
    capture = tables(s.geo.board, s.geo.n).capture
    for ray in s.geo.rays[c]:
        n = len(ray)
        i = 0
        while i < n:
            t = ray[i]
            if cells[t] < 0:
                break
            st = stacks[t]
            if st:
                if cap_height(st) <= my_cap:
                    j = i + 1
                    while j < n:
                        land_cell = ray[j]
                        if cells[land_cell] < 0 or stacks[land_cell]:
                            break
                        if j + 1 >= h:
                            out.append(capture(kind, player, c, t, land_cell))
                        j += 1
                break
            i += 1


def can_capture(s: GameState, c: int, h: int, my_cap: int) -> bool:
    """Whether a stack of height h and cap my_cap on c would have a capture segment."""
    stacks = s.stacks
    cells = s.cells
    for ray in s.geo.rays[c]:
        n = len(ray)
        i = 0
        while i < n:
            t = ray[i]
            if cells[t] < 0:
                break
            st = stacks[t]
            if st:
                if cap_height(st) <= my_cap:
                    j = i + 1
                    while j < n:
                        land_cell = ray[j]
                        if cells[land_cell] < 0 or stacks[land_cell]:
                            break
                        if j + 1 >= h:
                            return True
                        j += 1
                break
            i += 1
    return False


def has_capture(s: GameState, c: int) -> bool:
    rings = s.stacks[c]
    return can_capture(s, c, len(rings), cap_height(rings))


def apply_capture(s: GameState, player: int, frm: int, target: int, to: int) -> None:
    board = s.geo.board
    rings = s.stacks[frm]
    set_stack(s, frm, ())
    set_marker(s, frm, player)
    process_path(s, path_between(board, frm, target) or (), player)
    process_path(s, path_between(board, target, to) or (), player)
    victim = s.stacks[target]
    set_stack(s, target, victim[:-1])
    land(s, to, (victim[-1],) + rings, player)


def add_moves_and_captures(s: GameState, c: int, player: int, out: list[Move]) -> None:
    """Append every move_stack and overtaking_capture of the stack on c in one walk per ray."""
    stacks = s.stacks
    cells = s.cells
    rings = stacks[c]
    h = len(rings)
    my_cap = 0
    rays = s.geo.rays[c]
    t = tables(s.geo.board, s.geo.n)
    per_dir = t.rays_from(player, c, rays)
    capture = t.capture
    for d, ray in enumerate(rays):
        free = 0
        for cell in ray:
            if cells[cell] < 0 or stacks[cell]:
                break
            free += 1
        if free >= h:
            out.extend(per_dir[d][h - 1 : free])
        if free == len(ray):
            continue
        target = ray[free]
        st = stacks[target]
        if not st:
            continue
        if not my_cap:
            my_cap = cap_height(rings)
        if cap_height(st) > my_cap:
            continue
        for j in range(free + 1, len(ray)):
            landing = ray[j]
            if cells[landing] < 0 or stacks[landing]:
                break
            if j + 1 >= h:
                out.append(capture(OVERTAKING_CAPTURE, player, c, target, landing))
