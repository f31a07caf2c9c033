"""Match records: one game group per record, validated when built.

A game group seats its lineup (one participant per seat, the same participant may fill several
seats) in every rotation from one seeded opening: 2 players give a colour-swapped pair, 3-4
players give every participant every seat once. The group, not the game, is the statistical
sample, because rotating seats cancels the first-mover advantage.

Ranks are competition ranks per seat: 1 is the winner, tied seats share the better rank and the
next rank skips (`(1, 1, 3)`). A seat's score is the share of the other seats it finished ahead
of, ties counting half, so a 2-player win/draw/loss scores 1/0.5/0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ringrift_hpc.config.variants import Variant, VariantNameError, variant_from_name
from ringrift_hpc.rating.participants import Participant, participant_from_json


class MatchRecordError(ValueError):
    """A game or game group is inconsistent (seats, ranks, counts)."""


class CrossVariantError(MatchRecordError):
    """Participants of different variants were put in one group, or a group in another variant's file."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class GameRecord:
    """One finished game of a group."""

    seats: tuple[str, ...]  # participant id per seat; seat 0 moves first
    ranks: tuple[int, ...]  # competition rank per seat, 1 = best
    moves: int  # moves played, bookkeeping moves included
    seed: int  # seed of the players' randomness in this game
    duration_s: float  # wall-clock seconds the game took

    def __post_init__(self) -> None:
        if len(self.seats) != len(self.ranks):
            raise MatchRecordError(
                f"game has {len(self.seats)} seats but {len(self.ranks)} ranks; give one rank per seat"
            )
        if not all(_is_int(rank) for rank in self.ranks):
            raise MatchRecordError(f"ranks {self.ranks!r} must be integers (1 = winner)")
        expected = competition_ranks(self.ranks)
        if tuple(self.ranks) != expected:
            raise MatchRecordError(
                f"ranks {tuple(self.ranks)} are not competition ranks (1 = best, tied seats share "
                f"the better rank, the next rank skips); for this order they would be {expected}"
            )
        if not _is_int(self.moves) or self.moves < 0:
            raise MatchRecordError(f"moves {self.moves!r} must be a non-negative integer")
        if not _is_int(self.seed):
            raise MatchRecordError(f"seed {self.seed!r} must be an integer")
        if isinstance(self.duration_s, bool) or not isinstance(self.duration_s, (int, float)):
            raise MatchRecordError(f"duration_s {self.duration_s!r} must be a number of seconds")
        if not math.isfinite(self.duration_s) or self.duration_s < 0:
            raise MatchRecordError(f"duration_s {self.duration_s!r} must be finite and non-negative")

    def seat_scores(self) -> tuple[float, ...]:
        """Per seat, the share of the other seats it finished ahead of (ties half)."""
        others = len(self.ranks) - 1
        return tuple(
            sum(_points(mine, theirs) for j, theirs in enumerate(self.ranks) if j != i) / others
            for i, mine in enumerate(self.ranks)
        )

    def head_to_head(self, a: str, b: str) -> tuple[float, int]:
        """(points of `a`, comparisons) over every pair of an `a` seat and a `b` seat."""
        points = 0.0
        comparisons = 0
        for seat_a, rank_a in zip(self.seats, self.ranks):
            if seat_a != a:
                continue
            for seat_b, rank_b in zip(self.seats, self.ranks):
                if seat_b == b:
                    comparisons += 1
                    points += _points(rank_a, rank_b)
        return points, comparisons


def _points(mine: int, theirs: int) -> float:
    return 1.0 if mine < theirs else 0.5 if mine == theirs else 0.0


def competition_ranks(outcome: Sequence[int]) -> tuple[int, ...]:
    """Competition ranks of an ordering (lower is better): `(5, 5, 9)` -> `(1, 1, 3)`."""
    return tuple(1 + sum(other < mine for other in outcome) for mine in outcome)


@dataclass(frozen=True)
class MatchGroup:
    """One game group: the lineup, played from one opening in every seat rotation."""

    variant: Variant
    lineup: tuple[Participant, ...]  # who sits where in the first game; may repeat a participant
    opening_seed: int  # the seeded opening every game of the group starts from
    games: tuple[GameRecord, ...]

    def __post_init__(self) -> None:
        players = self.variant.players
        foreign = [p for p in self.lineup if p.variant != self.variant]
        if foreign:
            raise CrossVariantError(
                f"group of variant {self.variant} includes {', '.join(str(p) for p in foreign)}; "
                "a match is only valid between participants of one variant: play them in their own variant"
            )
        if len(self.lineup) != players:
            raise MatchRecordError(
                f"{self.variant} group has a lineup of {len(self.lineup)}; it needs exactly {players} "
                "(repeat a participant to fill several seats)"
            )
        by_id = {p.id: p for p in self.lineup}
        if len(by_id) < 2:
            raise MatchRecordError(f"{self.variant} group lineup has one participant only; rate two or more")
        if not _is_int(self.opening_seed):
            raise MatchRecordError(f"opening_seed {self.opening_seed!r} must be an integer")
        if len(self.games) != players:
            raise MatchRecordError(
                f"{self.variant} group has {len(self.games)} games; a group is {players} games, "
                "one per seat rotation (write only complete groups)"
            )
        lineup_count = Counter(p.id for p in self.lineup)
        for number, game in enumerate(self.games):
            if len(game.seats) != players:
                raise MatchRecordError(f"game {number}: {len(game.seats)} seats in a {self.variant} group")
            unknown = sorted(set(game.seats) - set(by_id))
            if unknown:
                raise MatchRecordError(f"game {number}: seat(s) held by {unknown}, who are not in the lineup")
            if Counter(game.seats) != lineup_count:
                raise MatchRecordError(
                    f"game {number}: seats {list(game.seats)} do not seat the lineup "
                    f"{[p.id for p in self.lineup]} (each participant as often as in the lineup)"
                )
        for seat in range(players):
            held = Counter(game.seats[seat] for game in self.games)
            if held != lineup_count:
                raise MatchRecordError(
                    f"seat {seat} is held by {dict(held)} over the group, but every participant must "
                    f"take every seat as often as it appears in the lineup ({dict(lineup_count)}); "
                    "play the seat rotations of the lineup"
                )

    def head_to_head(self, a: str, b: str) -> tuple[float, int]:
        """(points of `a`, comparisons) against `b` over the whole group."""
        points = 0.0
        comparisons = 0
        for game in self.games:
            p, c = game.head_to_head(a, b)
            points += p
            comparisons += c
        return points, comparisons

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant.name,
            "lineup": [p.to_json() for p in self.lineup],
            "opening_seed": self.opening_seed,
            "games": [
                {
                    "seats": list(g.seats),
                    "ranks": list(g.ranks),
                    "moves": g.moves,
                    "seed": g.seed,
                    "duration_s": g.duration_s,
                }
                for g in self.games
            ],
        }


def rotation_seats(lineup: Sequence[Participant], rotation: int) -> tuple[str, ...]:
    """Seat ids of game `rotation` of a group: lineup position k sits in seat (k + rotation) mod n."""
    n = len(lineup)
    seats = [""] * n
    for position, participant in enumerate(lineup):
        seats[(position + rotation) % n] = participant.id
    return tuple(seats)


def group_from_json(doc: Any, *, where: str) -> MatchGroup:
    """Parse and validate one group object; `where` (file and line) prefixes every error."""
    if not isinstance(doc, dict):
        raise MatchRecordError(f"{where}: a group must be a JSON object")
    missing = [key for key in ("variant", "lineup", "opening_seed", "games") if key not in doc]
    if missing:
        raise MatchRecordError(f"{where}: group is missing field(s) {', '.join(missing)}")
    if not isinstance(doc["lineup"], list) or not isinstance(doc["games"], list):
        raise MatchRecordError(f"{where}: fields 'lineup' and 'games' must be lists")
    try:
        variant = variant_from_name(doc["variant"], where=f"{where} field 'variant'")
    except VariantNameError as error:
        raise MatchRecordError(str(error)) from None
    lineup = tuple(
        participant_from_json(p, where=f"{where} lineup[{k}]") for k, p in enumerate(doc["lineup"])
    )
    games = tuple(_game_from_json(g, where=f"{where} games[{k}]") for k, g in enumerate(doc["games"]))
    try:
        return MatchGroup(variant=variant, lineup=lineup, opening_seed=doc["opening_seed"], games=games)
    except CrossVariantError as error:
        raise CrossVariantError(f"{where}: {error}") from None
    except ValueError as error:  # MatchRecordError, or a bad participant from the lineup's checks
        raise MatchRecordError(f"{where}: {error}") from None


def _game_from_json(doc: Any, *, where: str) -> GameRecord:
    fields = ("seats", "ranks", "moves", "seed", "duration_s")
    if not isinstance(doc, dict) or any(key not in doc for key in fields):
        raise MatchRecordError(f"{where}: a game must be an object with {', '.join(fields)}")
    if not isinstance(doc["seats"], list) or not isinstance(doc["ranks"], list):
        raise MatchRecordError(f"{where}: fields 'seats' and 'ranks' must be lists")
    if not all(isinstance(seat, str) for seat in doc["seats"]):
        raise MatchRecordError(f"{where}: field 'seats' must list participant ids")
    try:
        return GameRecord(
            seats=tuple(doc["seats"]),
            ranks=tuple(doc["ranks"]),
            moves=doc["moves"],
            seed=doc["seed"],
            duration_s=doc["duration_s"],
        )
    except MatchRecordError as error:
        raise MatchRecordError(f"{where}: {error}") from None
