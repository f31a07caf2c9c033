"""Rating tournaments in rounds: who plays whom (round-robin or Swiss), played as match tasks, then
the refit. `ringrift-hpc tournament` plays them; its participants and match specs come from
`loop.tournament_plan`, the controller's planning.

* Round-robin: every pair of participants plays `groups_per_pair` groups, all in one round: the
  controller's round robin (`policies.tournament_tasks`).
* Swiss: `rounds` rounds (default ceil(log2 P) + 1), each played after the last one. Before a
  round the participants are ordered by their score so far in this tournament (share of comparisons won,
  ties half), and each one, from the top, is paired with the highest-ordered one left that it
  has not met yet (or, when it has met them all, the highest left); an odd one out sits the
  round out. Each pairing plays `groups_per_pair` groups.

A round is played in this process as one task (`one_task_rounds`) or submitted as one job array
(`loop.tournament_arrays`).

The refit reads the variant's whole match history and rewrites the leaderboard files. It must
be the single writer, so it runs under the controller lease (`refit_leaderboard`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.evaluate import MatchResult, MatchSpec
from ringrift_hpc.jobs.evaluate_games import GroupPlan, group_seed, pair_lineup
from ringrift_hpc.loop.policies import tournament_tasks
from ringrift_hpc.rating.fit import Ratings
from ringrift_hpc.rating.leaderboard import refit_ratings, write_leaderboard
from ringrift_hpc.rating.match_files import decode_match_file
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import MatchGroup
from ringrift_hpc.store import RunLayout, acquire_lease, release_lease

Format = Literal["round-robin", "swiss"]
FORMATS: tuple[Format, ...] = ("round-robin", "swiss")
REFIT_LEASE_TTL_S = 600.0

RunTask = Callable[[MatchSpec], MatchResult]
# Plays one round's groups (under the round's name) as one or more match tasks.
PlayRound = Callable[[str, tuple[GroupPlan, ...]], list[MatchResult]]


@dataclass(frozen=True)
class TournamentPlan:
    """A tournament's participants and how they meet."""

    variant: str
    eval_id: str
    participants: tuple[Participant, ...]
    format: Format
    groups_per_pair: int
    rounds: int  # 1 for round-robin
    seed: int  # the groups' openings derive from it

    def __post_init__(self) -> None:
        if len({p.id for p in self.participants}) < 2:
            raise ValueError(f"a {self.variant} tournament needs at least two different participants")
        if self.format not in FORMATS:
            raise ValueError(f"tournament format {self.format!r} is unknown; use one of {', '.join(FORMATS)}")
        if self.groups_per_pair < 1 or self.rounds < 1:
            raise ValueError("groups_per_pair and rounds must be at least 1")


def swiss_rounds(participants: int) -> int:
    """The default number of Swiss rounds: enough for a clear winner, plus one."""
    return max(1, math.ceil(math.log2(participants))) + 1


def swiss_pairs(
    participants: Sequence[Participant], groups: Sequence[MatchGroup]
) -> list[tuple[Participant, Participant]]:
    """The next Swiss round's pairings from the groups played so far (module docstring)."""
    points = {p.id: 0.0 for p in participants}
    comparisons = {p.id: 0 for p in participants}
    met: set[frozenset[str]] = set()
    for group in groups:
        ids = sorted({p.id for p in group.lineup})
        for a, b in itertools.combinations(ids, 2):
            met.add(frozenset((a, b)))
        for game in group.games:
            for seat, score in zip(game.seats, game.seat_scores(), strict=True):
                points[seat] += score
                comparisons[seat] += 1
    order = sorted(participants, key=lambda p: (-points[p.id] / max(1, comparisons[p.id]), p.id))
    pairs = []
    while len(order) >= 2:
        top = order.pop(0)
        fresh = [p for p in order if frozenset((top.id, p.id)) not in met]
        opponent = (fresh or order)[0]
        order.remove(opponent)
        pairs.append((top, opponent))
    return pairs


def round_robin_plans(plan: TournamentPlan) -> tuple[GroupPlan, ...]:
    """The round robin's groups, pair after pair."""
    tasks = tournament_tasks(plan.participants, plan.groups_per_pair, seed=plan.seed)
    return tuple(group for groups in tasks.values() for group in groups)


def swiss_plans(
    plan: TournamentPlan, task: str, pairs: Sequence[tuple[Participant, Participant]]
) -> tuple[GroupPlan, ...]:
    """`groups_per_pair` groups per Swiss pairing, each from its own seeded opening."""
    players = Variant.model_validate(plan.variant).players
    out: list[GroupPlan] = []
    for a, b in pairs:
        for k in range(plan.groups_per_pair):
            number = len(out)
            out.append(
                GroupPlan(
                    pair_lineup(a, b, players, k), group_seed(plan.seed, f"{plan.eval_id}/{task}", number)
                )
            )
    return tuple(out)


def play_tournament(plan: TournamentPlan, play_round: PlayRound) -> list[MatchResult]:
    """Play every round through `play_round` (its name and groups); returns all results in order."""
    results: list[MatchResult] = []
    played: list[MatchGroup] = []
    for number in range(plan.rounds):
        task = f"round-{number + 1:03d}"
        plans = (
            round_robin_plans(plan)
            if plan.format == "round-robin"
            else swiss_plans(plan, task, swiss_pairs(plan.participants, played))
        )
        round_results = play_round(task, plans)
        results.extend(round_results)
        if plan.format == "swiss":
            for result in round_results:
                played.extend(decode_match_file(result.path, result.path.read_bytes(), variant=plan.variant))
    return results


def one_task_rounds(
    make_spec: Callable[[str, tuple[GroupPlan, ...]], MatchSpec], run_task: RunTask
) -> PlayRound:
    """Each round as a single match task run by `run_task` (the in-process tournament)."""
    return lambda task, plans: [run_task(make_spec(task, plans))]


def refit_leaderboard(layout: RunLayout, variant: str, *, confidence: float, zero: str) -> Ratings:
    """Refit from the variant's full match history and rewrite its leaderboard files, under the lease.

    Raises `LeaseHeldError` when a controller (the single writer) holds the lease.
    """
    lease = acquire_lease(layout.lease, layout.fence_dir, ttl_s=REFIT_LEASE_TTL_S)
    try:
        ratings = refit_ratings(layout, variant, confidence=confidence, zero=zero)
        write_leaderboard(layout, ratings)
    finally:
        release_lease(lease)
    return ratings
