"""Playing seat-rotated game groups between players, many games at once.

A group seats its lineup in every rotation (`rating.records.rotation_seats`): lineup position k
sits in seat (k + r) mod n in game r, so with 2 players a group is a colour-swapped pair and with
3-4 players every participant takes every seat once. Every game of a group starts from the same
opening: `opening_moves` uniformly random plies drawn from the group's seed alone, so the
players' differences, not the opening, decide the group. Game r then draws its players'
randomness from `game_seed(group seed, r)`.

Games are played `concurrent_games` groups at a time; within such a chunk, the games with the
same seating go through one `play_games` call, so each player gets one batched call per step.
The stop check runs before each chunk: only complete groups are ever returned.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ringrift_hpc.ai.players import Player, play_games
from ringrift_hpc.config.base import Int
from ringrift_hpc.config.spec_model import StrictModel, keyword_init
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.seeds import game_rng, game_seed
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import GameRecord, MatchGroup, rotation_seats
from ringrift_hpc.rules import (
    GameState,
    Move,
    apply_move,
    initial_state,
    is_terminal,
    legal_moves,
    ranking,
)

StopFn = Callable[[], str | None]


class GroupPlan(StrictModel):
    """One group to play: who sits where in its first game, and the seed of its opening."""

    what: ClassVar[str] = "group"

    lineup: tuple[Participant, ...]
    seed: Int

    @keyword_init
    def __init__(self, lineup: Sequence[Participant], seed: int) -> None:
        super().__init__(lineup=tuple(lineup), seed=seed)


@dataclass(frozen=True)
class PlayedGroups:
    """The complete groups played, and why playing stopped early (None: every group was played)."""

    groups: tuple[MatchGroup, ...]
    stopped: str | None


def pair_lineup(a: Participant, b: Participant, players: int, number: int) -> tuple[Participant, ...]:
    """The lineup of group `number` between two participants: they alternate seats, and with 3
    players the one holding two seats alternates from group to group, so neither is favoured."""
    first, second = (a, b) if number % 2 == 0 else (b, a)
    return tuple(first if seat % 2 == 0 else second for seat in range(players))


def group_seed(seed: int, stream: str, number: int) -> int:
    """The opening seed of group `number` of the named stream of groups under `seed` (63 bits)."""
    digest = hashlib.sha256(f"ringrift-group/{seed}/{stream}/{number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def opening(board: str, players: int, seed: int, plies: int) -> GameState:
    """The position after up to `plies` uniformly random moves drawn from `seed`; never a finished game."""
    rng = game_rng(seed)
    state = initial_state(board, players)
    for _ in range(plies):
        moves = legal_moves(state)
        following = apply_move(state, moves[int(rng.integers(len(moves)))])
        if is_terminal(following):
            break
        state = following
    return state


class _Clocked:
    """A player that notes, per game (its generator), when it last moved: the game's end time."""

    def __init__(self, inner: Player, last_move: dict[int, float]) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.budget = inner.budget
        self.model_id = inner.model_id
        self._last_move = last_move

    def choose(self, states: Sequence[GameState], rngs: Sequence[np.random.Generator]) -> list[Move]:
        moves = self.inner.choose(states, rngs)
        now = time.monotonic()
        for rng in rngs:
            self._last_move[id(rng)] = now
        return moves


def play_groups(
    variant: Variant,
    plans: Sequence[GroupPlan],
    players: Mapping[str, Player],
    *,
    opening_moves: int,
    concurrent_games: int,
    stop: StopFn = lambda: None,
) -> PlayedGroups:
    """Play `plans` with `players` (by participant id); see the module docstring."""
    n = variant.players
    missing = sorted({p.id for plan in plans for p in plan.lineup} - set(players))
    if missing:
        raise ValueError(f"play_groups: no player for participant(s) {missing}; build one per lineup member")
    last_move: dict[int, float] = {}
    clocked = {pid: _Clocked(player, last_move) for pid, player in players.items()}
    done: list[MatchGroup] = []
    for first in range(0, len(plans), concurrent_games):
        reason = stop()
        if reason is not None:
            return PlayedGroups(tuple(done), reason)
        chunk = plans[first : first + concurrent_games]
        starts = [opening(variant.board, n, plan.seed, opening_moves) for plan in chunk]
        records: dict[tuple[int, int], GameRecord] = {}
        buckets: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for g, plan in enumerate(chunk):
            for rotation in range(n):
                buckets.setdefault(rotation_seats(plan.lineup, rotation), []).append((g, rotation))
        for seating, games in buckets.items():
            seeds = [game_seed(chunk[g].seed, rotation) for g, rotation in games]
            rngs = [game_rng(seed) for seed in seeds]
            began = time.monotonic()
            finals = play_games([clocked[pid] for pid in seating], [starts[g] for g, _ in games], rngs)
            for (g, rotation), seed, rng, final in zip(games, seeds, rngs, finals, strict=True):
                records[(g, rotation)] = GameRecord(
                    seats=seating,
                    ranks=tuple(ranking(final)),
                    moves=final.move_count,
                    seed=seed,
                    duration_s=round(max(0.0, last_move.pop(id(rng), began) - began), 4),
                )
        for g, plan in enumerate(chunk):
            done.append(
                MatchGroup(
                    variant=variant,
                    lineup=plan.lineup,
                    opening_seed=plan.seed,
                    games=tuple(records[(g, rotation)] for rotation in range(n)),
                )
            )
    return PlayedGroups(tuple(done), None)
