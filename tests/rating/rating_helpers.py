"""Builders for match groups in tests: participants with fake model ids, groups from rankings."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ringrift_hpc.rating.participants import Participant, random_player
from ringrift_hpc.rating.records import GameRecord, MatchGroup, rotation_seats


def model_id(name: str) -> str:
    """A deterministic 64-hex model id standing for the weights file called `name`."""
    return hashlib.sha256(name.encode()).hexdigest()


def net(variant: str, name: str, budget: int = 64) -> Participant:
    return Participant(variant=variant, kind="gumbel", budget=budget, model_id=model_id(name))


def heuristic(variant: str) -> Participant:
    return Participant(variant=variant, kind="heuristic")


def rotated_group(
    lineup: Sequence[Participant], finishing: Sequence[Sequence[int]], *, opening_seed: int = 7
) -> MatchGroup:
    """A group whose game k seats rotation k of `lineup`; `finishing[k][p]` is the rank of lineup position p."""
    games = []
    n = len(lineup)
    for rotation, ranks_by_position in enumerate(finishing):
        seats = rotation_seats(lineup, rotation)
        ranks = [0] * n
        for position, rank in enumerate(ranks_by_position):
            ranks[(position + rotation) % n] = rank
        games.append(
            GameRecord(
                seats=seats, ranks=tuple(ranks), moves=40 + rotation, seed=1000 + rotation, duration_s=1.5
            )
        )
    return MatchGroup(
        variant=lineup[0].variant,
        lineup=tuple(lineup),
        opening_seed=opening_seed,
        games=tuple(games),
    )


def pair(
    variant: str, a: Participant, b: Participant, results: tuple[float, float], seed: int = 7
) -> MatchGroup:
    """A colour-swapped pair; `results` are a's points in each game (1, 0.5 or 0)."""

    def ranks(points: float) -> list[int]:
        return [1, 1] if points == 0.5 else ([1, 2] if points == 1 else [2, 1])

    return rotated_group([a, b], [ranks(results[0]), ranks(results[1])], opening_seed=seed)


__all__ = ["heuristic", "model_id", "net", "pair", "random_player", "rotated_group"]
