"""The promotion gate, its record in promotions.jsonl, best.json, and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rating_helpers import heuristic, net, pair

from ringrift_hpc.config import Variant
from ringrift_hpc.config.gating import AnchorGate, PromotionSection, SprtSection
from ringrift_hpc.rating.best import (
    BestPointerError,
    best_path,
    promotion_history,
    read_best,
    record_decision,
    repair_best,
    rollback,
)
from ringrift_hpc.rating.participants import random_player
from ringrift_hpc.rating.promotion import (
    AnchorResult,
    Evaluation,
    EvaluationError,
    anchor_result,
    decide_promotion,
)
from ringrift_hpc.rating.sprt import SprtParams, sprt_test
from ringrift_hpc.store import RunLayout

V = "square8_2p"
GATE = PromotionSection(
    sprt=SprtSection(elo0=0, elo1=60, alpha=0.05, beta=0.1, min_groups=20, max_groups=200),
    anchors=(
        AnchorGate(player="random", groups=4, min_score=0.8, max_score_drop=0.1),
        AnchorGate(player="heuristic", groups=4, min_score=0.0, max_score_drop=0.1),
    ),
)
PARAMS = SprtParams.from_section(GATE.sprt)
ACCEPTED = sprt_test([1.0] * 25, PARAMS)
REJECTED = sprt_test([0.0] * 25, PARAMS)


def _anchors(
    random_score: float = 0.95, heuristic_score: float = 0.6, *, best: bool = True
) -> tuple[AnchorResult, ...]:
    return (
        AnchorResult(
            "random", groups=4, games=8, candidate_score=random_score, best_score=0.95 if best else None
        ),
        AnchorResult(
            "heuristic", groups=4, games=8, candidate_score=heuristic_score, best_score=0.6 if best else None
        ),
    )


def _evaluation(candidate: str, best: str | None, **changes: object) -> Evaluation:
    fields: dict[str, object] = {
        "variant": Variant.model_validate(V),
        "candidate": candidate,
        "best": best,
        "sprt": ACCEPTED if best is not None else None,
        "anchors": _anchors(best=best is not None),
    }
    fields.update(changes)
    return Evaluation(**fields)  # type: ignore[arg-type]


A, B, C = (net(V, name).id for name in "abc")


def test_promotes_when_the_sprt_accepts_and_every_anchor_passes() -> None:
    decision = decide_promotion(_evaluation(B, A), GATE)
    assert decision.promote and decision.reasons == ()
    assert decision.statistics["sprt"]["status"] == "accept"
    assert [a["anchor"] for a in decision.statistics["anchors"]] == ["random", "heuristic"]


def test_rejects_with_every_reason() -> None:
    evaluation = _evaluation(B, A, sprt=REJECTED, anchors=_anchors(random_score=0.7, heuristic_score=0.45))
    decision = decide_promotion(evaluation, GATE)
    assert not decision.promote
    assert len(decision.reasons) == 4
    text = " | ".join(decision.reasons)
    assert "SPRT rejected after 25 groups" in text
    assert "score 0.700 against random is below the minimum 0.800" in text
    assert "score against random fell by 0.250" in text
    assert "score against heuristic fell by 0.150" in text


def test_a_capped_sprt_is_a_rejection() -> None:
    capped_params = SprtParams(elo0=0, elo1=60, alpha=0.05, beta=0.1, min_groups=20, max_groups=20)
    gate = GATE.model_copy(update={"sprt": SprtSection(**{**GATE.sprt.model_dump(), "max_groups": 20})})
    capped = sprt_test([0.4, 0.7] * 10, capped_params)
    assert capped.capped
    decision = decide_promotion(_evaluation(B, A, sprt=capped), gate)
    assert not decision.promote and "cap was reached" in decision.reasons[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"anchors": _anchors()[:1]}, "played no games against the anchor heuristic"),
        (
            {"anchors": (_anchors()[0], AnchorResult("heuristic", 0, 0, 0.0, 0.6))},
            "played no games against the anchor heuristic",
        ),
        (
            {"anchors": (_anchors()[0], AnchorResult("heuristic", 2, 4, 0.6, 0.6))},
            "played 2 of the 4 groups",
        ),
        ({"sprt": None}, "no SPRT groups"),
        ({"sprt": sprt_test([0.44, 0.64] * 10, PARAMS)}, "undecided"),
        (
            {"sprt": sprt_test([1.0] * 25, SprtParams(0, 30, 0.05, 0.1, 20, 200))},
            "rerun it with the configured",
        ),
        (
            {"anchors": (_anchors()[0], AnchorResult("heuristic", 4, 8, 0.6, None))},
            "best's score against heuristic is unknown",
        ),
    ],
    ids=[
        "missing-anchor",
        "zero-anchor-games",
        "short-anchor",
        "no-sprt",
        "undecided",
        "params",
        "no-best-score",
    ],
)
def test_incomplete_evaluations_are_errors_never_passes(changes: dict[str, object], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        decide_promotion(_evaluation(B, A, **changes), GATE)


def test_an_evaluation_without_games_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="played zero games"):
        decide_promotion(_evaluation(A, None, anchors=()), GATE)
    no_games = tuple(AnchorResult(a.anchor, 0, 0, 0.0, None) for a in _anchors())
    with pytest.raises(EvaluationError, match="played zero games"):
        decide_promotion(_evaluation(A, None, anchors=no_games), GATE)


def test_the_first_model_is_judged_by_the_anchors_alone() -> None:
    assert decide_promotion(_evaluation(A, None), GATE).promote
    weak = _evaluation(A, None, anchors=_anchors(random_score=0.5, best=False))
    assert not decide_promotion(weak, GATE).promote


def test_anchor_results_are_measured_from_the_groups() -> None:
    a, r, h = net(V, "a"), random_player(V), heuristic(V)
    result = anchor_result(
        [pair(V, a, r, (1, 1), seed=s) for s in range(3)] + [pair(V, a, r, (0.5, 0))], a, r, best_score=0.9
    )
    assert (result.anchor, result.groups, result.games) == ("random", 4, 8)
    assert result.candidate_score == pytest.approx(6.5 / 8)
    with pytest.raises(EvaluationError, match="does not seat"):
        anchor_result([pair(V, a, h, (1, 1))], a, r, best_score=None)


def _promote(layout: RunLayout, candidate: str, best: str | None, stamp: str) -> dict[str, object]:
    decision = decide_promotion(_evaluation(candidate, best), GATE)
    return record_decision(layout, decision, clock=lambda: stamp)


def test_decisions_are_recorded_and_best_json_follows_promotions(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    assert read_best(layout, V) is None
    _promote(layout, A, None, "t1")
    assert read_best(layout, V)["participant"] == A  # type: ignore[index]
    rejected = decide_promotion(_evaluation(B, A, sprt=REJECTED), GATE)
    record_decision(layout, rejected, clock=lambda: "t2")
    assert read_best(layout, V)["participant"] == A  # type: ignore[index]
    _promote(layout, C, A, "t3")
    best = read_best(layout, V)
    assert best is not None and best["participant"] == C and best["model_id"] == C.split("#")[1]
    history = promotion_history(layout, V)
    assert [r["event"] for r in history] == ["promote", "reject", "promote"]
    assert history[1]["reasons"] and history[1]["statistics"]["sprt"]["llr"] < 0
    with pytest.raises(BestPointerError, match="taken against best"):
        _promote(layout, B, A, "t4")  # decided against a best that is no longer current


def test_rollback_restores_the_previous_best_exactly(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    _promote(layout, A, None, "t1")
    after_a = layout.best(V).read_bytes()
    _promote(layout, B, A, "t2")
    after_b = layout.best(V).read_bytes()
    _promote(layout, C, B, "t3")

    record = rollback(layout, V, reason="regressed on heuristic", clock=lambda: "t4")
    assert record["from"] == C.split("#")[1] and record["to"] == B.split("#")[1]
    assert layout.best(V).read_bytes() == after_b

    rollback(layout, V, to_model=A.split("#")[1], reason="back to the first", clock=lambda: "t5")
    assert layout.best(V).read_bytes() == after_a
    assert [r["event"] for r in promotion_history(layout, V)][-2:] == ["rollback", "rollback"]

    with pytest.raises(BestPointerError, match="already the best"):
        rollback(layout, V, to_model=A.split("#")[1], reason="x")
    with pytest.raises(BestPointerError, match="was never the best"):
        rollback(layout, V, to_model="0" * 64, reason="x")


def test_repeated_rollbacks_walk_back_instead_of_toggling(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    a, b, c = (p.split("#")[1] for p in (A, B, C))
    _promote(layout, A, None, "t1")
    _promote(layout, B, A, "t2")
    _promote(layout, C, B, "t3")
    first = rollback(layout, V, reason="one step", clock=lambda: "t4")
    second = rollback(layout, V, reason="two steps", clock=lambda: "t5")
    assert (first["from"], first["to"]) == (c, b) and (second["from"], second["to"]) == (b, a)
    assert second["from_participant"] == B
    assert read_best(layout, V)["participant"] == A  # type: ignore[index]
    with pytest.raises(BestPointerError, match=f"no earlier best than {a} on the promotion path") as refused:
        rollback(layout, V, reason="three steps")
    assert f"--to: {', '.join(sorted([b, c]))}" in str(refused.value)
    # A jump to a best off the path puts it back on; the next step back leaves it again.
    assert rollback(layout, V, to_model=c, reason="jump", clock=lambda: "t6")["to"] == c
    assert [doc["model_id"] for doc in best_path(promotion_history(layout, V))] == [a, c]
    assert rollback(layout, V, reason="step", clock=lambda: "t7")["to"] == a


def test_the_promotion_path_follows_promotions_and_rollbacks(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    a, b, c = (p.split("#")[1] for p in (A, B, C))

    def path() -> list[str]:
        return [doc["model_id"] for doc in best_path(promotion_history(layout, V))]

    _promote(layout, A, None, "t1")
    _promote(layout, B, A, "t2")
    rejected = decide_promotion(_evaluation(C, B, sprt=REJECTED), GATE)
    record_decision(layout, rejected, clock=lambda: "t3")
    assert path() == [a, b]  # a rejection is no step
    rollback(layout, V, reason="x", clock=lambda: "t4")
    _promote(layout, C, A, "t5")
    assert path() == [a, c]  # B was left by the rollback: a later promotion continues from A
    _promote(layout, B, C, "t6")
    rollback(layout, V, to_model=a, reason="x", clock=lambda: "t7")
    assert path() == [a]


def test_rollback_before_any_promotion_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BestPointerError, match="nothing has been promoted"):
        rollback(RunLayout(tmp_path), V, reason="x")


def test_a_crash_between_the_record_and_best_json_is_repaired(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    _promote(layout, A, None, "t1")
    after_a = layout.best(V).read_bytes()
    _promote(layout, B, A, "t2")
    after_b = layout.best(V).read_bytes()
    layout.best(V).write_bytes(after_a)  # as if killed after appending B's record
    with pytest.raises(BestPointerError, match="repair_best"):
        rollback(layout, V, reason="x")
    assert repair_best(layout, V)
    assert layout.best(V).read_bytes() == after_b
    assert not repair_best(layout, V)
    assert json.loads(after_b)["participant"] == B
