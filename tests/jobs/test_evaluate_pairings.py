"""Who meets whom: pair lineups over 2-4 seats, round-robin and Swiss pairings, group seeds."""

from __future__ import annotations

from collections import Counter

import pytest

from ringrift_hpc.config import Variant
from ringrift_hpc.jobs.evaluate_games import group_seed, pair_lineup
from ringrift_hpc.loop.policies import tournament_tasks
from ringrift_hpc.loop.tournament_rounds import swiss_pairs, swiss_rounds
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import GameRecord, MatchGroup

A, B = Participant("hex8_3p", "random"), Participant("hex8_3p", "heuristic")


@pytest.mark.parametrize("players", [2, 3, 4])
def test_pair_lineups_give_both_participants_equal_seats_over_two_groups(players: int) -> None:
    first, second = pair_lineup(A, B, players, 0), pair_lineup(A, B, players, 1)
    assert len(first) == players and {p.id for p in first} == {A.id, B.id}
    assert Counter(p.id for p in first + second) == {A.id: players, B.id: players}


def test_group_seeds_are_distinct_per_stream_and_number() -> None:
    seeds = {group_seed(7, stream, k) for stream in ("sprt", "anchor1") for k in range(50)}
    assert len(seeds) == 100 and all(0 <= s < 2**63 for s in seeds)
    assert group_seed(7, "sprt", 3) == group_seed(7, "sprt", 3) != group_seed(8, "sprt", 3)


def _won(variant: str, winner: Participant, loser: Participant) -> MatchGroup:
    games = (
        GameRecord(seats=(winner.id, loser.id), ranks=(1, 2), moves=10, seed=0, duration_s=0.0),
        GameRecord(seats=(loser.id, winner.id), ranks=(2, 1), moves=10, seed=1, duration_s=0.0),
    )
    lineup = (winner, loser)
    return MatchGroup(variant=Variant.model_validate(variant), lineup=lineup, opening_seed=0, games=games)


def test_swiss_pairs_the_top_scores_and_avoids_rematches() -> None:
    v = "square8_2p"
    p = [Participant(v, "gumbel", 8, c * 64) for c in "abcd"]
    first = swiss_pairs(p, [])
    assert len(first) == 2 and {x.id for pair in first for x in pair} == {x.id for x in p}
    # a and c won their first games: they meet next, b and d meet, and nobody plays the same opponent again
    played = [_won(v, p[0], p[1]), _won(v, p[2], p[3])]
    second = swiss_pairs(p, played)
    assert {frozenset((x.id, y.id)) for x, y in second} == {
        frozenset((p[0].id, p[2].id)),
        frozenset((p[1].id, p[3].id)),
    }
    odd = swiss_pairs(p[:3], [])
    assert len(odd) == 1  # one sits the round out
    assert len(tournament_tasks(p, 1, seed=0)) == 6
    assert swiss_rounds(4) == 3 and swiss_rounds(2) == 2
