"""Many selfplay games at once, turned into shard records as each one ends.

A `Mover` decides the move of every live game in one call (the batched search makes one
network call per simulation step for all of them) and gives the training target with it.
Two movers exist:

* `SearchMover`: Gumbel search with a network; the target is the improved policy.
* `BootstrapMover` (generation 0, no network yet): the configured `random` or `heuristic`
  player; the target is the one-hot of the move that player chooses. During the first
  `opening_sample_moves` turns the game plays a uniformly random move instead, for diversity
  (the heuristic is nearly deterministic), while the target stays the player's own choice.

Every random choice of game i comes from its own generator, seeded from its seed alone, so a
game replays from its seed whatever else shared the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.encoding import encode_states, encoder_shape
from ringrift_hpc.ai.evaluation import Evaluator, outcome_values
from ringrift_hpc.ai.net import relative_values
from ringrift_hpc.ai.players import MAX_GAME_MOVES, HeuristicPlayer, RandomPlayer
from ringrift_hpc.ai.search import SearchConfig, search
from ringrift_hpc.data.shards import GameRecord
from ringrift_hpc.jobs.seeds import game_rng
from ringrift_hpc.rules import GameState, Move, apply_move_unchecked, is_terminal, legal_moves, ranking


@dataclass(frozen=True)
class Decision:
    """The move to play in one position and, unless the position is forced, its target."""

    move: Move
    moves: tuple[Move, ...]  # legal_moves(state), the order of `target`
    target: np.ndarray | None  # [len(moves)] probabilities; None: forced, not a sample


class Mover(Protocol):
    def decide(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Decision]: ...


@dataclass(frozen=True)
class SearchMover:
    evaluator: Evaluator
    config: SearchConfig

    def decide(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Decision]:
        results = search(states, self.evaluator, self.config, rngs)
        return [Decision(r.move, r.moves, None if r.forced else r.policy) for r in results]


@dataclass(frozen=True)
class BootstrapMover:
    player: RandomPlayer | HeuristicPlayer
    opening_sample_moves: int

    def decide(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Decision]:
        out = []
        for state, rng in zip(states, rngs, strict=True):
            moves = tuple(legal_moves(state))
            if len(moves) == 1:
                out.append(Decision(moves[0], moves, None))
                continue
            chosen = self.player.choose([state], [rng])[0]
            target = np.zeros(len(moves), dtype=np.float32)
            target[moves.index(chosen)] = 1.0
            played = (
                moves[int(rng.integers(len(moves)))]
                if state.turn_number <= self.opening_sample_moves
                else chosen
            )
            out.append(Decision(played, moves, target))
        return out


@dataclass
class _Game:
    number: int  # index of the game within the task
    seed: int
    rng: np.random.Generator
    state: GameState
    moves_played: int = 0
    samples: list[tuple[GameState, int, tuple[Move, ...], np.ndarray]] = field(default_factory=list)


def game_record(
    codec: ActionCodec,
    seed: int,
    final: GameState,
    moves_played: int,
    samples: list[tuple[GameState, int, tuple[Move, ...], np.ndarray]],
) -> GameRecord:
    """The shard record of a finished game: encoded samples, sparse targets, mover-relative values."""
    states = [s for s, _, _, _ in samples]
    n = final.num_players
    outcome = outcome_values(final)
    if states:
        planes, scalars = encode_states(states)
        to_move = np.array([s.current for s in states], dtype=np.int64)
        values = relative_values(np.repeat(outcome[None, :], len(states), axis=0), to_move)
    else:
        shape = encoder_shape(final.geo.board, n)
        planes = np.zeros((0, shape.planes, shape.height, shape.width), dtype=np.float32)
        scalars = np.zeros((0, shape.scalars), dtype=np.float32)
        values = np.zeros((0, n), dtype=np.float32)
    policy_indices, policy_probs, legal_indices = [], [], []
    for state, _, moves, target in samples:
        legal = codec.indices(state, moves).astype(np.int32)
        # Probabilities that underflowed to zero carry no information; the legal list keeps the move.
        kept = target > 0
        policy_indices.append(legal[kept])
        policy_probs.append((target[kept] / target[kept].sum()).astype(np.float32))
        legal_indices.append(legal)
    return GameRecord(
        seed=seed,
        length=moves_played,
        ranks=np.asarray(ranking(final), dtype=np.int8),
        planes=planes,
        scalars=scalars,
        policy_indices=tuple(policy_indices),
        policy_probs=tuple(policy_probs),
        legal_indices=tuple(legal_indices),
        values=values.astype(np.float32),
        plies=np.array([ply for _, ply, _, _ in samples], dtype=np.int32),
    )


@dataclass(frozen=True)
class PlayOutcome:
    finished: int  # games handed to `on_game`
    abandoned: int  # games in flight when a hard stop came
    stop_reason: str  # "games", "time_budget" or the hard stop's reason


def play_selfplay(
    mover: Mover,
    start: Callable[[], GameState],
    seeds: Sequence[int],
    codec: ActionCodec,
    *,
    concurrent: int,
    on_game: Callable[[GameRecord], None],
    hard_stop: Callable[[], str | None],
    soft_stop: Callable[[], bool],
) -> PlayOutcome:
    """Play games `0..len(seeds)-1` with at most `concurrent` in flight.

    `soft_stop()` true (a time budget spent): start no new game, finish those in flight.
    `hard_stop()` giving a reason (HALT, walltime): abandon the games in flight at once: a game
    without its end has no value targets, and finishing it could overrun the walltime.
    """
    live: list[_Game] = []
    started = finished = 0
    soft = False
    while True:
        reason = hard_stop()
        if reason is not None:
            return PlayOutcome(finished, len(live), reason)
        soft = soft or soft_stop()
        while not soft and started < len(seeds) and len(live) < concurrent:
            seed = seeds[started]
            live.append(_Game(started, seed, game_rng(seed), start()))
            started += 1
        if not live:
            return PlayOutcome(finished, 0, "time_budget" if soft and started < len(seeds) else "games")
        decisions = mover.decide([g.state for g in live], [g.rng for g in live])
        still: list[_Game] = []
        for game, decision in zip(live, decisions, strict=True):
            if decision.target is not None:
                game.samples.append((game.state, game.moves_played, decision.moves, decision.target))
            game.state = apply_move_unchecked(game.state, decision.move)
            game.moves_played += 1
            if is_terminal(game.state):
                on_game(game_record(codec, game.seed, game.state, game.moves_played, game.samples))
                finished += 1
            elif game.moves_played >= MAX_GAME_MOVES:
                raise RuntimeError(
                    f"selfplay: game {game.number} (seed {game.seed}) did not end within {MAX_GAME_MOVES} moves"
                )
            else:
                still.append(game)
        live = still
