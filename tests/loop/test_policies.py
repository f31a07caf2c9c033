"""Curriculum weights, fleet shares, retry backoff and evaluation batches."""

from __future__ import annotations

import pytest

from ringrift_hpc.config import CurriculumSection, EvaluationSection, PromotionSection
from ringrift_hpc.loop.policies import (
    VariantProgress,
    curriculum_weights,
    evaluation_batch,
    fleet_shares,
    retry_at,
    tournament_tasks,
)
from ringrift_hpc.rating.participants import Participant

SECTION = CurriculumSection(min_weight=0.5, max_weight=2.0, smoothing=0.0, data_share=0.5)


@pytest.mark.parametrize(
    ("progress", "favoured"),
    [
        ({"a": VariantProgress(100, 0.5), "b": VariantProgress(900, 0.5)}, "a"),  # less data
        ({"a": VariantProgress(500, 0.0), "b": VariantProgress(500, 1.0)}, "a"),  # slower progress
        ({"a": VariantProgress(900, 1.0), "b": VariantProgress(100, 0.0)}, "b"),  # both
    ],
)
def test_curriculum_favours_the_needier_variant(progress: dict[str, VariantProgress], favoured: str) -> None:
    weights = curriculum_weights(progress, SECTION)
    other = ({"a", "b"} - {favoured}).pop()
    assert weights[favoured] > weights[other]
    assert all(SECTION.min_weight <= w <= SECTION.max_weight for w in weights.values())


def test_curriculum_bounds_and_switches() -> None:
    extreme = {
        "a": VariantProgress(0, 0.0),
        "b": VariantProgress(10_000, 1.0),
        "c": VariantProgress(10_000, 1.0),
    }
    weights = curriculum_weights(extreme, SECTION)
    assert weights["a"] == SECTION.max_weight and weights["b"] == SECTION.min_weight
    assert curriculum_weights(extreme, SECTION.model_copy(update={"enabled": False})) == {
        "a": 1,
        "b": 1,
        "c": 1,
    }
    assert curriculum_weights({"a": VariantProgress(0, 0.0)}, SECTION) == {"a": 1.0}


def test_curriculum_smoothing_keeps_part_of_the_previous_weight() -> None:
    progress = {"a": VariantProgress(100, 0.5), "b": VariantProgress(900, 0.5)}
    fresh = curriculum_weights(progress, SECTION)
    smoothed = curriculum_weights(
        progress, SECTION.model_copy(update={"smoothing": 0.5}), {"a": 1.0, "b": 1.0}
    )
    assert smoothed["a"] == pytest.approx(0.5 * 1.0 + 0.5 * fresh["a"])


@pytest.mark.parametrize(
    ("weights", "tasks", "expected"),
    [
        ({"a": 1.0}, 5, {"a": 5}),
        ({"a": 1.0, "b": 1.0}, 5, {"a": 3, "b": 2}),
        ({"a": 2.0, "b": 1.0, "c": 1.0}, 8, {"a": 4, "b": 2, "c": 2}),
        ({"a": 0.5, "b": 2.0}, 0, {"a": 0, "b": 0}),
    ],
)
def test_fleet_shares(weights: dict[str, float], tasks: int, expected: dict[str, int]) -> None:
    assert fleet_shares(weights, tasks) == expected


@pytest.mark.parametrize(("attempt", "expected"), [(0, 110.0), (1, 120.0), (2, 140.0), (3, None)])
def test_retry_backoff_doubles_then_gives_up(attempt: int, expected: float | None) -> None:
    assert retry_at(100.0, attempt, 3, 10.0) == expected


def test_evaluation_batches_cover_the_sprt_and_the_anchor_gate_once() -> None:
    v = "square8_2p"
    cand = Participant(variant=v, kind="gumbel", budget=4, model_id="c" * 64)
    best = Participant(variant=v, kind="gumbel", budget=4, model_id="b" * 64)
    evaluation = EvaluationSection(groups_per_task=3, tasks_per_batch=2)
    promotion = PromotionSection.model_validate(
        {"sprt": {"min_groups": 2, "max_groups": 10}, "anchors": [{"player": "random", "groups": 4}]}
    )
    first = evaluation_batch(cand, best, 0, evaluation=evaluation, promotion=promotion, seed=1)
    assert sorted(first) == [
        "anchor-random-best-000",
        "anchor-random-best-001",
        "anchor-random-candidate-000",
        "anchor-random-candidate-001",
        "sprt-000-000",
        "sprt-000-001",
    ]
    second = evaluation_batch(cand, best, 1, evaluation=evaluation, promotion=promotion, seed=1)
    assert sorted(second) == ["sprt-001-000", "sprt-001-001"]
    assert [len(second[t]) for t in sorted(second)] == [3, 1]  # capped at max_groups 10
    assert evaluation_batch(cand, best, 2, evaluation=evaluation, promotion=promotion, seed=1) == {}
    seeds = [
        p.seed
        for batch in (first, second)
        for task, plans in batch.items()
        if task.startswith("sprt")
        for p in plans
    ]
    assert len(seeds) == len(set(seeds)) == 10
    alone = evaluation_batch(cand, None, 0, evaluation=evaluation, promotion=promotion, seed=1)
    assert sorted(alone) == ["anchor-random-candidate-000", "anchor-random-candidate-001"]
    known = evaluation_batch(
        cand, best, 0, evaluation=evaluation, promotion=promotion, seed=1, best_has_played={"random"}
    )
    assert sorted(known) == sorted(t for t in first if "-best-" not in t)  # the best's games are reused
    assert known["sprt-000-000"] == first["sprt-000-000"]


def test_tournament_is_a_round_robin() -> None:
    v = "square8_2p"
    people = [Participant(variant=v, kind=k) for k in ("random", "heuristic")]
    people.append(Participant(variant=v, kind="gumbel", budget=4, model_id="a" * 64))
    tasks = tournament_tasks(people, 2, seed=0)
    assert len(tasks) == 3 and all(len(plans) == 2 for plans in tasks.values())
