"""The one promotion gate: SPRT against the best plus a regression gate against fixed anchors.

`decide_promotion` is pure. It promotes only when the SPRT accepted "candidate stronger than
the best" and the candidate passes every configured anchor (random, heuristic): a minimum
score, and at most `max_score_drop` below the best's own score against that anchor. Anything
else is a rejection with its reasons. An evaluation that played no games, skipped a configured
anchor, played fewer groups than configured or ran the SPRT with other parameters is an error:
it can never pass, and it is not a rejection either, because nothing was measured.

The very first model of a variant has no best to test against: it is promoted on the anchor
gate alone (its evaluation carries no SPRT and no best scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ringrift_hpc.config.gating import PromotionSection
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.rating.decision import PromotionDecision
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.records import MatchGroup
from ringrift_hpc.rating.sprt import ACCEPT, CONTINUE, SprtParams, SprtResult


class EvaluationError(ValueError):
    """The evaluation cannot be judged: no games, a missing anchor, an unfinished SPRT."""


@dataclass(frozen=True)
class AnchorResult:
    """The candidate's games against one fixed anchor, at the selfplay search budget."""

    anchor: str  # the anchor player, as `AnchorGate.player` names it ("random", "heuristic")
    groups: int
    games: int
    candidate_score: float  # share of comparisons won against the anchor's seats, ties half
    best_score: float | None  # the best's score against the same anchor; None: no best yet

    def to_json(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor,
            "groups": self.groups,
            "games": self.games,
            "candidate_score": self.candidate_score,
            "best_score": self.best_score,
        }


def anchor_result(
    groups: Sequence[MatchGroup], candidate: Participant, anchor: Participant, *, best_score: float | None
) -> AnchorResult:
    """Summarize the candidate-versus-anchor groups of an evaluation."""
    points = 0.0
    comparisons = 0
    for group in groups:
        p, c = group.head_to_head(candidate.id, anchor.id)
        if c == 0:
            raise EvaluationError(
                f"a {group.variant} group with lineup {[p.id for p in group.lineup]} does not seat "
                f"{candidate.id} against {anchor.id}; pass only that anchor's groups"
            )
        points += p
        comparisons += c
    return AnchorResult(
        anchor=anchor.kind,
        groups=len(groups),
        games=sum(len(group.games) for group in groups),
        candidate_score=points / comparisons if comparisons else 0.0,
        best_score=best_score,
    )


@dataclass(frozen=True)
class Evaluation:
    """Everything measured about one candidate."""

    variant: Variant
    candidate: str  # participant id
    best: str | None  # participant id of the current best; None for the first model
    sprt: SprtResult | None  # candidate versus best; None exactly when there is no best
    anchors: tuple[AnchorResult, ...]


def decide_promotion(evaluation: Evaluation, gate: PromotionSection) -> PromotionDecision:
    """Judge `evaluation` by the configured gate (see the module docstring)."""
    results = _check_complete(evaluation, gate)
    reasons: list[str] = []
    if evaluation.sprt is not None and evaluation.sprt.status != ACCEPT:
        sprt = evaluation.sprt
        why = "the cap was reached without acceptance" if sprt.capped else "the LLR fell to the lower bound"
        reasons.append(
            f"SPRT rejected after {sprt.groups} groups ({why}): LLR {sprt.llr:.2f} in "
            f"[{sprt.lower_bound:.2f}, {sprt.upper_bound:.2f}], mean score {sprt.mean:.3f} "
            f"(about {sprt.elo_estimate:+.0f} Elo)"
        )
    for anchor_gate in gate.anchors:
        result = results[anchor_gate.player]
        if result.candidate_score < anchor_gate.min_score:
            reasons.append(
                f"score {result.candidate_score:.3f} against {result.anchor} is below the minimum "
                f"{anchor_gate.min_score:.3f}"
            )
        if anchor_gate.max_score_drop is not None and result.best_score is not None:
            drop = result.best_score - result.candidate_score
            if drop > anchor_gate.max_score_drop:
                reasons.append(
                    f"score against {result.anchor} fell by {drop:.3f} (best {result.best_score:.3f}, "
                    f"candidate {result.candidate_score:.3f}); at most {anchor_gate.max_score_drop:.3f} allowed"
                )
    statistics: dict[str, Any] = {
        "sprt": evaluation.sprt.to_json() if evaluation.sprt is not None else None,
        "anchors": [results[g.player].to_json() for g in gate.anchors],
        "games": _games(evaluation),
        "first_model": evaluation.best is None,
    }
    return PromotionDecision(
        promote=not reasons,
        variant=evaluation.variant.name,
        candidate=evaluation.candidate,
        best=evaluation.best,
        reasons=tuple(reasons),
        statistics=statistics,
    )


def _games(evaluation: Evaluation) -> int:
    # A group is one game per seat rotation: 2 games for 2 players, N for N players.
    groups = evaluation.sprt.groups if evaluation.sprt is not None else 0
    sprt_games = groups * evaluation.variant.players
    return sprt_games + sum(result.games for result in evaluation.anchors)


def _check_complete(evaluation: Evaluation, gate: PromotionSection) -> dict[str, AnchorResult]:
    """The anchor results by player, after refusing every incomplete or inconsistent evaluation."""
    what = f"evaluation of {evaluation.candidate} ({evaluation.variant})"
    if _games(evaluation) == 0:
        raise EvaluationError(
            f"{what} played zero games: an evaluation without games is an error, never a pass"
        )
    if evaluation.best is None and evaluation.sprt is not None:
        raise EvaluationError(f"{what} has an SPRT but no best to have played it against")
    if evaluation.best is not None:
        sprt = evaluation.sprt
        if sprt is None or sprt.groups == 0:
            raise EvaluationError(
                f"{what}: no SPRT groups against the best {evaluation.best}; play them first"
            )
        if sprt.status == CONTINUE:
            raise EvaluationError(
                f"{what}: the SPRT is undecided after {sprt.groups} groups (LLR {sprt.llr:.2f}); play more groups"
            )
        if sprt.params != SprtParams.from_section(gate.sprt):
            raise EvaluationError(
                f"{what}: the SPRT ran with {sprt.params}, the config says {SprtParams.from_section(gate.sprt)}; "
                "rerun it with the configured promotion.sprt parameters"
            )
    results: dict[str, AnchorResult] = {}
    for result in evaluation.anchors:
        if result.anchor in results:
            raise EvaluationError(f"{what}: anchor {result.anchor} is listed twice; merge its groups")
        results[result.anchor] = result
    configured = {g.player for g in gate.anchors}
    unexpected = sorted(set(results) - configured)
    if unexpected:
        raise EvaluationError(
            f"{what}: results for anchors {unexpected} that promotion.anchors does not list"
        )
    for anchor_gate in gate.anchors:
        found = results.get(anchor_gate.player)
        if found is None or found.games == 0:
            raise EvaluationError(
                f"{what} played no games against the anchor {anchor_gate.player}; the regression gate "
                "cannot pass without them"
            )
        result = found
        if result.groups < anchor_gate.groups:
            raise EvaluationError(
                f"{what} played {result.groups} of the {anchor_gate.groups} groups that promotion.anchors "
                f"requires against {anchor_gate.player}; finish them"
            )
        if (
            evaluation.best is not None
            and anchor_gate.max_score_drop is not None
            and result.best_score is None
        ):
            raise EvaluationError(
                f"{what}: the best's score against {anchor_gate.player} is unknown, so the score drop "
                "cannot be checked; take it from the best's promotion record"
            )
    return results
