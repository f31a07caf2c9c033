"""Game tables: every recorded game of a variant as integer arrays, the input of the rating fit.

A table is columnar so that fitting a million games is array arithmetic: `seats[g, s]` is the
index (into `participants`) of the player in seat `s` of game `g`, `ranks[g, s]` its competition
rank (1 = best, ties share the better rank).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ringrift_hpc.config.variants import Variant
from ringrift_hpc.rating.records import CrossVariantError, MatchGroup

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class GameTable:
    """All games of one variant."""

    variant: Variant
    participants: tuple[str, ...]  # participant ids, sorted; position = index used in `seats`
    seats: IntArray  # [G, n] participant index per seat
    ranks: IntArray  # [G, n] competition rank per seat

    def __post_init__(self) -> None:
        players = self.variant.players
        if self.seats.shape != self.ranks.shape or self.seats.ndim != 2 or self.seats.shape[1] != players:
            raise ValueError(
                f"{self.variant} game table: seats {self.seats.shape} and ranks {self.ranks.shape} "
                f"must both be [games, {players}]"
            )
        if self.seats.size and (self.seats.min() < 0 or self.seats.max() >= len(self.participants)):
            raise ValueError(
                f"{self.variant} game table: a seat index lies outside the {len(self.participants)} participants"
            )

    @property
    def games(self) -> int:
        return int(self.seats.shape[0])

    @property
    def players(self) -> int:
        return int(self.seats.shape[1])


def table_from_groups(variant: Variant, groups: Iterable[MatchGroup]) -> GameTable:
    """The game table of `groups`, which must all be of `variant`."""
    group_list = list(groups)
    for number, group in enumerate(group_list):
        if group.variant != variant:
            raise CrossVariantError(
                f"group {number} is of variant {group.variant}, the table is for {variant}; "
                "rate each variant from its own groups"
            )
    ids = sorted({p.id for group in group_list for p in group.lineup})
    index = {pid: k for k, pid in enumerate(ids)}
    players = variant.players
    seats = np.array(
        [[index[seat] for seat in game.seats] for group in group_list for game in group.games], dtype=np.int64
    ).reshape(-1, players)
    ranks = np.array(
        [list(game.ranks) for group in group_list for game in group.games], dtype=np.int64
    ).reshape(-1, players)
    return GameTable(variant=variant, participants=tuple(ids), seats=seats, ranks=ranks)


def weighted_bincount(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """`np.bincount` with weights, typed as the float array it returns."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def seat_scores(ranks: IntArray) -> FloatArray:
    """[G, n] share of the other seats each seat finished ahead of, ties counting half."""
    n = ranks.shape[1]
    points = np.zeros(ranks.shape)
    for mine in range(n):
        for theirs in range(n):
            if mine != theirs:
                points[:, mine] += (ranks[:, mine] < ranks[:, theirs]) + 0.5 * (
                    ranks[:, mine] == ranks[:, theirs]
                )
    return np.asarray(points / (n - 1), dtype=np.float64)


def participant_totals(table: GameTable) -> tuple[IntArray, FloatArray]:
    """Per participant: games played (a game counts once however many seats it held) and mean seat score."""
    size = len(table.participants)
    seats = table.seats
    first = np.ones(seats.shape, dtype=bool)
    for column in range(1, seats.shape[1]):
        first[:, column] = (seats[:, :column] != seats[:, column : column + 1]).all(axis=1)
    games = np.bincount(seats[first], minlength=size)
    appearances = np.bincount(seats.ravel(), minlength=size)
    points = weighted_bincount(seats.ravel(), seat_scores(table.ranks).ravel(), size)
    score = np.divide(points, appearances, out=np.zeros(size), where=appearances > 0)
    return games.astype(np.int64), score
