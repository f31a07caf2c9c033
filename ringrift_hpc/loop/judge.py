"""From an evaluation's played groups to its progress and its `rating.Evaluation` (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from ringrift_hpc.config import PromotionSection
from ringrift_hpc.loop.variant_machine import EvaluationProgress
from ringrift_hpc.rating.participants import Participant
from ringrift_hpc.rating.promotion import AnchorResult, Evaluation, anchor_result
from ringrift_hpc.rating.records import MatchGroup
from ringrift_hpc.rating.sprt import SprtParams, SprtResult, group_score, sprt_test


def groups_between(groups: Sequence[MatchGroup], a: Participant, b: Participant) -> list[MatchGroup]:
    """The groups whose lineup is exactly `a` and `b`, in order."""
    return [g for g in groups if {p.id for p in g.lineup} == {a.id, b.id}]


def anchors_played(
    groups: Sequence[MatchGroup], best: Participant | None, gate: PromotionSection
) -> frozenset[str]:
    """The anchors whose whole gate `best` has played among `groups` (as a candidate, or in an
    earlier evaluation): their games still measure it, so they need not be replayed."""
    if best is None:
        return frozenset()
    return frozenset(
        anchor.player
        for anchor in gate.anchors
        if len(groups_between(groups, best, Participant(variant=best.variant, kind=anchor.player)))
        >= anchor.groups
    )


def sprt_of(
    groups: Sequence[MatchGroup], candidate: Participant, best: Participant, gate: PromotionSection
) -> SprtResult | None:
    """The SPRT over the candidate-versus-best groups played so far; None before any."""
    played = groups_between(groups, candidate, best)  # in task order: the pre-registered order
    if not played:
        return None
    return sprt_test(
        [group_score(g, candidate.id, best.id) for g in played], SprtParams.from_section(gate.sprt)
    )


def progress_of(
    groups: Sequence[MatchGroup], candidate: Participant, best: Participant | None, gate: PromotionSection
) -> EvaluationProgress:
    """How far the evaluation is: the SPRT's status and whether its cap is reached."""
    if best is None:
        return EvaluationProgress(0, None, False)
    sprt = sprt_of(groups, candidate, best, gate)
    if sprt is None:
        return EvaluationProgress(0, "continue", False)
    return EvaluationProgress(sprt.groups, sprt.status, sprt.groups >= gate.sprt.max_groups)


def evaluation_of(
    groups: Sequence[MatchGroup],
    candidate: Participant,
    best: Participant | None,
    gate: PromotionSection,
    run_groups: Sequence[MatchGroup] | None = None,
) -> Evaluation:
    """Everything `decide_promotion` needs, from the groups of one evaluation; the best's anchor
    scores from `run_groups` (every group of the run so far) when given, else from `groups`."""
    anchors: list[AnchorResult] = []
    for anchor_gate in gate.anchors:
        anchor = Participant(variant=candidate.variant, kind=anchor_gate.player)
        best_score = None
        if best is not None:
            theirs = groups_between(groups if run_groups is None else run_groups, best, anchor)
            best_score = (
                anchor_result(theirs, best, anchor, best_score=None).candidate_score if theirs else None
            )
        anchors.append(
            anchor_result(groups_between(groups, candidate, anchor), candidate, anchor, best_score=best_score)
        )
    sprt = sprt_of(groups, candidate, best, gate) if best is not None else None
    return Evaluation(
        variant=candidate.variant,
        candidate=candidate.id,
        best=best.id if best is not None else None,
        sprt=sprt,
        anchors=tuple(anchors),
    )
