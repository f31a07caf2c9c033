"""Many selfplay games at once, turned into shard records as each one ends.

A `Mover` decides the move of every live game in one call (the batched search makes one
network call per simulation step for all of them) and gives the training target with it.
Two movers exist:

* `SearchMover`: Gumbel search with a network; the target is the improved policy. With playout
  cap randomization (`full_fraction` < 1) each move is searched at the full budget with that
  probability and is then a sample; the other moves get the cheap search and are not samples.
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

from ringrift_hpc.ai.aux_targets import aux_targets
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
    target: np.ndarray | None  # [len(moves)] probabilities; None: not a sample (forced or cheap)
    searched: np.ndarray | None = None  # [num_players] the search's root value, absolute seats


class Mover(Protocol):
    def decide(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Decision]: ...


@dataclass(frozen=True)
class SearchMover:
    evaluator: Evaluator
    config: SearchConfig
    fast_config: SearchConfig | None = None
    full_fraction: float = 1.0

    def decide(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Decision]:
        # Each game draws from its own generator, so its choices do not depend on its batch.
        full = [self.fast_config is None or r.random() < self.full_fraction for r in rngs]
        out: list[Decision | None] = [None] * len(states)
        for wanted, config in ((True, self.config), (False, self.fast_config)):
            rows = [i for i, f in enumerate(full) if f is wanted]
            if not rows or config is None:
                continue
            results = search([states[i] for i in rows], self.evaluator, config, [rngs[i] for i in rows])
            for i, r in zip(rows, results, strict=True):
                sample = wanted and not r.forced
                out[i] = Decision(
                    r.move, r.moves, r.policy if sample else None, r.root_value if sample else None
                )
        return [d for d in out if d is not None]


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


@dataclass(frozen=True)
class Sample:
    """A position with a real choice, as played: its target and the search's value, if searched."""

    state: GameState
    ply: int
    moves: tuple[Move, ...]
    target: np.ndarray
    searched: np.ndarray | None


@dataclass
class _Game:
    number: int  # index of the game within the task
    seed: int
    rng: np.random.Generator
    state: GameState
    moves_played: int = 0
    samples: list[Sample] = field(default_factory=list)


def game_record(
    codec: ActionCodec,
    seed: int,
    final: GameState,
    moves_played: int,
    samples: Sequence[Sample],
    value_search_weight: float = 0.0,
) -> GameRecord:
    """The shard record of a finished game: encoded samples, sparse targets, mover-relative values
    and the auxiliary targets of the final position (`ai.aux_targets`).

    A sample's value target is the outcome, or with `value_search_weight` w and a searched
    sample, `(1 - w) * outcome + w * searched root value` (the Q+z mix of Connect-4 AlphaZero
    studies: the outcome is unbiased but one noisy label per game, the search value is per
    position).
    """
    states = [s.state for s in samples]
    n = final.num_players
    outcome = outcome_values(final)
    to_move = np.array([s.current for s in states], dtype=np.int64)
    ownership, score = aux_targets(final, to_move)
    if states:
        planes, scalars = encode_states(states)
        absolute = np.repeat(outcome[None, :], len(states), axis=0)
        if value_search_weight:
            for row, sample in enumerate(samples):
                if sample.searched is not None:
                    absolute[row] = (
                        1 - value_search_weight
                    ) * outcome + value_search_weight * sample.searched
        values = relative_values(absolute, to_move)
    else:
        shape = encoder_shape(final.geo.board, n)
        planes = np.zeros((0, shape.planes, shape.height, shape.width), dtype=np.float32)
        scalars = np.zeros((0, shape.scalars), dtype=np.float32)
        values = np.zeros((0, n), dtype=np.float32)
    policy_indices, policy_probs, legal_indices = [], [], []
    for sample in samples:
        legal = codec.indices(sample.state, sample.moves).astype(np.int32)
        # Probabilities that underflowed to zero carry no information; the legal list keeps the move.
        kept = sample.target > 0
        policy_indices.append(legal[kept])
        policy_probs.append((sample.target[kept] / sample.target[kept].sum()).astype(np.float32))
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
        plies=np.array([s.ply for s in samples], dtype=np.int32),
        ownership=ownership,
        score=score,
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
    value_search_weight: float = 0.0,
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
                game.samples.append(
                    Sample(game.state, game.moves_played, decision.moves, decision.target, decision.searched)
                )
            game.state = apply_move_unchecked(game.state, decision.move)
            game.moves_played += 1
            if is_terminal(game.state):
                on_game(
                    game_record(
                        codec, game.seed, game.state, game.moves_played, game.samples, value_search_weight
                    )
                )
                finished += 1
            elif game.moves_played >= MAX_GAME_MOVES:
                raise RuntimeError(
                    f"selfplay: game {game.number} (seed {game.seed}) did not end within {MAX_GAME_MOVES} moves"
                )
            else:
                still.append(game)
        live = still
