"""The engine's fast paths (bitboards, cached tables) against slow, obvious re-implementations.

Positions come from seeded random play on every board, so the comparisons see crowded,
mid-game and late-game boards, not only hand-made ones.
"""

from __future__ import annotations

import random
from functools import cache

import pytest

from ringrift_hpc import rules
from ringrift_hpc.rules import geometry
from ringrift_hpc.rules.lines import find_lines
from ringrift_hpc.rules.state import cap_height
from ringrift_hpc.rules.territory import find_regions

BOARDS = ("square8", "hex8", "square19", "hexagonal")
SQUARE_DIRS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
HEX_DIRS = ((1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1))


@cache
def sample_states(board: str, players: int, games: int = 2) -> tuple[rules.GameState, ...]:
    out = []
    for seed in range(games):
        rng = random.Random(seed * 31 + players)
        s = rules.initial_state(board, players)
        step = 0
        while not rules.is_terminal(s):
            if step % 7 == 0:
                out.append(s)
            s = rules.apply_move_unchecked(s, rng.choice(rules.legal_moves(s)))
            step += 1
    return tuple(out)


def _dirs(board: str) -> tuple[tuple[int, int], ...]:
    return HEX_DIRS if geometry(board).is_hex else SQUARE_DIRS


def _walk(board: str, c: int, d: tuple[int, int]):
    g = geometry(board)
    x, y = g.coords[c][:2]
    while True:
        x, y = x + d[0], y + d[1]
        nxt = g.index.get((x, y))
        if nxt is None:
            return
        yield nxt


def _blocked(s: rules.GameState, c: int) -> bool:
    return bool(s.stacks[c]) or s.cells[c] < 0


def naive_alive(s: rules.GameState, c: int, height: int, cap: int) -> bool:
    for d in _dirs(s.board):
        ray = list(_walk(s.board, c, d))
        for dist, t in enumerate(ray, 1):
            if _blocked(s, t):
                break
            if dist >= height:
                return True
        for i, t in enumerate(ray):
            if s.cells[t] < 0:
                break
            if s.stacks[t]:
                if cap_height(s.stacks[t]) <= cap:
                    for j in range(i + 1, len(ray)):
                        if _blocked(s, ray[j]):
                            break
                        if j + 1 >= height:
                            return True
                break
    return False


def naive_placements(s: rules.GameState) -> set[tuple[int, int]]:
    p = s.current
    avail = min(s.hand[p], s.params.rings_per_player - s.on_board[p])
    out = set()
    for c in range(s.geo.n):
        if s.cells[c] != 0 or avail <= 0:
            continue
        st = s.stacks[c]
        if not st:
            out |= {(c, k) for k in range(1, min(3, avail) + 1) if naive_alive(s, c, k, k)}
        else:
            cap = cap_height(st) + 1 if st[-1] == p else 1
            if naive_alive(s, c, len(st) + 1, cap):
                out.add((c, 1))
    return out


def naive_regions(s: rules.GameState) -> set[frozenset[int]]:
    g = s.geo
    n = s.num_players
    active = {p for p in range(1, n + 1) if s.on_board[p] > 0}
    if not active:
        return set()

    def components(wall) -> list[set[int]]:
        seen: set[int] = set()
        comps = []
        for start in range(g.n):
            if start in seen or wall(start):
                continue
            comp = {start}
            todo = [start]
            while todo:
                c = todo.pop()
                for nb in g.territory_neighbours[c]:
                    if nb not in comp and not wall(nb):
                        comp.add(nb)
                        todo.append(nb)
            seen |= comp
            comps.append(comp)
        return comps

    def controllers(comp: set[int]) -> set[int]:
        return {s.stacks[c][-1] for c in comp if s.stacks[c]}

    found = set()
    for colour in {v for v in s.cells if v > 0}:
        for comp in components(lambda c, colour=colour: s.cells[c] < 0 or s.cells[c] == colour):
            if len(controllers(comp)) < len(active):
                found.add(frozenset(comp))
    if len(active) >= 2:
        for comp in components(lambda c: s.cells[c] < 0):
            if len(controllers(comp)) == 1:
                found.add(frozenset(comp))
    return found


def naive_lines(s: rules.GameState, player: int) -> set[frozenset[int]]:
    g = s.geo
    axes = ((1, 0), (1, -1), (0, -1)) if g.is_hex else ((1, 0), (1, 1), (0, 1), (1, -1))
    found = set()
    for c in range(g.n):
        if s.cells[c] != player:
            continue
        for a in axes:
            back = next(_walk(s.board, c, (-a[0], -a[1])), None)
            if back is not None and s.cells[back] == player:
                continue
            run = [c]
            for t in _walk(s.board, c, a):
                if s.cells[t] != player:
                    break
                run.append(t)
            if len(run) >= s.params.line_length:
                found.add(frozenset(run))
    return found


VARIANTS = [(b, n) for b in BOARDS for n in (2, 4)]


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_placement_generation_matches_the_obvious_one(board: str, players: int) -> None:
    for s in sample_states(board, players):
        if s.phase != "ring_placement" or s.status != "active":
            continue
        fast = {(m.to, m.placement_count) for m in rules.legal_moves(s) if m.kind == "place_ring"}
        assert fast == naive_placements(s), s


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_region_detection_matches_the_obvious_one(board: str, players: int) -> None:
    for s in sample_states(board, players):
        fast = {frozenset(s.geo.cells_of(r)) for r in find_regions(s)}
        assert fast == naive_regions(s), s


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_line_detection_matches_the_obvious_one(board: str, players: int) -> None:
    for s in sample_states(board, players):
        for p in range(1, players + 1):
            assert {frozenset(line) for line in find_lines(s, p)} == naive_lines(s, p)


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_movement_and_capture_generation_matches_the_obvious_one(board: str, players: int) -> None:
    for s in sample_states(board, players):
        if s.phase != "movement" or s.must_move >= 0 or s.status != "active":
            continue
        p = s.current
        want = set()
        for c in range(s.geo.n):
            st = s.stacks[c]
            if not st or st[-1] != p:
                continue
            for d in _dirs(board):
                ray = list(_walk(board, c, d))
                for dist, t in enumerate(ray, 1):
                    if _blocked(s, t):
                        break
                    if dist >= len(st):
                        want.add(("move_stack", c, -1, t))
                for i, t in enumerate(ray):
                    if s.cells[t] < 0:
                        break
                    if s.stacks[t]:
                        if cap_height(s.stacks[t]) <= cap_height(st):
                            for j in range(i + 1, len(ray)):
                                if _blocked(s, ray[j]):
                                    break
                                if j + 1 >= len(st):
                                    want.add(("overtaking_capture", c, t, ray[j]))
                        break
        got = {(m.kind, m.frm, m.target, m.to) for m in rules.legal_moves(s) if m.kind != "recovery_slide"}
        got.discard(("no_movement_action", -1, -1, -1))
        got.discard(("skip_recovery", -1, -1, -1))
        assert got == want, s


@pytest.mark.parametrize("board", BOARDS)
def test_geometry_tables_are_consistent(board: str) -> None:
    g = geometry(board)
    expected = {"square8": 64, "square19": 361, "hex8": 61, "hexagonal": 469}[board]
    assert g.n == expected == len(set(g.keys))
    assert g.cells_of(g.valid) and sorted(g.cells_of(g.valid)) == list(range(g.n))
    for c in range(g.n):
        assert g.bits_of([c]) == g.bit[c]
        for nb in g.territory_neighbours[c]:
            assert c in g.territory_neighbours[nb]
        for nb in g.neighbours[c]:
            assert c in g.neighbours[nb]
    assert len(g.territory_neighbours[0]) in (2, 3)


def test_hex8_border_growth_keeps_the_reference_parity_quirk() -> None:
    """D12: on hex8 the Moore x/y offsets include (+1,+1,-2), which is not a hex neighbour."""
    g = geometry("hex8")
    stride = 2 * g.radius + 2
    assert stride + 1 in g.moore_shifts and -(stride + 1) in g.moore_shifts
    assert geometry("hexagonal").moore_shifts == ()
