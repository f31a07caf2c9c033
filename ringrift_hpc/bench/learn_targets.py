"""The learn bench's targets per variant and CPU budget (pure; no torch).

Every run is held to a floor: with 2 players >= 95% wins against random and > 50% against
heuristic; with 3 or 4 players a first-place share above chance (1/N) against both. On top,
the targets of issue 12, each for a budget: a run gets, per opponent, the target of the largest
budget it reaches (square8_2p: 55% against heuristic from the default 4 CPU-minutes, 90% from 30).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ringrift_hpc.bench.learn_scores import Score, chance
from ringrift_hpc.config import Variant

OPPONENTS = ("random", "heuristic")
TARGET_VS_RANDOM = 0.95  # 2 players
TARGET_VS_HEURISTIC = 0.5  # 2 players, to be exceeded


@dataclass(frozen=True)
class Target:
    """The final model's first-place share against `opponent` must reach `share` (exceed it when
    `strict`)."""

    opponent: str
    share: float
    strict: bool
    why: str

    def met(self, share: float) -> bool:
        return share > self.share if self.strict else share >= self.share

    def words(self) -> str:
        return f"{'>' if self.strict else '>='} {self.share:.0%} first places against {self.opponent} ({self.why})"


@dataclass(frozen=True)
class _IssueTarget:
    variant: str
    opponent: str
    share: float
    from_minutes: float


ISSUE_TARGETS = (
    _IssueTarget("square8_2p", "heuristic", 0.55, 4.0),
    _IssueTarget("square8_2p", "heuristic", 0.90, 30.0),
    _IssueTarget("hex8_2p", "heuristic", 0.75, 30.0),
    _IssueTarget("square8_3p", "heuristic", 0.55, 30.0),
)


def targets_for(variant: Variant, budget_cpu_minutes: float) -> tuple[Target, ...]:
    """The targets a run of `variant` within `budget_cpu_minutes` is judged by."""
    if variant.players == 2:
        floor = [
            Target("random", TARGET_VS_RANDOM, strict=False, why="floor"),
            Target("heuristic", TARGET_VS_HEURISTIC, strict=True, why="floor"),
        ]
    else:
        floor = [Target(o, chance(variant.players), strict=True, why="chance") for o in OPPONENTS]
    issue = []
    for opponent in OPPONENTS:
        reached = [
            t
            for t in ISSUE_TARGETS
            if t.variant == variant.name and t.opponent == opponent and budget_cpu_minutes >= t.from_minutes
        ]
        if reached:
            best = max(reached, key=lambda t: t.from_minutes)
            issue.append(
                Target(opponent, best.share, strict=False, why=f"issue 12, {best.from_minutes:g} CPU-minutes")
            )
    return (*floor, *issue)


def judge(targets: Sequence[Target], scores: Sequence[Score]) -> tuple[tuple[Target, Score, bool], ...]:
    """Each target with the final score it is judged on and whether it is met."""
    by_opponent = {s.opponent: s for s in scores}
    return tuple((t, by_opponent[t.opponent], t.met(by_opponent[t.opponent].rate)) for t in targets)
