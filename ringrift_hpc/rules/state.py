"""The game state: flat per-cell lists plus bitboards kept in step with them.

A `GameState` is never changed after the engine returns it; `apply_move` copies the few
mutable containers (two per-cell lists and some short per-player lists) and edits the copy.
Stacks are tuples of ring owners **bottom first** (`rings[-1]` is the top ring, `()` means no
stack); the JSON boundary converts to the reference's top-first lists.

Cell codes in `cells`: 0 empty (or a stack), p > 0 a marker of player p, -p a cell
collapsed to player p. Per-player lists are indexed by seat (index 0 unused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ringrift_hpc.rules.geometry import Geometry, geometry, rings_per_player

if TYPE_CHECKING:
    from ringrift_hpc.rules.moves import Move

Rings = tuple[int, ...]  # ring owners, bottom first

RING_PLACEMENT = "ring_placement"
MOVEMENT = "movement"
CAPTURE = "capture"
CHAIN_CAPTURE = "chain_capture"
LINE_PROCESSING = "line_processing"
TERRITORY_PROCESSING = "territory_processing"
FORCED_ELIMINATION = "forced_elimination"
GAME_OVER = "game_over"
PHASES = (
    RING_PLACEMENT,
    MOVEMENT,
    CAPTURE,
    CHAIN_CAPTURE,
    LINE_PROCESSING,
    TERRITORY_PROCESSING,
    FORCED_ELIMINATION,
    GAME_OVER,
)

ACTIVE = "active"
COMPLETED = "completed"


@dataclass(frozen=True)
class RulesOptions:
    """Per-game options (`rulesOptions` in the reference JSON)."""

    swap_rule_enabled: bool = False
    rings_per_player: int | None = None  # None = the board's default
    lps_rounds_required: int = 3


@dataclass(frozen=True)
class Params:
    """Numbers derived once from board, player count and options (rules.md 2.1)."""

    line_length: int
    rings_per_player: int
    victory_rings: int
    territory_minimum: int
    legacy_territory_threshold: int
    lps_rounds: int
    swap_enabled: bool
    options: RulesOptions = field(default_factory=RulesOptions)


def derive_params(board: str, num_players: int, options: RulesOptions) -> Params:
    g = geometry(board)
    small = board in ("square8", "hex8")
    line_length = 4 if (not small or num_players == 2) else 3
    rings = options.rings_per_player or rings_per_player(board)
    return Params(
        line_length=line_length,
        rings_per_player=rings,
        victory_rings=round(rings * (num_players + 1) / 3),
        territory_minimum=g.n // num_players + 1,
        legacy_territory_threshold=g.n // 2 + 1,
        lps_rounds=options.lps_rounds_required,
        swap_enabled=options.swap_rule_enabled and num_players == 2,
        options=options,
    )


class GameState:
    """One position. Treat as immutable; use `copy()` only to build a successor.

    A plain class (not slots) so that `copy` is one C-level dict copy.
    """

    geo: Geometry
    params: Params
    num_players: int
    stacks: list[Rings]  # [cell] -> owners bottom-first; () = no stack
    cells: list[int]  # [cell] -> 0 / marker p / collapsed -p
    markers: list[int]  # [seat] -> bitboard of that seat's markers
    collapsed: list[int]  # [seat] -> bitboard of cells collapsed to that seat; [0] = all
    control: list[int]  # [seat] -> bitboard of stacks that seat controls; [0] = all stacks
    hand: list[int]  # [seat] -> rings in hand
    eliminated: list[int]  # [seat] -> rings credited as eliminated
    territory: list[int]  # [seat] -> territorySpaces counter
    on_board: list[int]  # [seat] -> rings of that colour in stacks
    current: int
    phase: str
    status: str
    winner: int  # 0 = none
    victory_reason: str
    must_move: int  # cell or -1
    chain_pos: int  # landing of the last capture / plain move in capture phases, or -1
    pending_line: bool  # a line ring is owed
    pending_region: bool  # a region was collapsed and its cost is owed
    turn_changed: bool  # this turn contained a board-changing move
    turn_recovery: bool  # this turn contained a recovery slide
    turn_number: int
    move_count: int
    last_mover: int
    swapped: bool  # the pie rule was used: seat 1 and seat 2 exchanged identities
    lps_first: int  # first seat of the open last-player-standing round, 0 = none
    lps_mask: tuple[int, ...]  # [seat] -> -1 unrecorded, 0 no real action, 1 real action
    lps_count: int
    lps_player: int
    out_turn: tuple[int, ...]  # [seat] -> turn number at which the seat lost its last ring, 0 = never
    # Memos of facts about this (final) position, reset by `copy`.
    _legal: list[Move] | None
    _regions: list[int] | None
    _reach: list[int] | None

    def copy(self, board: bool = True) -> GameState:
        """A successor to edit. With `board`, the per-cell and per-player lists are copied;
        without it they are shared and must not be changed (bookkeeping moves)."""
        s = GameState.__new__(GameState)
        d = self.__dict__.copy()
        if board:
            d["stacks"] = self.stacks[:]
            d["cells"] = self.cells[:]
            d["markers"] = self.markers[:]
            d["collapsed"] = self.collapsed[:]
            d["control"] = self.control[:]
            d["hand"] = self.hand[:]
            d["eliminated"] = self.eliminated[:]
            d["territory"] = self.territory[:]
            d["on_board"] = self.on_board[:]
        d["_legal"] = None
        d["_regions"] = None
        d["_reach"] = None
        s.__dict__ = d
        return s

    def __getstate__(self) -> dict[str, object]:
        # Memos are cheap to rebuild and can be large: leave them out of pickles.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._legal = None
        self._regions = None
        self._reach = None

    @property
    def board(self) -> str:
        return self.geo.board

    def __repr__(self) -> str:
        return (
            f"GameState({self.geo.board}, {self.num_players}p, move {self.move_count}, "
            f"seat {self.current}, {self.phase}, {self.status})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GameState):
            return NotImplemented
        mine = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        theirs = {k: v for k, v in other.__dict__.items() if not k.startswith("_")}
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]


def empty_state(board: str, num_players: int, options: RulesOptions) -> GameState:
    """A fresh position: empty board, full hands, seat 1 to place."""
    g = geometry(board)
    p = derive_params(board, num_players, options)
    seats = num_players + 1
    s = GameState.__new__(GameState)
    s.geo = g
    s.params = p
    s.num_players = num_players
    s.stacks = [()] * g.n
    s.cells = [0] * g.n
    s.markers = [0] * seats
    s.collapsed = [0] * seats
    s.control = [0] * seats
    s.hand = [0] + [p.rings_per_player] * num_players
    s.eliminated = [0] * seats
    s.territory = [0] * seats
    s.on_board = [0] * seats
    s.current = 1
    s.phase = RING_PLACEMENT
    s.status = ACTIVE
    s.winner = 0
    s.victory_reason = ""
    s.must_move = -1
    s.chain_pos = -1
    s.pending_line = False
    s.pending_region = False
    s.turn_changed = False
    s.turn_recovery = False
    s.turn_number = 1
    s.move_count = 0
    s.last_mover = 0
    s.swapped = False
    s.lps_first = 0
    s.lps_mask = (-1,) * seats
    s.lps_count = 0
    s.lps_player = 0
    s.out_turn = (0,) * seats
    s._legal = None
    s._regions = None
    s._reach = None
    return s


def cap_height(rings: Rings) -> int:
    """Consecutive rings from the top owned by the top ring's owner."""
    top = rings[-1]
    i = len(rings) - 1
    while i > 0 and rings[i - 1] == top:
        i -= 1
    return len(rings) - i


def set_stack(s: GameState, c: int, rings: Rings) -> None:
    """Put `rings` (or nothing: `()`) on cell c, keeping the control bitboards in step."""
    old = s.stacks[c]
    b = s.geo.bit[c]
    if old:
        s.control[old[-1]] &= ~b
    s.stacks[c] = rings
    if rings:
        s.control[rings[-1]] |= b
        s.control[0] |= b
    elif old:
        s.control[0] &= ~b


def set_marker(s: GameState, c: int, player: int) -> None:
    """Place (player > 0) or remove (player == 0) a marker on a non-collapsed cell."""
    old = s.cells[c]
    b = s.geo.bit[c]
    if old > 0:
        s.markers[old] &= ~b
        s.markers[0] &= ~b
    s.cells[c] = player
    if player > 0:
        s.markers[player] |= b
        s.markers[0] |= b


def collapse(s: GameState, c: int, player: int) -> None:
    """Collapse cell c to `player` (removing any marker) and credit the territory."""
    old = s.cells[c]
    b = s.geo.bit[c]
    if old > 0:
        s.markers[old] &= ~b
        s.markers[0] &= ~b
    s.cells[c] = -player
    s.collapsed[player] |= b
    s.collapsed[0] |= b
    s.territory[player] += 1


def rings_anywhere(s: GameState, player: int) -> int:
    return s.hand[player] + s.on_board[player]


def buried_bits(s: GameState, player: int) -> int:
    """Bitboard of stacks holding a ring of `player` below the top ring."""
    out = 0
    stacks = s.stacks
    bit = s.geo.bit
    for c in s.geo.cells_of(s.control[0]):
        rings = stacks[c]
        if player in rings[:-1]:
            out |= bit[c]
    return out
