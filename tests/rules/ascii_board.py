"""A tiny ASCII notation for RingRift positions, converted to the reference serialized-state JSON.

Tests build positions with it and load them through `ringrift_hpc.rules.state_from_json`, so they
never depend on the engine's internal representation.

One whitespace-separated token per cell:

    .      empty cell
    1      a stack; the digits are the ring owners top first ("211": P2 on top of two P1 rings,
           height 3, cap 1, controlled by P2)
    m1     a marker of player 1
    #1     a collapsed cell owned by player 1

Square boards: one text row per y (top row y = 0), x increasing to the right. Hex boards (cube
coordinates, radius r): one text row per y from -r to r, x increasing to the right from
max(-r, -r-y) to min(r, r-y); z = -x-y. Indentation is cosmetic. Example (hex8, radius 4):

        . . . . .
       . . . . . .
      . . . . . . .
     . . . . . . . .
    . . . . 1 . . . .        <- y = 0; the "1" sits at (0,0,0)
     . . . . . . . .
      . . . . . . .
       . . . . . .
        . . . . .
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Coord = tuple[int, ...]


@dataclass(frozen=True)
class BoardSpec:
    """Per-board constants from rules.md §1.1 and §2.1."""

    name: str
    size: int
    radius: int | None
    rings_per_player: int

    @property
    def is_hex(self) -> bool:
        return self.radius is not None

    @property
    def cell_count(self) -> int:
        if self.radius is None:
            return self.size * self.size
        return 3 * self.radius * self.radius + 3 * self.radius + 1


BOARD_SPECS: dict[str, BoardSpec] = {
    "square8": BoardSpec("square8", 8, None, 18),
    "square19": BoardSpec("square19", 19, None, 72),
    "hex8": BoardSpec("hex8", 9, 4, 18),
    "hexagonal": BoardSpec("hexagonal", 25, 12, 96),
}


@dataclass(frozen=True)
class Cell:
    """Content of one non-empty cell: exactly one of stack / marker / collapsed is set."""

    rings: tuple[int, ...] = ()
    marker: int | None = None
    collapsed: int | None = None


def ring_victory_threshold(board: str, num_players: int) -> int:
    return round(BOARD_SPECS[board].rings_per_player * (num_players + 1) / 3)


def territory_minimum(board: str, num_players: int) -> int:
    return BOARD_SPECS[board].cell_count // num_players + 1


def board_rows(board: str) -> list[list[Coord]]:
    """Cells of each text row, in the order the notation writes them."""
    spec = BOARD_SPECS[board]
    if spec.radius is None:
        return [[(x, y) for x in range(spec.size)] for y in range(spec.size)]
    r = spec.radius
    return [
        [(x, y, -x - y) for x in range(max(-r, -r - y), min(r, r - y) + 1)] for y in range(-r, r + 1)
    ]


def key(coord: Coord) -> str:
    return ",".join(str(c) for c in coord)


def position(coord: Coord) -> dict[str, int]:
    return dict(zip("xyz", coord))


def coord_of(obj: Mapping[str, Any] | str, board: str) -> Coord:
    """A coordinate from a position object or a key string, normalised to the board's arity."""
    if isinstance(obj, str):
        parts = tuple(int(p) for p in obj.split(","))
    else:
        parts = (int(obj["x"]), int(obj["y"])) + (
            (int(obj["z"]),) if obj.get("z") is not None else ()
        )
    if BOARD_SPECS[board].is_hex and len(parts) == 2:
        parts = (parts[0], parts[1], -parts[0] - parts[1])
    if not BOARD_SPECS[board].is_hex:
        parts = parts[:2]
    return parts


def _parse_token(token: str, where: str) -> Cell | None:
    if token == ".":
        return None
    if token.isdigit():
        return Cell(rings=tuple(int(c) for c in token))
    if len(token) == 2 and token[0] in "m#" and token[1].isdigit():
        owner = int(token[1])
        return Cell(marker=owner) if token[0] == "m" else Cell(collapsed=owner)
    raise ValueError(f"{where}: bad cell token {token!r}; use '.', ring digits top first, 'm<p>' or '#<p>'")


def parse_cells(board: str, text: str) -> dict[Coord, Cell]:
    """The non-empty cells of an ASCII board; raises ValueError naming the row on a shape mismatch."""
    rows = board_rows(board)
    lines = [line.split() for line in text.strip("\n").splitlines() if line.strip()]
    if len(lines) != len(rows):
        raise ValueError(f"{board} board text has {len(lines)} rows, expected {len(rows)}")
    cells: dict[Coord, Cell] = {}
    for index, (tokens, coords) in enumerate(zip(lines, rows)):
        if len(tokens) != len(coords):
            raise ValueError(
                f"{board} board text row {index} has {len(tokens)} cells, expected {len(coords)}"
            )
        for token, coord in zip(tokens, coords):
            cell = _parse_token(token, f"{board} row {index} cell {key(coord)}")
            if cell is not None:
                cells[coord] = cell
    return cells


def cells_from_json(state: Mapping[str, Any]) -> dict[Coord, Cell]:
    """The non-empty cells of a serialized state (top-first rings), in the notation's model."""
    board = state["board"]
    name = board["type"]
    cells: dict[Coord, Cell] = {}
    for k, stack in board.get("stacks", {}).items():
        cells[coord_of(k, name)] = Cell(rings=tuple(int(r) for r in stack["rings"]))
    for k, marker in board.get("markers", {}).items():
        cells[coord_of(k, name)] = Cell(marker=int(marker["player"]))
    for k, owner in board.get("collapsedSpaces", {}).items():
        cells[coord_of(k, name)] = Cell(collapsed=int(owner))
    return cells


def render(board: str, cells: Mapping[Coord, Cell]) -> str:
    """The ASCII board for a cell map (the inverse of `parse_cells`), for readable failure messages."""
    rows = board_rows(board)
    width = max([len(_token(c)) for c in cells.values()] + [1])
    longest = max(len(row) for row in rows)
    lines = []
    for row in rows:
        indent = " " * ((longest - len(row)) * (width + 1) // 2)
        lines.append(indent + " ".join(_token(cells.get(c)).ljust(width) for c in row).rstrip())
    return "\n".join(lines)


def _token(cell: Cell | None) -> str:
    if cell is None:
        return "."
    if cell.rings:
        return "".join(str(r) for r in cell.rings)
    if cell.marker is not None:
        return f"m{cell.marker}"
    return f"#{cell.collapsed}"


def cap_height(rings: tuple[int, ...]) -> int:
    height = 1
    while height < len(rings) and rings[height] == rings[0]:
        height += 1
    return height


def state_json(
    board: str,
    text: str,
    *,
    num_players: int = 2,
    current_player: int = 1,
    phase: str = "ring_placement",
    rings_in_hand: Mapping[int, int] | None = None,
    eliminated: Mapping[int, int] | None = None,
    must_move_from: Coord | None = None,
    chain_capture_at: Coord | None = None,
    pending_line_reward: bool = False,
    rules_options: Mapping[str, Any] | None = None,
    move_history: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A reference serialized state (vectors-report §1.2) for the position drawn in `text`.

    `eliminated` gives each player's credited eliminations; by default a player's hand is whatever
    keeps its colour conserved assuming those eliminated rings were its own colour (rules.md §3.3).
    Territory counters are taken from the collapsed cells drawn.
    """
    spec = BOARD_SPECS[board]
    cells = parse_cells(board, text)
    eliminated = dict(eliminated or {})
    on_board = {p: 0 for p in range(1, num_players + 1)}
    for cell in cells.values():
        for ring in cell.rings:
            if ring not in on_board:
                raise ValueError(f"ring of player {ring} on a {num_players}-player board")
            on_board[ring] += 1
    players = []
    for p in range(1, num_players + 1):
        hand = (
            rings_in_hand[p]
            if rings_in_hand is not None and p in rings_in_hand
            else spec.rings_per_player - on_board[p] - eliminated.get(p, 0)
        )
        if hand < 0:
            raise ValueError(f"player {p} would have {hand} rings in hand; draw fewer rings")
        players.append(
            {
                "playerNumber": p,
                "ringsInHand": hand,
                "eliminatedRings": eliminated.get(p, 0),
                "territorySpaces": sum(1 for c in cells.values() if c.collapsed == p),
                "isActive": True,
            }
        )
    stacks, markers, collapsed = {}, {}, {}
    for coord, cell in sorted(cells.items()):
        k = key(coord)
        if cell.rings:
            stacks[k] = {
                "position": position(coord),
                "rings": list(cell.rings),
                "stackHeight": len(cell.rings),
                "capHeight": cap_height(cell.rings),
                "controllingPlayer": cell.rings[0],
            }
        elif cell.marker is not None:
            markers[k] = {"position": position(coord), "player": cell.marker, "type": "regular"}
        else:
            collapsed[k] = cell.collapsed
    state: dict[str, Any] = {
        "gameId": f"ascii-{board}-{num_players}p",
        "board": {
            "type": board,
            "size": spec.size,
            "stacks": stacks,
            "markers": markers,
            "collapsedSpaces": collapsed,
            "eliminatedRings": {str(p): eliminated.get(p, 0) for p in range(1, num_players + 1)},
            "formedLines": [],
            "territories": {},
        },
        "players": players,
        "currentPlayer": current_player,
        "currentPhase": phase,
        "turnNumber": 1,
        "moveHistory": list(move_history or []),
        "gameStatus": "active",
        "victoryThreshold": ring_victory_threshold(board, num_players),
        "territoryVictoryThreshold": spec.cell_count // 2 + 1,
        "territoryVictoryMinimum": territory_minimum(board, num_players),
        "totalRingsEliminated": sum(eliminated.values()),
    }
    if must_move_from is not None:
        state["mustMoveFromStackKey"] = key(must_move_from)
    if chain_capture_at is not None:
        state["chainCapturePosition"] = position(chain_capture_at)
    if pending_line_reward:
        state["pendingLineRewardElimination"] = True
    if rules_options is not None:
        state["rulesOptions"] = dict(rules_options)
    return state


def sparse_text(board: str, tokens: Mapping[str, str]) -> str:
    """Board text with the given `{"x,y[,z]": token}` cells and everything else empty.

    For the large boards, where drawing every cell would hide the few that matter.
    """
    wanted = {coord_of(k, board): t for k, t in tokens.items()}
    valid = {c for row in board_rows(board) for c in row}
    off_board = sorted(key(c) for c in wanted if c not in valid)
    if off_board:
        raise ValueError(f"cells {off_board} are not on a {board} board")
    return "\n".join(" ".join(wanted.get(c, ".") for c in row) for row in board_rows(board))
