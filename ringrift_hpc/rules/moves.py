"""Moves: one immutable, hashable tuple type for every decision and bookkeeping step.

Cells are integer indices of the move's board (`ringrift_hpc.rules.geometry`). Fields a
move type does not use keep their defaults, so two moves are equal exactly when they are
the same decision. Field use per type:

=========================== ===================================================================
type                        fields
=========================== ===================================================================
place_ring                  to, placement_count (1-3)
move_stack                  frm, to
overtaking_capture,         frm, target (captured stack), to (landing)
continue_capture_segment
process_line                cells (the line, end to end), collapse (= cells), option 1
choose_line_option          cells, collapse (all = option 1, L consecutive = option 2), option
eliminate_rings_from_stack  to (stack), mode = context: "line" | "territory" | "recovery"
choose_territory_option     cells (the region, ascending), to (its first cell)
recovery_slide              frm, to, mode ("line" | "fallback" | "stack_strike"), option
                            (1 or 2 for line, 0 otherwise), collapse (option 2 window, or the
                            whole run for option 1), extract (extraction stack or -1)
forced_elimination          to (stack)
others                      nothing beyond kind and player
=========================== ===================================================================
"""

from __future__ import annotations

from typing import NamedTuple

PLACE_RING = "place_ring"
SKIP_PLACEMENT = "skip_placement"
NO_PLACEMENT_ACTION = "no_placement_action"
SWAP_SIDES = "swap_sides"
MOVE_STACK = "move_stack"
OVERTAKING_CAPTURE = "overtaking_capture"
CONTINUE_CAPTURE_SEGMENT = "continue_capture_segment"
SKIP_CAPTURE = "skip_capture"
RECOVERY_SLIDE = "recovery_slide"
SKIP_RECOVERY = "skip_recovery"
NO_MOVEMENT_ACTION = "no_movement_action"
PROCESS_LINE = "process_line"
CHOOSE_LINE_OPTION = "choose_line_option"
ELIMINATE_RINGS_FROM_STACK = "eliminate_rings_from_stack"
NO_LINE_ACTION = "no_line_action"
CHOOSE_TERRITORY_OPTION = "choose_territory_option"
SKIP_TERRITORY_PROCESSING = "skip_territory_processing"
NO_TERRITORY_ACTION = "no_territory_action"
FORCED_ELIMINATION = "forced_elimination"
RESIGN = "resign"
TIMEOUT = "timeout"

MOVE_TYPES: tuple[str, ...] = (
    PLACE_RING,
    SKIP_PLACEMENT,
    NO_PLACEMENT_ACTION,
    SWAP_SIDES,
    MOVE_STACK,
    OVERTAKING_CAPTURE,
    CONTINUE_CAPTURE_SEGMENT,
    SKIP_CAPTURE,
    RECOVERY_SLIDE,
    SKIP_RECOVERY,
    NO_MOVEMENT_ACTION,
    PROCESS_LINE,
    CHOOSE_LINE_OPTION,
    ELIMINATE_RINGS_FROM_STACK,
    NO_LINE_ACTION,
    CHOOSE_TERRITORY_OPTION,
    SKIP_TERRITORY_PROCESSING,
    NO_TERRITORY_ACTION,
    FORCED_ELIMINATION,
    RESIGN,
    TIMEOUT,
)

# Forced single moves: recorded, but never a decision (rules.md 4.1).
BOOKKEEPING_TYPES = frozenset({NO_PLACEMENT_ACTION, NO_MOVEMENT_ACTION, NO_LINE_ACTION, NO_TERRITORY_ACTION})

# Move types that do not count as changing the board this turn (rules.md 4.2).
NON_CHANGING_TYPES = frozenset(
    {
        NO_PLACEMENT_ACTION,
        NO_MOVEMENT_ACTION,
        NO_LINE_ACTION,
        NO_TERRITORY_ACTION,
        SKIP_PLACEMENT,
        SKIP_CAPTURE,
        SKIP_TERRITORY_PROCESSING,
        SKIP_RECOVERY,
    }
)

CONTEXT_LINE = "line"
CONTEXT_TERRITORY = "territory"
CONTEXT_RECOVERY = "recovery"

RECOVERY_LINE = "line"
RECOVERY_FALLBACK = "fallback"
RECOVERY_STACK_STRIKE = "stack_strike"


class Move(NamedTuple):
    """One move. `board` names the board whose cell indices the move uses."""

    kind: str
    player: int
    board: str
    to: int = -1
    frm: int = -1
    target: int = -1
    placement_count: int = 0
    cells: tuple[int, ...] = ()
    collapse: tuple[int, ...] = ()
    mode: str = ""
    option: int = 0
    extract: int = -1

    def __repr__(self) -> str:
        parts = [f"{self.kind} p{self.player}"]
        for name in ("frm", "target", "to", "extract"):
            v = getattr(self, name)
            if v >= 0:
                parts.append(f"{name}={v}")
        if self.placement_count:
            parts.append(f"placement_count={self.placement_count}")
        if self.mode:
            parts.append(f"mode={self.mode}")
        if self.option:
            parts.append(f"option={self.option}")
        if self.cells:
            parts.append(f"cells={list(self.cells)}")
        if self.collapse and self.collapse != self.cells:
            parts.append(f"collapse={list(self.collapse)}")
        return f"Move({self.board}: {', '.join(parts)})"


_new = tuple.__new__


def make(kind: str, player: int, board: str, to: int = -1, frm: int = -1, target: int = -1) -> Move:
    """Fast constructor for the common cell-only moves."""
    return _new(Move, (kind, player, board, to, frm, target, 0, (), (), "", 0, -1))


class MoveTables:
    """Per-board caches of the moves that depend only on cells, so generation allocates nothing."""

    __slots__ = ("board", "captures", "place", "place_chunks", "simple", "step_rays", "steps")

    def __init__(self, board: str, n: int, max_players: int = 4) -> None:
        self.board = board
        # place[p][cell * 3 + count - 1]
        self.place: list[list[Move]] = [
            [_new(Move, (PLACE_RING, p, board, c, -1, -1, k, (), (), "", 0, -1)) for c in range(n) for k in (1, 2, 3)]
            for p in range(max_players + 1)
        ]
        # place_chunks[p][kmax]: lazily built per-byte tuples of placements, see placement.py
        self.place_chunks: list[list[list[tuple[Move, ...] | None] | None]] = [[None] * 4 for _ in range(max_players + 1)]
        self.simple: dict[tuple[str, int], Move] = {}
        self.steps: list[dict[int, Move]] = [{} for _ in range(max_players + 1)]
        # step_rays[p][cell]: per direction, the move_stack moves along that ray (lazily built)
        self.step_rays: list[list[tuple[tuple[Move, ...], ...] | None]] = [[None] * n for _ in range(max_players + 1)]
        self.captures: list[dict[tuple[int, int, int, str], Move]] = [{} for _ in range(max_players + 1)]

    def bookkeeping(self, kind: str, player: int) -> Move:
        key = (kind, player)
        m = self.simple.get(key)
        if m is None:
            m = self.simple[key] = make(kind, player, self.board)
        return m

    def step(self, player: int, frm: int, to: int) -> Move:
        key = frm * 100000 + to
        table = self.steps[player]
        m = table.get(key)
        if m is None:
            m = table[key] = make(MOVE_STACK, player, self.board, to, frm)
        return m

    def rays_from(
        self, player: int, frm: int, rays: tuple[tuple[int, ...], ...]
    ) -> tuple[tuple[Move, ...], ...]:
        per_dir = self.step_rays[player][frm]
        if per_dir is None:
            per_dir = self.step_rays[player][frm] = tuple(tuple(self.step(player, frm, t) for t in ray) for ray in rays)
        return per_dir

    def capture(self, kind: str, player: int, frm: int, target: int, to: int) -> Move:
        key = (frm, target, to, kind)
        table = self.captures[player]
        m = table.get(key)
        if m is None:
            m = table[key] = make(kind, player, self.board, to, frm, target)
        return m


_TABLES: dict[str, MoveTables] = {}


def tables(board: str, n: int) -> MoveTables:
    t = _TABLES.get(board)
    if t is None:
        t = _TABLES[board] = MoveTables(board, n)
    return t
