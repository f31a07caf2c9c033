"""The reference JSON formats (vectors-report 1.2, 1.4, 1.5): states and moves.

At the boundary stacks are top-first ring lists and cells are "x,y" / "x,y,z" keys (hex
keys given as "x,y" are completed with z = -x-y). Controller and cap height are always
recomputed from the rings. Per-turn bookkeeping the reference format does not carry is
written under the extra key "ringriftHpc"; without it the importer rebuilds it from the
current player's trailing moves in `moveHistory` (rules.md 3.4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ringrift_hpc.rules.errors import StateFormatError
from ringrift_hpc.rules.geometry import BOARDS, Geometry, geometry
from ringrift_hpc.rules.legal import legal_moves
from ringrift_hpc.rules.lines import find_lines
from ringrift_hpc.rules.moves import (
    CHOOSE_LINE_OPTION,
    CHOOSE_TERRITORY_OPTION,
    CONTEXT_LINE,
    CONTEXT_RECOVERY,
    CONTEXT_TERRITORY,
    CONTINUE_CAPTURE_SEGMENT,
    ELIMINATE_RINGS_FROM_STACK,
    FORCED_ELIMINATION,
    MOVE_STACK,
    MOVE_TYPES,
    NON_CHANGING_TYPES,
    OVERTAKING_CAPTURE,
    PLACE_RING,
    PROCESS_LINE,
    RECOVERY_FALLBACK,
    RECOVERY_LINE,
    RECOVERY_SLIDE,
    RECOVERY_STACK_STRIKE,
    SWAP_SIDES,
    Move,
)
from ringrift_hpc.rules.recovery import (
    extraction_stacks,
    run_through,
    strike_extractions,
)
from ringrift_hpc.rules.state import (
    ACTIVE,
    CAPTURE,
    COMPLETED,
    GAME_OVER,
    LINE_PROCESSING,
    PHASES,
    TERRITORY_PROCESSING,
    GameState,
    RulesOptions,
    cap_height,
    collapse,
    empty_state,
    rings_anywhere,
    set_marker,
    set_stack,
)
from ringrift_hpc.rules.territory import find_regions, processable_regions

EXTENSION_KEY = "ringriftHpc"

LEGACY_MOVE_TYPES = {
    "move_ring": MOVE_STACK,
    "build_stack": MOVE_STACK,
    "choose_line_reward": CHOOSE_LINE_OPTION,
    "process_territory_region": CHOOSE_TERRITORY_OPTION,
    "territory_claim": CHOOSE_TERRITORY_OPTION,
    "line_formation": PROCESS_LINE,
    "chain_capture": CONTINUE_CAPTURE_SEGMENT,
}

_STATUS = {"active": ACTIVE, "waiting": ACTIVE, "completed": COMPLETED, "finished": COMPLETED, "abandoned": COMPLETED}


def _fail(field: str, problem: str, fix: str) -> StateFormatError:
    return StateFormatError(f"{field}: {problem}; {fix}")


def _cell_from_key(g: Geometry, key: str, field: str) -> int:
    try:
        parts = tuple(int(v) for v in str(key).split(","))
    except ValueError:
        raise _fail(field, f"cell key {key!r} is not integers", 'write "x,y" (square) or "x,y,z" (hex)') from None
    return _cell_from_coords(g, parts, field)


def _cell_from_coords(g: Geometry, parts: tuple[int, ...], field: str) -> int:
    if g.is_hex and len(parts) == 3 and sum(parts) != 0:
        raise _fail(field, f"hex cell {parts} has x+y+z != 0", "use cube coordinates")
    if not g.is_hex and len(parts) != 2:
        raise _fail(field, f"square cell {parts} must have two coordinates", "drop z")
    c = g.index.get(parts if not g.is_hex else parts[:2])
    if c is None:
        raise _fail(field, f"cell {parts} is not on board {g.board}", "check the coordinates and board type")
    return c


def _cell_from_pos(g: Geometry, pos: Any, field: str) -> int:
    if not isinstance(pos, Mapping) or "x" not in pos or "y" not in pos:
        raise _fail(field, f"position {pos!r} is not an object with x and y", 'write {"x": .., "y": ..}')
    return _cell_from_coords(g, (int(pos["x"]), int(pos["y"])), field)


def _pos(g: Geometry, c: int) -> dict[str, int]:
    coords = g.coords[c]
    if g.is_hex:
        return {"x": coords[0], "y": coords[1], "z": coords[2]}
    return {"x": coords[0], "y": coords[1]}


def _board_type(obj: Mapping[str, Any]) -> str:
    board = obj.get("board")
    if not isinstance(board, Mapping):
        raise _fail("board", "missing or not an object", "give the serialized board")
    name = board.get("type") or obj.get("boardType")
    if name not in BOARDS:
        raise _fail("board.type", f"unknown board {name!r}", f"use one of {', '.join(BOARDS)}")
    return str(name)


def _options(obj: Mapping[str, Any], board: str) -> RulesOptions:
    raw = obj.get("rulesOptions") or {}
    if not isinstance(raw, Mapping):
        raise _fail("rulesOptions", "not an object", "give an object or omit it")
    rings = raw.get("ringsPerPlayer")
    return RulesOptions(
        swap_rule_enabled=bool(raw.get("swapRuleEnabled", False)),
        # The board's own ring count is the default, not an override.
        rings_per_player=int(rings) if rings and int(rings) != geometry(board).rings_per_player else None,
        lps_rounds_required=int(raw.get("lpsRoundsRequired", obj.get("lpsRoundsRequired", 3)) or 3),
    )


def state_from_json(obj: Mapping[str, Any], *, rings_bottom_first: bool = False) -> GameState:
    """Import a serialized state (vectors-report 1.2 / 1.3).

    Ring lists are top first as the TS engine and every fixture write them; pass
    `rings_bottom_first=True` for states dumped by the Python reference engine (1.4).
    """
    if not isinstance(obj, Mapping):
        raise _fail("state", f"expected an object, got {type(obj).__name__}", "pass the parsed JSON object")
    board_name = _board_type(obj)
    g = geometry(board_name)
    players = obj.get("players")
    if not isinstance(players, list) or not 1 <= len(players) <= 4:
        raise _fail("players", "missing or not a list of 1-4 players", "list one object per seat")
    n = len(players)
    s = empty_state(board_name, n, _options(obj, board_name))
    board = obj["board"]
    seats = range(1, n + 1)

    def seat(value: Any, field: str) -> int:
        try:
            p = int(value)
        except (TypeError, ValueError):
            raise _fail(field, f"{value!r} is not a seat number", f"use 1..{n}") from None
        if p not in seats:
            raise _fail(field, f"seat {p} does not exist in a {n}-player game", f"use 1..{n}")
        return p

    for key, st in (board.get("stacks") or {}).items():
        field = f"board.stacks[{key!r}]"
        c = _cell_from_key(g, key, field)
        rings = st.get("rings")
        if rings is None:
            rings = [st.get("controllingPlayer")] * int(st.get("stackHeight", 1))
        if not rings:
            raise _fail(field + ".rings", "empty ring list", "drop the stack or list its rings top first")
        ordered = rings if rings_bottom_first else reversed(rings)
        owners = tuple(seat(r, field + ".rings") for r in ordered)
        set_stack(s, c, owners)
        for o in owners:
            s.on_board[o] += 1
    for key, mk in (board.get("markers") or {}).items():
        field = f"board.markers[{key!r}]"
        c = _cell_from_key(g, key, field)
        if s.stacks[c]:
            raise _fail(field, "a marker sits under a stack", "remove one of them")
        set_marker(s, c, seat(mk.get("player") if isinstance(mk, Mapping) else mk, field + ".player"))
    for key, owner in (board.get("collapsedSpaces") or {}).items():
        field = f"board.collapsedSpaces[{key!r}]"
        c = _cell_from_key(g, key, field)
        if s.stacks[c]:
            raise _fail(field, "a collapsed cell holds a stack", "remove one of them")
        collapse(s, c, seat(owner, field))
    s.territory = [0] * (n + 1)
    for i, pl in enumerate(players):
        field = f"players[{i}]"
        p = seat(pl.get("playerNumber", i + 1), field + ".playerNumber")
        s.hand[p] = int(pl.get("ringsInHand", 0))
        s.eliminated[p] = int(pl.get("eliminatedRings", 0))
        s.territory[p] = int(pl.get("territorySpaces", 0))
    s.current = seat(obj.get("currentPlayer", 1), "currentPlayer")
    status = obj.get("gameStatus", "active")
    if status not in _STATUS:
        raise _fail("gameStatus", f"unknown status {status!r}", f"use one of {sorted(_STATUS)}")
    s.status = _STATUS[status]
    phase = obj.get("currentPhase", "ring_placement")
    if phase not in PHASES:
        raise _fail("currentPhase", f"unknown phase {phase!r}", f"use one of {', '.join(PHASES)}")
    s.phase = GAME_OVER if s.status == COMPLETED else phase
    if s.phase == GAME_OVER:
        s.status = COMPLETED
    if obj.get("winner") is not None:
        s.winner = seat(obj["winner"], "winner")
    s.turn_number = int(obj.get("turnNumber") or 1)
    if obj.get("chainCapturePosition"):
        s.chain_pos = _cell_from_pos(g, obj["chainCapturePosition"], "chainCapturePosition")
    if obj.get("mustMoveFromStackKey"):
        s.must_move = _cell_from_key(g, obj["mustMoveFromStackKey"], "mustMoveFromStackKey")
    s.pending_line = bool(obj.get("pendingLineRewardElimination", False))
    history = obj.get("moveHistory") or []
    s.move_count = len(history)
    _lps_from_json(s, obj, seat)
    ext = obj.get(EXTENSION_KEY)
    if isinstance(ext, Mapping):
        _extension_from_json(s, ext)
    else:
        _turn_flags_from_history(s, history, g)
    if s.phase == CAPTURE and s.chain_pos < 0 and s.must_move >= 0:
        s.chain_pos = s.must_move
    if (
        s.phase == TERRITORY_PROCESSING
        and not isinstance(ext, Mapping)
        and not s.pending_region
        and not s.turn_changed
        and s.control[s.current]
        and not processable_regions(s, s.current)
    ):
        # Our phase machine reaches this situation only with a region cost outstanding
        # (otherwise rule X would have chosen forced elimination), so that is what it means.
        s.pending_region = True
    return s


def _lps_from_json(s: GameState, obj: Mapping[str, Any], seat: Callable[[Any, str], int]) -> None:
    if obj.get("lpsCurrentRoundFirstPlayer"):
        s.lps_first = seat(obj["lpsCurrentRoundFirstPlayer"], "lpsCurrentRoundFirstPlayer")
    mask = obj.get("lpsCurrentRoundActorMask") or {}
    values = [-1] * (s.num_players + 1)
    for k, v in mask.items():
        values[seat(k, "lpsCurrentRoundActorMask")] = 1 if v else 0
    s.lps_mask = tuple(values)
    s.lps_count = int(obj.get("lpsConsecutiveExclusiveRounds") or 0)
    if obj.get("lpsConsecutiveExclusivePlayer"):
        s.lps_player = seat(obj["lpsConsecutiveExclusivePlayer"], "lpsConsecutiveExclusivePlayer")


def _extension_from_json(s: GameState, ext: Mapping[str, Any]) -> None:
    s.turn_changed = bool(ext.get("turnChanged", False))
    s.turn_recovery = bool(ext.get("turnRecovery", False))
    s.pending_region = bool(ext.get("pendingRegionCost", False))
    s.swapped = bool(ext.get("swapped", False))
    s.move_count = int(ext.get("moveCount", s.move_count))
    s.last_mover = int(ext.get("lastMover", 0))
    s.victory_reason = str(ext.get("victoryReason", ""))
    out = ext.get("eliminatedAtTurn")
    if out:
        s.out_turn = (0,) + tuple(int(v) for v in out)


def _turn_flags_from_history(s: GameState, history: list[Any], g: Geometry) -> None:
    """Rebuild per-turn flags from the current player's trailing moves (rules.md 3.4)."""
    trailing = []
    for m in reversed(history):
        if not isinstance(m, Mapping) or m.get("player") != s.current:
            break
        trailing.append(m)
    trailing.reverse()
    types = [LEGACY_MOVE_TYPES.get(str(m.get("type")), m.get("type")) for m in trailing]
    s.turn_changed = any(t not in NON_CHANGING_TYPES for t in types)
    s.turn_recovery = RECOVERY_SLIDE in types
    s.pending_region = s.phase == TERRITORY_PROCESSING and bool(types) and types[-1] == CHOOSE_TERRITORY_OPTION
    s.swapped = any(isinstance(m, Mapping) and m.get("type") == SWAP_SIDES for m in history)
    if history and isinstance(history[-1], Mapping):
        s.last_mover = int(history[-1].get("player") or 0)
    if s.phase == CAPTURE and s.chain_pos < 0 and trailing and trailing[-1].get("to"):
        s.chain_pos = _cell_from_pos(g, trailing[-1]["to"], "moveHistory[-1].to")


def state_to_json(s: GameState) -> dict[str, Any]:
    """Export in the reference serialized-state format (top-first rings) plus "ringriftHpc"."""
    g = s.geo
    n = s.num_players
    stacks = {}
    markers = {}
    collapsed = {}
    for c in range(g.n):
        rings = s.stacks[c]
        if rings:
            stacks[g.keys[c]] = {
                "position": _pos(g, c),
                "rings": list(reversed(rings)),
                "stackHeight": len(rings),
                "capHeight": cap_height(rings),
                "controllingPlayer": rings[-1],
            }
        v = s.cells[c]
        if v > 0:
            markers[g.keys[c]] = {"position": _pos(g, c), "player": v, "type": "regular"}
        elif v < 0:
            collapsed[g.keys[c]] = -v
    out: dict[str, Any] = {
        "boardType": g.board,
        "board": {
            "type": g.board,
            "size": g.size,
            "stacks": stacks,
            "markers": markers,
            "collapsedSpaces": collapsed,
            "eliminatedRings": {str(p): s.eliminated[p] for p in range(1, n + 1)},
            "formedLines": [],
            "territories": {},
        },
        "players": [
            {
                "playerNumber": p,
                "ringsInHand": s.hand[p],
                "eliminatedRings": s.eliminated[p],
                "territorySpaces": s.territory[p],
                "isActive": rings_anywhere(s, p) > 0,
            }
            for p in range(1, n + 1)
        ],
        "currentPlayer": s.current,
        "currentPhase": s.phase,
        "gameStatus": s.status,
        "turnNumber": s.turn_number,
        "moveHistory": [],
        "victoryThreshold": s.params.victory_rings,
        "territoryVictoryThreshold": s.params.legacy_territory_threshold,
        "territoryVictoryMinimum": s.params.territory_minimum,
        "totalRingsEliminated": sum(s.eliminated),
        "pendingLineRewardElimination": s.pending_line,
        "rulesOptions": {
            "swapRuleEnabled": s.params.options.swap_rule_enabled,
            "ringsPerPlayer": s.params.rings_per_player,
            "lpsRoundsRequired": s.params.lps_rounds,
        },
        "lpsCurrentRoundFirstPlayer": s.lps_first or None,
        "lpsCurrentRoundActorMask": {str(p): v == 1 for p, v in enumerate(s.lps_mask) if p and v >= 0},
        "lpsConsecutiveExclusiveRounds": s.lps_count,
        "lpsConsecutiveExclusivePlayer": s.lps_player or None,
        EXTENSION_KEY: {
            "version": 1,
            "turnChanged": s.turn_changed,
            "turnRecovery": s.turn_recovery,
            "pendingRegionCost": s.pending_region,
            "swapped": s.swapped,
            "moveCount": s.move_count,
            "lastMover": s.last_mover,
            "victoryReason": s.victory_reason,
            "eliminatedAtTurn": list(s.out_turn[1:]),
        },
    }
    if s.winner:
        out["winner"] = s.winner
    if s.chain_pos >= 0:
        out["chainCapturePosition"] = _pos(g, s.chain_pos)
    if s.must_move >= 0:
        out["mustMoveFromStackKey"] = g.keys[s.must_move]
    return out


# ---------------------------------------------------------------------------- moves


def move_to_json(m: Move) -> dict[str, Any]:
    """Export a move in the reference move format (vectors-report 1.5)."""
    g = geometry(m.board)
    out: dict[str, Any] = {"type": m.kind, "player": m.player}
    out["to"] = _pos(g, m.to) if m.to >= 0 else {"x": 0, "y": 0}
    if m.frm >= 0:
        out["from"] = _pos(g, m.frm)
    if m.target >= 0:
        out["captureTarget"] = _pos(g, m.target)
    kind = m.kind
    if kind == PLACE_RING:
        out["placementCount"] = m.placement_count
    elif kind in (PROCESS_LINE, CHOOSE_LINE_OPTION):
        line = m.cells
        a, b = g.coords[line[0]], g.coords[line[1]]
        direction = dict(zip("xyz", (b[i] - a[i] for i in range(len(a)))))
        out["formedLines"] = [
            {"positions": [_pos(g, c) for c in line], "player": m.player, "length": len(line), "direction": direction}
        ]
        out["collapsedMarkers"] = [_pos(g, c) for c in m.collapse]
    elif kind == ELIMINATE_RINGS_FROM_STACK:
        out["eliminationContext"] = m.mode
    elif kind == CHOOSE_TERRITORY_OPTION:
        out["disconnectedRegions"] = [
            {"spaces": [_pos(g, c) for c in m.cells], "controllingPlayer": m.player, "isDisconnected": True}
        ]
    elif kind == RECOVERY_SLIDE:
        out["recoveryMode"] = m.mode
        if m.option:
            out["recoveryOption"] = m.option
        if m.option == 2:
            out["collapsePositions"] = [_pos(g, c) for c in m.collapse]
        out["extractionStacks"] = [g.keys[m.extract]] if m.extract >= 0 else []
    return out


def move_from_json(obj: Mapping[str, Any], state: GameState) -> Move:
    """Import a reference move for `state`, resolving fields older records leave out.

    Legacy type names are mapped (rules.md 15); a line given only by `to`, a region given
    only by its representative cell, a recovery slide without mode or extraction stack, and
    an elimination without context are completed from the state. The result equals the
    matching entry of `legal_moves(state)` when the move is legal.
    """
    if not isinstance(obj, Mapping):
        raise _fail("move", f"expected an object, got {type(obj).__name__}", "pass the parsed JSON object")
    g = state.geo
    board = g.board
    kind = LEGACY_MOVE_TYPES.get(str(obj.get("type")), obj.get("type"))
    if kind not in MOVE_TYPES:
        raise _fail("move.type", f"unknown move type {obj.get('type')!r}", f"use one of {', '.join(MOVE_TYPES)}")
    try:
        player = int(obj["player"])
    except (KeyError, TypeError, ValueError):
        raise _fail("move.player", f"{obj.get('player')!r} is not a seat number", "give the mover's seat") from None

    def cell(field: str, required: bool = True) -> int:
        pos = obj.get(field)
        if pos is None:
            if required:
                raise _fail(f"move.{field}", "missing", f"a {kind} move needs {field}")
            return -1
        return _cell_from_pos(g, pos, f"move.{field}")

    def cells(field: str) -> list[int]:
        return [_cell_from_pos(g, p, f"move.{field}[{i}]") for i, p in enumerate(obj.get(field) or [])]

    new = tuple.__new__
    if kind == PLACE_RING:
        return new(Move, (kind, player, board, cell("to"), -1, -1, int(obj.get("placementCount") or 1), (), (), "", 0, -1))
    if kind == MOVE_STACK:
        return new(Move, (kind, player, board, cell("to"), cell("from"), -1, 0, (), (), "", 0, -1))
    if kind in (OVERTAKING_CAPTURE, CONTINUE_CAPTURE_SEGMENT):
        return new(Move, (kind, player, board, cell("to"), cell("from"), cell("captureTarget"), 0, (), (), "", 0, -1))
    if kind == FORCED_ELIMINATION:
        return new(Move, (kind, player, board, cell("to"), -1, -1, 0, (), (), "", 0, -1))
    if kind == ELIMINATE_RINGS_FROM_STACK:
        context = obj.get("eliminationContext") or _infer_context(state)
        if context not in (CONTEXT_LINE, CONTEXT_TERRITORY, CONTEXT_RECOVERY):
            raise _fail("move.eliminationContext", f"unknown context {context!r}", "use line, territory or recovery")
        return new(Move, (kind, player, board, cell("to"), -1, -1, 0, (), (), context, 0, -1))
    if kind in (PROCESS_LINE, CHOOSE_LINE_OPTION):
        return _line_from_json(obj, state, kind, player, cell("to", False), cells)
    if kind == CHOOSE_TERRITORY_OPTION:
        spaces = []
        regions = obj.get("disconnectedRegions") or []
        if regions and isinstance(regions[0], Mapping):
            spaces = [_cell_from_pos(g, p, f"move.disconnectedRegions[0].spaces[{i}]") for i, p in enumerate(regions[0].get("spaces") or [])]
        to = cell("to", False)
        if not spaces and to >= 0:
            for r in find_regions(state):
                if r & g.bit[to]:
                    spaces = g.cells_of(r)
                    break
        region = tuple(sorted(set(spaces))) or ((to,) if to >= 0 else ())
        if not region:
            raise _fail("move.disconnectedRegions", "no region given", "give disconnectedRegions[0].spaces or to")
        return new(Move, (kind, player, board, region[0], -1, -1, 0, region, (), "", 0, -1))
    if kind == RECOVERY_SLIDE:
        return _recovery_from_json(obj, state, player, cell("from"), cell("to"), cells)
    return new(Move, (kind, player, board, -1, -1, -1, 0, (), (), "", 0, -1))


def _infer_context(state: GameState) -> str:
    if state.phase == LINE_PROCESSING:
        return CONTEXT_LINE
    if state.turn_recovery:
        return CONTEXT_RECOVERY
    return CONTEXT_TERRITORY


def _line_from_json(
    obj: Mapping[str, Any], state: GameState, kind: str, player: int, to: int, cells: Callable[[str], list[int]]
) -> Move:
    g = state.geo
    L = state.params.line_length
    given: list[int] = []
    formed = obj.get("formedLines") or []
    if formed and isinstance(formed[0], Mapping):
        given = [_cell_from_pos(g, p, f"move.formedLines[0].positions[{i}]") for i, p in enumerate(formed[0].get("positions") or [])]
    line: tuple[int, ...] = ()
    for cand in find_lines(state, player):
        if (given and set(cand) == set(given)) or (not given and to in cand):
            line = cand
            break
    if not line:
        line = tuple(given) or ((to,) if to >= 0 else ())
    collapse_given = set(cells("collapsedMarkers"))
    if not collapse_given or collapse_given == set(line):
        collapse_cells = line
        option = 1
    else:
        collapse_cells = tuple(c for c in line if c in collapse_given) if set(line) >= collapse_given else tuple(sorted(collapse_given))
        option = 2
    if option == 1:
        kind = PROCESS_LINE if len(line) == L else CHOOSE_LINE_OPTION
    else:
        kind = CHOOSE_LINE_OPTION
    return tuple.__new__(Move, (kind, player, g.board, line[0] if line else -1, -1, -1, 0, line, collapse_cells, "", option, -1))


def _recovery_from_json(
    obj: Mapping[str, Any], state: GameState, player: int, frm: int, to: int, cells: Callable[[str], list[int]]
) -> Move:
    g = state.geo
    L = state.params.line_length
    mode = obj.get("recoveryMode")
    if mode is None:
        if state.stacks[to]:
            mode = RECOVERY_STACK_STRIKE
        elif len(run_through(state, frm, to, player)) >= L:
            mode = RECOVERY_LINE
        else:
            mode = RECOVERY_FALLBACK
    if mode not in (RECOVERY_LINE, RECOVERY_FALLBACK, RECOVERY_STACK_STRIKE):
        raise _fail("move.recoveryMode", f"unknown mode {mode!r}", "use line, fallback or stack_strike")
    option = int(obj.get("recoveryOption") or obj.get("option") or 0)
    run: tuple[int, ...] = ()
    window: tuple[int, ...] = ()
    if mode == RECOVERY_LINE:
        run = run_through(state, frm, to, player)
        option = option or 1
        if option == 2:
            given = set(cells("collapsePositions"))
            window = tuple(c for c in run if c in given) if given <= set(run) else tuple(sorted(given))
        else:
            window = run
    else:
        option = 0
    extract = -1
    keys = obj.get("extractionStacks")
    if keys:
        extract = _cell_from_key(g, keys[0], "move.extractionStacks[0]")
    elif keys is None and not (mode == RECOVERY_LINE and option == 2):
        # D13: without the field, the reference engines took the first eligible stack.
        if mode == RECOVERY_STACK_STRIKE:
            extract = strike_extractions(state, player, to)[0]
        else:
            eligible = extraction_stacks(state, player)
            extract = eligible[0] if eligible else -1
    candidate = tuple.__new__(Move, (RECOVERY_SLIDE, player, g.board, to, frm, -1, 0, run, window, mode, option, extract))
    for m in legal_moves(state):
        if m == candidate:
            return m  # the listed object, so identity checks in apply_move are cheap
    return candidate
