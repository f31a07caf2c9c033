"""Rules-engine throughput: uniformly random games, state copies and move generation.

Pure apart from the clock: each function plays or times, and returns a frozen result; the CLI
prints. Every step of a random game generates the legal moves and applies one of them (the
bookkeeping `no_*` / `skip_*` moves included), through the unchecked fast path that search uses
unless `checked=True`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ringrift_hpc import rules

# Moves/s of the reference Python engine on this machine class, 2 players (issue 3).
REFERENCE_MOVES_PER_S: dict[str, float] = {
    "square8": 440.0,
    "hex8": 440.0,
    "square19": 89.0,
    "hexagonal": 63.0,
}
TARGET_FACTOR = 50.0
DEFAULT_BOARDS: tuple[str, ...] = ("square8", "hex8", "square19", "hexagonal")
# A random game that has not ended after this many moves is cut off and reported as unfinished.
MAX_MOVES_PER_GAME = 200_000


@dataclass(frozen=True)
class Throughput:
    """Random-game throughput on one variant."""

    board: str
    num_players: int
    checked: bool
    games_finished: int
    games_started: int
    moves: int
    seconds: float

    @property
    def moves_per_s(self) -> float:
        return self.moves / self.seconds if self.seconds > 0 else 0.0

    @property
    def games_per_s(self) -> float:
        return self.games_finished / self.seconds if self.seconds > 0 else 0.0

    @property
    def moves_per_game(self) -> float:
        return self.moves / self.games_started if self.games_started else 0.0

    @property
    def reference_moves_per_s(self) -> float | None:
        """The reference engine's rate; only known for 2 players."""
        return REFERENCE_MOVES_PER_S.get(self.board) if self.num_players == 2 else None

    @property
    def speedup(self) -> float | None:
        ref = self.reference_moves_per_s
        return self.moves_per_s / ref if ref else None


@dataclass(frozen=True)
class MidgameCosts:
    """Per-call costs on one mid-game position of a random game."""

    board: str
    num_players: int
    ply: int
    phase: str
    legal_count: int
    copy_us: float
    legal_moves_us: float


def _apply_fn(checked: bool) -> Callable[[Any, Any], Any]:
    return rules.apply_move if checked else rules.apply_move_unchecked


def random_games(
    board: str,
    num_players: int,
    *,
    seconds: float,
    max_games: int | None = None,
    seed: int = 0,
    checked: bool = False,
) -> Throughput:
    """Play uniformly random games until `seconds` have passed or `max_games` games finished.

    Moves of a game cut off by the clock count towards moves/s but not towards games/s.
    """
    apply = _apply_fn(checked)
    rng = random.Random(seed)
    moves = finished = started = 0
    start = time.perf_counter()
    deadline = start + seconds
    while (max_games is None or finished < max_games) and time.perf_counter() < deadline:
        state = rules.initial_state(board, num_players)
        started += 1
        for _ in range(MAX_MOVES_PER_GAME):
            if rules.is_terminal(state):
                finished += 1
                break
            legal = rules.legal_moves(state)
            state = apply(state, legal[rng.randrange(len(legal))])
            moves += 1
            if moves & 63 == 0 and time.perf_counter() >= deadline:
                break
    return Throughput(
        board=board,
        num_players=num_players,
        checked=checked,
        games_finished=finished,
        games_started=started,
        moves=moves,
        seconds=time.perf_counter() - start,
    )


def midgame_position(board: str, num_players: int, *, seed: int = 0) -> tuple[Any, int]:
    """The movement-phase state nearest the middle of one random game, and its ply."""
    rng = random.Random(seed)
    state = rules.initial_state(board, num_players)
    history = [state]
    while not rules.is_terminal(state) and len(history) <= MAX_MOVES_PER_GAME:
        legal = rules.legal_moves(state)
        state = rules.apply_move_unchecked(state, legal[rng.randrange(len(legal))])
        history.append(state)
    middle = len(history) // 2
    by_distance = sorted(range(len(history)), key=lambda ply: abs(ply - middle))
    ply = next(
        (p for p in by_distance if rules.state_to_json(history[p])["currentPhase"] == "movement"),
        middle,
    )
    return history[ply], ply


def _per_call_us(fn: Callable[[], Any], *, min_seconds: float) -> float:
    """Mean microseconds per call of `fn`, repeating until at least `min_seconds` have passed."""
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_seconds:
        for _ in range(32):
            fn()
        calls += 32
        elapsed = time.perf_counter() - start
    return elapsed / calls * 1e6


def midgame_costs(board: str, num_players: int, *, seed: int = 0, min_seconds: float = 0.3) -> MidgameCosts:
    """Cost of `state.copy()` and of `legal_moves` on a mid-game position.

    `legal_moves` is timed on a fresh copy each call (the copy's cost subtracted), so a result
    cached on the state cannot make it look free.
    """
    state, ply = midgame_position(board, num_players, seed=seed)
    copy_us = _per_call_us(state.copy, min_seconds=min_seconds)
    both_us = _per_call_us(lambda: rules.legal_moves(state.copy()), min_seconds=min_seconds)
    return MidgameCosts(
        board=board,
        num_players=num_players,
        ply=ply,
        phase=rules.state_to_json(state)["currentPhase"],
        legal_count=len(rules.legal_moves(state)),
        copy_us=copy_us,
        legal_moves_us=max(both_us - copy_us, 0.0),
    )


@dataclass(frozen=True)
class RulesBenchResult:
    """Everything `ringrift-hpc bench rules` reports."""

    throughput: tuple[Throughput, ...]
    costs: tuple[MidgameCosts, ...]
    target_factor: float = TARGET_FACTOR


def run_rules_bench(
    boards: Sequence[str] = DEFAULT_BOARDS,
    *,
    num_players: int = 2,
    seconds: float = 10.0,
    max_games: int | None = None,
    seed: int = 0,
    checked: bool = False,
) -> RulesBenchResult:
    """Throughput and mid-game costs for each board with `num_players` players."""
    unknown = [b for b in boards if b not in rules.BOARDS]
    if unknown:
        raise ValueError(f"unknown board(s) {unknown}; choose from {list(rules.BOARDS)}")
    if not 2 <= num_players <= 4:
        raise ValueError(f"num_players is {num_players}; RingRift has 2, 3 or 4 players")
    throughput = tuple(
        random_games(b, num_players, seconds=seconds, max_games=max_games, seed=seed, checked=checked)
        for b in boards
    )
    costs = tuple(midgame_costs(b, num_players, seed=seed) for b in boards)
    return RulesBenchResult(throughput=throughput, costs=costs)
