"""Search throughput: network evaluations per second against batch size, and selfplay positions
per second against the number of concurrent games at a fixed search budget.

Selfplay here is the real loop: every game plays its forced moves without search, then all
games are searched together (one evaluator call per simulation step) and play the chosen moves;
a finished game is replaced by a new one so the number of concurrent games stays fixed. A
"position" is a searched position (one training sample). The time of each setting is split into
the rules engine (legal moves, applying moves), the network (the evaluator call: encoding,
forward pass, masking) and the search (everything else: tree walks, statistics, bookkeeping).

Pure apart from the clock and torch: functions measure and return frozen results; the CLI prints.
The random network is seeded, so its weights are the same on every run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ringrift_hpc.ai.evaluation import Evaluator
from ringrift_hpc.ai.net import NetConfig, PolicyValueNet
from ringrift_hpc.ai.net_evaluator import NetEvaluator
from ringrift_hpc.ai.search import SearchConfig, SearchTimings, search
from ringrift_hpc.rules import GameState, apply_move_unchecked, initial_state, is_terminal, legal_moves

DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 16, 64, 256)
DEFAULT_GAME_COUNTS: tuple[int, ...] = (1, 16, 64, 256)
# Issue 4's target: this many concurrent games give TARGET_RATIO times the rate of one game.
TARGET_GAMES = 64
TARGET_RATIO = 10.0
DEFAULT_SEARCH = SearchConfig(simulations=32, gumbel_actions=16)
SMALL_NET = NetConfig(
    channels=32,
    blocks=4,
    gpool_every=2,
    gpool_channels=8,
    policy_channels=16,
    nonspatial_hidden=32,
    value_channels=16,
    value_hidden=64,
)


@dataclass(frozen=True)
class NetworkRate:
    """Evaluator throughput at one batch size."""

    batch: int
    evaluations: int
    seconds: float

    @property
    def evals_per_s(self) -> float:
        return self.evaluations / self.seconds if self.seconds > 0 else 0.0

    @property
    def ms_per_call(self) -> float:
        calls = self.evaluations / self.batch
        return 1000.0 * self.seconds / calls if calls else 0.0


@dataclass(frozen=True)
class SelfplayRate:
    """Selfplay throughput with a number of concurrent games."""

    games: int
    positions: int  # searched positions (training samples)
    moves: int  # all moves played, forced ones included
    finished: int  # games that ended
    seconds: float
    rules_s: float
    network_s: float
    evaluations: int

    @property
    def positions_per_s(self) -> float:
        return self.positions / self.seconds if self.seconds > 0 else 0.0

    @property
    def search_s(self) -> float:
        return max(0.0, self.seconds - self.rules_s - self.network_s)

    def share(self, part_s: float) -> float:
        return part_s / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SearchBenchResult:
    board: str
    num_players: int
    device: str
    threads: int
    net_config: NetConfig
    search_config: SearchConfig
    network: tuple[NetworkRate, ...]
    selfplay: tuple[SelfplayRate, ...]

    def speedup(self, games: int) -> float | None:
        """Positions/s with `games` concurrent games over that of one game (None if not measured)."""
        rates = {r.games: r.positions_per_s for r in self.selfplay}
        if games not in rates or not rates.get(1):
            return None
        return rates[games] / rates[1]


def seeded_evaluator(
    board: str, num_players: int, net_config: NetConfig, *, device: str, max_batch: int, seed: int
) -> NetEvaluator:
    """A randomly initialised network (seeded) behind the Evaluator protocol."""
    torch.manual_seed(seed)
    return NetEvaluator(PolicyValueNet(net_config, board, num_players), device=device, max_batch=max_batch)


def sample_positions(board: str, num_players: int, count: int, seed: int) -> list[GameState]:
    """`count` positions with a choice (two or more legal moves) from seeded random games."""
    rng = np.random.default_rng(seed)
    out: list[GameState] = []
    state = initial_state(board, num_players)
    while len(out) < count:
        if is_terminal(state):
            state = initial_state(board, num_players)
        moves = legal_moves(state)
        if len(moves) > 1:
            out.append(state)
        state = apply_move_unchecked(state, moves[int(rng.integers(len(moves)))])
    return out


def measure_network(
    evaluator: Evaluator, positions: Sequence[GameState], batch_sizes: Sequence[int], seconds: float
) -> tuple[NetworkRate, ...]:
    """Evaluate batches of each size repeatedly for `seconds` (after one warm-up call each)."""
    rates = []
    for batch in batch_sizes:
        if batch > len(positions):
            raise ValueError(f"batch size {batch} is larger than the {len(positions)} sampled positions")
        states = list(positions[:batch])
        evaluator.evaluate(states)
        done = 0
        start = time.perf_counter()
        while True:
            evaluator.evaluate(states)
            done += batch
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(NetworkRate(batch, done, elapsed))
    return tuple(rates)


def _play_forced(state: GameState) -> tuple[GameState, int]:
    moves = 0
    while not is_terminal(state):
        legal = legal_moves(state)
        if len(legal) != 1:
            break
        state = apply_move_unchecked(state, legal[0])
        moves += 1
    return state, moves


def measure_selfplay(
    evaluator: Evaluator,
    board: str,
    num_players: int,
    games: int,
    config: SearchConfig,
    *,
    seconds: float,
    seed: int,
) -> SelfplayRate:
    """Play `games` concurrent selfplay games for at least `seconds` (whole search steps)."""
    rngs = [np.random.default_rng([seed, i]) for i in range(games)]
    states = [initial_state(board, num_players) for _ in range(games)]
    timings = SearchTimings()
    positions = moves = finished = 0
    rules_s = 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        for i, state in enumerate(states):
            state, forced = _play_forced(state)
            moves += forced
            if is_terminal(state):
                finished += 1
                state, forced = _play_forced(initial_state(board, num_players))
                moves += forced
            states[i] = state
        rules_s += time.perf_counter() - t0
        results = search(states, evaluator, config, rngs, timings=timings)
        t0 = time.perf_counter()
        states = [apply_move_unchecked(s, r.move) for s, r in zip(states, results, strict=True)]
        rules_s += time.perf_counter() - t0
        positions += len(results)
        moves += len(results)
    elapsed = time.perf_counter() - start
    return SelfplayRate(
        games=games,
        positions=positions,
        moves=moves,
        finished=finished,
        seconds=elapsed,
        rules_s=rules_s + timings.rules,
        network_s=timings.network,
        evaluations=timings.evaluations,
    )


def run_search_bench(
    board: str = "square8",
    num_players: int = 2,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    game_counts: Sequence[int] = DEFAULT_GAME_COUNTS,
    search_config: SearchConfig = DEFAULT_SEARCH,
    net_config: NetConfig = SMALL_NET,
    seconds: float = 5.0,
    device: str = "cpu",
    threads: int | None = None,
    seed: int = 0,
) -> SearchBenchResult:
    """Both tables for one variant with a seeded random network of `net_config`."""
    if any(b < 1 for b in batch_sizes) or any(g < 1 for g in game_counts):
        raise ValueError("batch sizes and game counts must be at least 1")
    if threads is not None:
        torch.set_num_threads(threads)
    max_batch = max([*batch_sizes, *game_counts])
    evaluator = seeded_evaluator(
        board, num_players, net_config, device=device, max_batch=max_batch, seed=seed
    )
    positions = sample_positions(board, num_players, max(batch_sizes), seed)
    network = measure_network(evaluator, positions, batch_sizes, seconds)
    selfplay = tuple(
        measure_selfplay(evaluator, board, num_players, g, search_config, seconds=seconds, seed=seed)
        for g in game_counts
    )
    return SearchBenchResult(
        board=board,
        num_players=num_players,
        device=str(evaluator.device),
        threads=torch.get_num_threads(),
        net_config=net_config,
        search_config=search_config,
        network=network,
        selfplay=selfplay,
    )
