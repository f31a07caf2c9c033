"""Shared test helpers that look at the engine only through its public JSON interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ascii_board import (
    BOARD_SPECS,
    cells_from_json,
    coord_of,
    key,
    parse_cells,
    render,
    state_json,
)

from ringrift_hpc import rules

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = REPO_ROOT.parent / "shared"
VECTORS_DIR = SHARED_DIR / "vectors" / "contract-v2"

VARIANTS: list[tuple[str, int]] = [
    (board, n) for board in ("square8", "hex8", "square19", "hexagonal") for n in (2, 3, 4)
]

BOOKKEEPING_TYPES = frozenset(
    {
        "no_placement_action",
        "no_movement_action",
        "no_line_action",
        "no_territory_action",
        "skip_placement",
        "skip_capture",
        "skip_territory_processing",
        "skip_recovery",
    }
)
# Moves whose `to` names a cell that matters; for the others it is a sentinel or redundant.
_CELL_TYPES = frozenset(
    {
        "place_ring",
        "move_stack",
        "overtaking_capture",
        "continue_capture_segment",
        "recovery_slide",
        "eliminate_rings_from_stack",
        "forced_elimination",
    }
)


def _pos_key(obj: Any, board: str) -> str | None:
    if obj is None:
        return None
    return key(coord_of(obj, board))


def _key_set(items: Sequence[Any] | None, board: str) -> frozenset[str] | None:
    if not items:
        return None
    return frozenset(_pos_key(p, board) or "" for p in items)


def move_key(move: Mapping[str, Any], board: str) -> tuple[Any, ...]:
    """The identity of a move JSON: the fields that change its effect, positions as keys.

    Ids, timestamps, move numbers and diagnostic fields are not part of a move's identity
    (vectors-report §4.6).
    """
    kind = move["type"]
    lines = move.get("formedLines") or []
    regions = move.get("disconnectedRegions") or []
    option = move.get("recoveryOption", move.get("option"))
    count = move.get("placementCount") or 1 if kind == "place_ring" else None
    return (
        kind,
        int(move["player"]),
        _pos_key(move.get("from"), board),
        _pos_key(move.get("to"), board) if kind in _CELL_TYPES else None,
        _pos_key(move.get("captureTarget"), board),
        count,
        move.get("recoveryMode"),
        option if kind == "recovery_slide" and move.get("recoveryMode") == "line" else None,
        _key_set(move.get("collapsePositions"), board),
        frozenset(move.get("extractionStacks") or []) or None,
        _key_set(move.get("collapsedMarkers"), board),
        _key_set(lines[0]["positions"], board) if lines else None,
        _key_set(regions[0]["spaces"], board) if regions else None,
        move.get("eliminationContext") if kind == "eliminate_rings_from_stack" else None,
    )


def board_of(state: Any) -> str:
    return str(rules.state_to_json(state)["board"]["type"])


def legal_move_jsons(state: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Each legal move with its JSON form."""
    return [(m, rules.move_to_json(m)) for m in rules.legal_moves(state)]


def find_moves(state: Any, **fields: Any) -> list[Any]:
    """Legal moves whose JSON matches every given field.

    Field names are JSON names (`from_` for `from`); position values may be key strings or
    coordinate tuples; list-valued position fields compare as sets.
    """
    board = board_of(state)
    wanted = {("from" if k == "from_" else k): v for k, v in fields.items()}
    found = []
    for move, js in legal_move_jsons(state):
        if all(_field_matches(js, name, value, board) for name, value in wanted.items()):
            found.append(move)
    return found


def _field_matches(js: Mapping[str, Any], name: str, value: Any, board: str) -> bool:
    got = js.get(name)
    if name in ("from", "to", "captureTarget"):
        return got is not None and _pos_key(got, board) == _norm_key(value, board)
    if name == "collapsedMarkers" and not got:
        # Without `collapsedMarkers` a line move collapses its whole line (rules.md §8.2).
        got = (js.get("formedLines") or [{}])[0].get("positions")
    if name in ("collapsePositions", "collapsedMarkers"):
        return _key_set(got, board) == frozenset(_norm_key(v, board) for v in value)
    if name == "extractionStacks":
        return frozenset(_norm_key(k, board) for k in got or []) == frozenset(
            _norm_key(v, board) for v in value
        )
    if name == "linePositions":
        lines = js.get("formedLines") or []
        return bool(lines) and _key_set(lines[0]["positions"], board) == frozenset(
            _norm_key(v, board) for v in value
        )
    if name == "regionSpaces":
        regions = js.get("disconnectedRegions") or []
        return bool(regions) and _key_set(regions[0]["spaces"], board) == frozenset(
            _norm_key(v, board) for v in value
        )
    if name == "recoveryOption":
        return js.get("recoveryOption", js.get("option")) == value
    if name == "placementCount":
        return (got or 1) == value
    return bool(got == value)


def _norm_key(value: Any, board: str) -> str:
    if isinstance(value, tuple):
        return key(coord_of(",".join(str(v) for v in value), board))
    return key(coord_of(value, board))


def the_move(state: Any, **fields: Any) -> Any:
    """The single legal move matching `fields`; fails with the legal list when there is not one."""
    found = find_moves(state, **fields)
    if len(found) != 1:
        listed = "\n  ".join(str(_short(js)) for _, js in legal_move_jsons(state))
        raise AssertionError(f"{len(found)} legal moves match {fields}; legal moves:\n  {listed}")
    return found[0]


def _short(js: Mapping[str, Any]) -> dict[str, Any]:
    drop = {"id", "timestamp", "thinkTime", "moveNumber"}
    return {k: v for k, v in js.items() if k not in drop and v not in (None, [], {})}


def move_types(state: Any) -> set[str]:
    return {js["type"] for _, js in legal_move_jsons(state)}


def play(state: Any, **fields: Any) -> Any:
    """Apply the single legal move matching `fields` through the validating entry point."""
    return rules.apply_move(state, the_move(state, **fields))


def play_bookkeeping(state: Any) -> Any:
    """Apply forced single bookkeeping moves (`no_*_action`) while they are the only legal move."""
    while not rules.is_terminal(state):
        moves = legal_move_jsons(state)
        if len(moves) != 1 or not moves[0][1]["type"].startswith("no_"):
            break
        state = rules.apply_move(state, moves[0][0])
    return state


def load(board: str, text: str, **kwargs: Any) -> Any:
    """An engine state for an ASCII position (see `ascii_board.state_json` for the options)."""
    return rules.state_from_json(state_json(board, text, **kwargs))


def assert_board(state: Any, text: str) -> None:
    """The state's cells are exactly the ASCII board `text`; shows both boards when not."""
    js = rules.state_to_json(state)
    board = js["board"]["type"]
    got, want = cells_from_json(js), parse_cells(board, text)
    assert got == want, f"board differs\nexpected:\n{render(board, want)}\ngot:\n{render(board, got)}"


def phase_and_player(state: Any) -> tuple[str, int]:
    js = rules.state_to_json(state)
    return js["currentPhase"], int(js["currentPlayer"])


# --- summaries of a serialized state -------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Counts of a serialized state used by the vectors and the invariants."""

    stacks: int
    markers: int
    collapsed: int
    eliminated_total: int
    rings_on_board: dict[int, int]
    rings_in_hand: dict[int, int]

    @property
    def progress(self) -> int:
        """S = markers + collapsed cells + total eliminated rings (rules.md §16)."""
        return self.markers + self.collapsed + self.eliminated_total


def summarize(js: Mapping[str, Any]) -> Summary:
    board = js["board"]
    on_board: dict[int, int] = {int(p["playerNumber"]): 0 for p in js["players"]}
    for stack in board["stacks"].values():
        for ring in stack["rings"]:
            on_board[int(ring)] = on_board.get(int(ring), 0) + 1
    return Summary(
        stacks=len(board["stacks"]),
        markers=len(board["markers"]),
        collapsed=len(board["collapsedSpaces"]),
        eliminated_total=sum(int(p["eliminatedRings"]) for p in js["players"]),
        rings_on_board=on_board,
        rings_in_hand={int(p["playerNumber"]): int(p["ringsInHand"]) for p in js["players"]},
    )


def progress(state: Any) -> int:
    return summarize(rules.state_to_json(state)).progress


def player_field(state: Any, seat: int, field: str) -> int:
    js = rules.state_to_json(state)
    return int(next(p for p in js["players"] if int(p["playerNumber"]) == seat)[field])


# --- fingerprints ---------------------------------------------------------------------------


def fingerprint_text(state: Any) -> str:
    return rules.fingerprint(state).text


def fingerprint_hash(state: Any) -> str:
    return rules.fingerprint(state).hash


def reference_fingerprint(js: Mapping[str, Any]) -> str:
    """The §1.8 fingerprint string computed from a serialized state, independently of the engine."""
    status = js["gameStatus"]
    terminal = status in ("completed", "finished", "abandoned")
    meta = ":".join(
        [
            "0" if terminal else str(js["currentPlayer"]),
            "game_over" if terminal else str(js["currentPhase"]),
            "completed" if status == "finished" else str(status),
            "1" if js.get("pendingLineRewardElimination") else "0",
        ]
    )
    name = js["board"]["type"]
    players = sorted(
        f"{p['playerNumber']}:{p['ringsInHand']}:{p['eliminatedRings']}:{p['territorySpaces']}"
        for p in js["players"]
    )
    stacks = []
    for k, s in js["board"]["stacks"].items():
        rings = [int(r) for r in s["rings"]]
        cap = 1
        while cap < len(rings) and rings[cap] == rings[0]:
            cap += 1
        stacks.append(f"{key(coord_of(k, name))}:{rings[0]}:{len(rings)}:{cap}")
    markers = [f"{key(coord_of(k, name))}:{m['player']}" for k, m in js["board"]["markers"].items()]
    collapsed = [f"{key(coord_of(k, name))}:{o}" for k, o in js["board"]["collapsedSpaces"].items()]
    return "#".join(
        [meta, "|".join(players), "|".join(sorted(stacks)), "|".join(sorted(markers)), "|".join(sorted(collapsed))]
    )


def simple_hash(text: str) -> str:
    """The reference engines' 64-bit string hash (vectors-report §1.8), 16 lowercase hex digits."""
    mask = 0xFFFFFFFF
    h1, h2 = 0xDEADBEEF, 0x41C6CE57
    for ch in text:
        c = ord(ch)
        h1 = ((h1 ^ c) * 2654435761) & mask
        h2 = ((h2 ^ c) * 1597334677) & mask
    h1 = (((h1 ^ (h1 >> 16)) * 2246822507) & mask) ^ (((h2 ^ (h2 >> 13)) * 3266489909) & mask)
    h2 = (((h2 ^ (h2 >> 16)) * 2246822507) & mask) ^ (((h1 ^ (h1 >> 13)) * 3266489909) & mask)
    return f"{h2:08x}{h1:08x}"


# --- game length ----------------------------------------------------------------------------


def max_game_moves(board: str, num_players: int) -> int:
    """A generous bound on a game's length from the progress measure (rules.md §16).

    S <= 2*cells + N*R, S grows with every movement, capture and elimination, and between two
    such moves a player makes at most a handful of placements / decisions / bookkeeping moves per
    turn, with at most N turns (plus the last-player-standing rounds) in which nobody can act.
    """
    spec = BOARD_SPECS[board]
    s_max = 2 * spec.cell_count + num_players * spec.rings_per_player
    return (s_max + 1) * 8 * num_players * 4
