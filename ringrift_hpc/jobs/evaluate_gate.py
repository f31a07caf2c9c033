"""The strength gate: candidate against baseline by SPRT, plus the anchor regression gate.

`run_gate` plays, in-process, what a promotion rests on and judges it with the one promotion
function, `rating.decide_promotion`:

1. SPRT batches of `batch_groups` candidate-versus-baseline groups until the test accepts or
   rejects (its `max_groups` cap rejects);
2. against each configured anchor (random, heuristic), `groups` groups of the candidate and as
   many of the baseline, whose score is the reference of the allowed score drop.

Without a baseline (a variant's first model) only the anchor gate is played, as the loop
judges a first candidate.

The outcome is a `GateReport`: pass (the candidate would be promoted over the baseline), fail
(it would be rejected, with the reasons) or error (nothing could be judged: no games, a model
that does not load, an undecided test). An error is never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ringrift_hpc.ai.players import Player
from ringrift_hpc.config.gating import PromotionSection
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.jobs.evaluate_games import GroupPlan, PlayedGroups, group_seed, pair_lineup, play_groups
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.promotion import AnchorResult, Evaluation, anchor_result, decide_promotion
from ringrift_hpc.rating.records import CrossVariantError, MatchGroup
from ringrift_hpc.rating.sprt import CONTINUE, SprtParams, SprtResult, group_score, sprt_test

PASS, FAIL, ERROR = 0, 1, 2

PlayFn = Callable[[Sequence[GroupPlan]], PlayedGroups]


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict and everything it rests on; `to_json` is the CLI's report."""

    exit_code: int  # PASS, FAIL or ERROR
    variant: str
    candidate: str
    baseline: str | None  # None: no baseline, the anchor gate alone
    reasons: tuple[str, ...] = ()  # why it failed, or the error
    statistics: dict[str, Any] = field(default_factory=dict)
    games: int = 0  # games actually played, SPRT and anchors together
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return {PASS: "pass", FAIL: "fail", ERROR: "error"}[self.exit_code]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "variant": self.variant,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "reasons": list(self.reasons),
            "statistics": self.statistics,
            "games": self.games,
            "seconds": round(self.seconds, 3),
        }


def game_player(
    variant: Variant, players: Mapping[str, Player], *, opening_moves: int, concurrent_games: int
) -> PlayFn:
    """Plays plans in-process with `players`, without a stop rule."""

    def play(plans: Sequence[GroupPlan]) -> PlayedGroups:
        return play_groups(
            variant,
            plans,
            players,
            opening_moves=opening_moves,
            concurrent_games=concurrent_games,
        )

    return play


def run_gate(
    candidate: Participant,
    baseline: Participant | None,
    gate: PromotionSection,
    play: PlayFn,
    *,
    batch_groups: int = 8,
    seed: int = 0,
) -> GateReport:
    """Play and judge the gate (module docstring); failures to play or judge are ERROR reports."""
    began = time.monotonic()
    variant = candidate.variant.name
    played: list[int] = []

    def counted(plans: Sequence[GroupPlan]) -> PlayedGroups:
        result = play(plans)
        played.extend(len(group.games) for group in result.groups)
        return result

    baseline_id = baseline.id if baseline is not None else None
    try:
        evaluation = _evaluate(candidate, baseline, gate, counted, batch_groups=batch_groups, seed=seed)
        decision = decide_promotion(evaluation, gate)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        return GateReport(
            ERROR,
            variant,
            candidate.id,
            baseline_id,
            (str(error),),
            {},
            sum(played),
            time.monotonic() - began,
        )
    return GateReport(
        PASS if decision.promote else FAIL,
        variant,
        candidate.id,
        baseline_id,
        decision.reasons,
        decision.statistics,
        sum(played),
        time.monotonic() - began,
    )


def _evaluate(
    candidate: Participant,
    baseline: Participant | None,
    gate: PromotionSection,
    play: PlayFn,
    *,
    batch_groups: int,
    seed: int,
) -> Evaluation:
    variant = Variant.model_validate(candidate.variant)
    players = variant.players
    sprt = None
    if baseline is not None:
        if baseline.variant != candidate.variant:
            raise CrossVariantError(
                f"candidate {candidate} and baseline {baseline} are of different variants; "
                "gate models of one variant"
            )
        if baseline.id == candidate.id:
            raise ValueError(
                f"candidate and baseline are the same participant {candidate.id}; gate two different models"
            )
        sprt = _sprt(
            candidate, baseline, SprtParams.from_section(gate.sprt), play, players, batch_groups, seed
        )
    anchors: list[AnchorResult] = []
    for number, anchor_gate in enumerate(gate.anchors, start=1):
        anchor = Participant(variant=candidate.variant, kind=anchor_gate.player)
        both = play(
            [
                GroupPlan(pair_lineup(who, anchor, players, k), group_seed(seed, f"anchor{number}", k))
                for who in (candidate, baseline)
                if who is not None
                for k in range(anchor_gate.groups)
            ]
        )
        ours = [g for g in both.groups if candidate in g.lineup]
        theirs = [g for g in both.groups if baseline in g.lineup]
        best_score = (
            anchor_result(theirs, baseline, anchor, best_score=None).candidate_score
            if baseline is not None and theirs
            else None
        )
        anchors.append(anchor_result(ours, candidate, anchor, best_score=best_score))
    best = baseline.id if baseline is not None else None
    return Evaluation(variant=variant, candidate=candidate.id, best=best, sprt=sprt, anchors=tuple(anchors))


def _sprt(
    candidate: Participant,
    baseline: Participant,
    params: SprtParams,
    play: PlayFn,
    players: int,
    batch_groups: int,
    seed: int,
) -> SprtResult:
    """Batches of groups until the test decides; the cap is `params.max_groups`."""
    groups: list[MatchGroup] = []
    while True:
        start = len(groups)
        size = min(batch_groups, params.max_groups - start)
        plans = [
            GroupPlan(pair_lineup(candidate, baseline, players, k), group_seed(seed, "sprt", k))
            for k in range(start, start + size)
        ]
        groups.extend(play(plans).groups)
        result = sprt_test([group_score(g, candidate.id, baseline.id) for g in groups], params)
        if result.status != CONTINUE or len(groups) == start:
            return result
