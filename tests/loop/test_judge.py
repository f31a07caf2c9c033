"""From played groups to the evaluation the gate judges: the best's anchor score may come from
every group of the run, so games it played as a candidate still count."""

from __future__ import annotations

from rating.rating_helpers import heuristic, net, pair

from ringrift_hpc.config import PromotionSection
from ringrift_hpc.loop.judge import anchors_played, evaluation_of, groups_between

V = "square8_2p"
CANDIDATE, BEST, OLDER = net(V, "candidate"), net(V, "best"), net(V, "older")
GATE = PromotionSection.model_validate(
    {"sprt": {"min_groups": 1, "max_groups": 4}, "anchors": [{"player": "heuristic", "groups": 2}]}
)


def test_the_best_is_scored_on_its_anchor_games_from_earlier_evaluations() -> None:
    h = heuristic(V)
    this_evaluation = [
        pair(V, CANDIDATE, BEST, (1, 0.5)),
        pair(V, CANDIDATE, h, (1, 0), seed=1),
        pair(V, CANDIDATE, h, (1, 1), seed=2),
    ]
    earlier = [pair(V, BEST, h, (1, 1), seed=3), pair(V, BEST, h, (1, 0), seed=4), pair(V, OLDER, h, (0, 0))]
    alone = evaluation_of(this_evaluation, CANDIDATE, BEST, GATE)
    assert alone.anchors[0].best_score is None  # no game of the best in this evaluation
    judged = evaluation_of(this_evaluation, CANDIDATE, BEST, GATE, [*earlier, *this_evaluation])
    (anchor,) = judged.anchors
    assert (anchor.candidate_score, anchor.best_score) == (0.75, 0.75)
    assert judged.sprt == alone.sprt  # the SPRT reads this evaluation's games only


def test_groups_between_matches_the_lineup_in_either_order() -> None:
    h = heuristic(V)
    groups = [pair(V, BEST, h, (1, 1)), pair(V, h, BEST, (0, 0)), pair(V, OLDER, h, (1, 1))]
    assert groups_between(groups, h, BEST) == groups[:2]


def test_an_anchor_counts_as_played_once_the_best_has_its_whole_gate() -> None:
    h = heuristic(V)
    one = [pair(V, BEST, h, (1, 1), seed=1), pair(V, OLDER, h, (1, 0), seed=2)]
    assert anchors_played(one, BEST, GATE) == frozenset()  # 1 of the gate's 2 groups
    two = [*one, pair(V, h, BEST, (0, 1), seed=3)]
    assert anchors_played(two, BEST, GATE) == frozenset({"heuristic"})
    assert anchors_played(two, OLDER, GATE) == frozenset()
    assert anchors_played(two, None, GATE) == frozenset()
