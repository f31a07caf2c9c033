"""Players behind one interface: each chooses moves for a batch of positions.

A player's `kind`, `budget` and `model_id` are what a rating participant is made of
(`ringrift_hpc.rating.participants.Participant`). Each position in a batch
comes with its own random generator, so a game's moves do not depend on its batch neighbours.

* `RandomPlayer` (`random`): uniformly random legal moves.
* `HeuristicPlayer` (`heuristic`): the one-ply lookahead of `ringrift_hpc.ai.heuristic`.
* `PolicyPlayer` (`policy`): the evaluator's priors only, argmax or sampled; one batched call.
* `SearchPlayer` (`gumbel`): `ringrift_hpc.ai.search` at a fixed budget.

`play_games` plays many games at once, batching each player's positions into one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ringrift_hpc.ai import heuristic
from ringrift_hpc.ai.evaluation import Evaluator
from ringrift_hpc.ai.search import SearchConfig, SearchResult, search
from ringrift_hpc.rules import GameState, Move, apply_move, is_terminal, legal_moves

# A random game on square8 takes ~150 moves and hexagonal ~2,000; far beyond that is a bug.
MAX_GAME_MOVES = 100_000


class Player(Protocol):
    """Chooses one legal move for each position."""

    # Read-only members, so that frozen dataclass players satisfy the protocol.
    @property
    def kind(self) -> str: ...

    @property
    def budget(self) -> int:
        """Search simulations per move; 0 when the player does not search."""

    @property
    def model_id(self) -> str | None:
        """sha256 of the network's weights; None without a network."""

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]: ...


def _check(states: Sequence[GameState], rngs: Sequence[np.random.Generator], who: str) -> None:
    if len(states) != len(rngs):
        raise ValueError(f"{who}: {len(states)} positions but {len(rngs)} random generators; give one each")


@dataclass(frozen=True)
class RandomPlayer:
    kind: str = "random"
    budget: int = 0
    model_id: str | None = None

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        _check(states, rngs, self.kind)
        out = []
        for state, rng in zip(states, rngs):
            moves = legal_moves(state)
            out.append(moves[int(rng.integers(len(moves)))])
        return out


@dataclass(frozen=True)
class HeuristicPlayer:
    kind: str = "heuristic"
    budget: int = 0
    model_id: str | None = None

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        _check(states, rngs, self.kind)
        return heuristic.choose_moves(states, rngs)


@dataclass(frozen=True)
class PolicyPlayer:
    """The network's prior alone: the most likely move, or a sample when `sample` is set."""

    evaluator: Evaluator
    model_id: str | None = None
    sample: bool = False
    kind: str = "policy"
    budget: int = 0

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        _check(states, rngs, self.kind)
        moves = [legal_moves(s) for s in states]
        out: list[Move | None] = [m[0] if len(m) == 1 else None for m in moves]
        asked = [i for i, m in enumerate(out) if m is None]
        if asked:
            evaluations = self.evaluator.evaluate([states[i] for i in asked])
            for i, ev in zip(asked, evaluations, strict=True):
                priors = np.asarray(ev.priors, dtype=np.float64)
                if self.sample:
                    k = int(rngs[i].choice(len(priors), p=priors / priors.sum()))
                else:
                    k = int(np.argmax(priors))
                out[i] = moves[i][k]
        return [m for m in out if m is not None]


@dataclass(frozen=True)
class SearchPlayer:
    """Gumbel search at `config.simulations`; `budget` mirrors it for the participant id."""

    evaluator: Evaluator
    config: SearchConfig
    model_id: str | None = None
    kind: str = "gumbel"

    @property
    def budget(self) -> int:
        return self.config.simulations

    def search(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[SearchResult]:
        _check(states, rngs, self.kind)
        return search(states, self.evaluator, self.config, rngs)

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        return [r.move for r in self.search(states, rngs)]


def play_games(
    seats: Sequence[Player], starts: Sequence[GameState], rngs: Sequence[np.random.Generator]
) -> list[GameState]:
    """Play every game to its end; `seats[k]` plays seat k+1 in every game.

    Each step, the positions of all unfinished games are grouped by the player to move and each
    player gets one `choose` call for its group. Returns the final positions, in order.
    """
    _check(starts, rngs, "play_games")
    for i, start in enumerate(starts):
        if start.num_players != len(seats):
            raise ValueError(
                f"play_games: game {i} has {start.num_players} seats but {len(seats)} players were given"
            )
    states = list(starts)
    for _ in range(MAX_GAME_MOVES):
        live = [i for i, s in enumerate(states) if not is_terminal(s)]
        if not live:
            return states
        by_player: dict[int, list[int]] = {}
        for i in live:
            by_player.setdefault(id(seats[states[i].current - 1]), []).append(i)
        for group in by_player.values():
            player = seats[states[group[0]].current - 1]
            moves = player.choose([states[i] for i in group], [rngs[i] for i in group])
            for i, move in zip(group, moves, strict=True):
                states[i] = apply_move(states[i], move)
    raise RuntimeError(f"play_games: a game did not end within {MAX_GAME_MOVES} moves")
