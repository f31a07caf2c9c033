"""Game-level entry points: a new game, and questions about its end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ringrift_hpc.rules.geometry import BOARDS
from ringrift_hpc.rules.state import COMPLETED, GameState, RulesOptions, empty_state
from ringrift_hpc.rules.victory import ranking as _ranking


def _options(rules_options: RulesOptions | Mapping[str, Any] | None) -> RulesOptions:
    if rules_options is None:
        return RulesOptions()
    if isinstance(rules_options, RulesOptions):
        return rules_options
    known = {"swapRuleEnabled", "ringsPerPlayer", "lpsRoundsRequired"}
    unknown = sorted(set(rules_options) - known)
    if unknown:
        raise ValueError(f"rules_options: unknown keys {unknown}; known keys are {sorted(known)}")
    rings = rules_options.get("ringsPerPlayer")
    if rings is not None and (not isinstance(rings, int) or rings < 1):
        raise ValueError(f"rules_options.ringsPerPlayer: {rings!r} is not a positive integer; omit it for the board default")
    rounds = rules_options.get("lpsRoundsRequired", 3)
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rules_options.lpsRoundsRequired: {rounds!r} is not a positive integer; the default is 3")
    return RulesOptions(
        swap_rule_enabled=bool(rules_options.get("swapRuleEnabled", False)),
        rings_per_player=rings,
        lps_rounds_required=rounds,
    )


def initial_state(
    board: str, num_players: int, *, rules_options: RulesOptions | Mapping[str, Any] | None = None
) -> GameState:
    """A new game. `rules_options` is a `RulesOptions` or the reference `rulesOptions` dict."""
    if board not in BOARDS:
        raise ValueError(f"board: unknown board {board!r}; use one of {', '.join(BOARDS)}")
    if num_players not in (2, 3, 4):
        raise ValueError(f"num_players: {num_players} is not supported; use 2, 3 or 4")
    return empty_state(board, num_players, _options(rules_options))


def is_terminal(state: GameState) -> bool:
    return state.status == COMPLETED


def winner(state: GameState) -> int | None:
    """The winning seat of a finished game, or None (unfinished, or 3-4p resignation)."""
    return state.winner or None


def ranking(state: GameState) -> tuple[int, ...]:
    """Final rank per seat (index 0 = seat 1; 1 = best; ties share a rank). See victory.ranking."""
    return _ranking(state)
