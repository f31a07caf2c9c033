"""Pure policies of the loop: curriculum shares of the selfplay fleet, retry backoff, and the
game groups of an evaluation batch or a rating tournament."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ringrift_hpc.config import CurriculumSection, EvaluationSection, PromotionSection, Variant
from ringrift_hpc.jobs.evaluate_games import GroupPlan, group_seed, pair_lineup
from ringrift_hpc.rating.participants import Participant


@dataclass(frozen=True)
class VariantProgress:
    """What the curriculum looks at for one variant."""

    samples: int  # selfplay samples so far
    recent_promotions: float  # share of the last decisions that promoted (0..1); 1.0 with none yet


def curriculum_weights(
    progress: Mapping[str, VariantProgress],
    section: CurriculumSection,
    previous: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Relative selfplay weights (1.0 = equal share), clamped to [min_weight, max_weight].

    A variant gets more when it has less data than the others (`data_share`) or when its recent
    candidates were promoted less often, i.e. its rating improves slowest (`1 - data_share`).
    """
    names = sorted(progress)
    if not section.enabled or len(names) < 2:
        return {name: 1.0 for name in names}
    total = sum(p.samples for p in progress.values())
    raw: dict[str, float] = {}
    for name in names:
        p = progress[name]
        scarcity = 1.0 if total == 0 else 2.0 * (1.0 - p.samples / total)
        slowness = 2.0 * (1.0 - p.recent_promotions)
        raw[name] = section.data_share * scarcity + (1.0 - section.data_share) * slowness
    mean = sum(raw.values()) / len(raw)
    weights = {}
    for name in names:
        target = raw[name] / mean if mean > 0 else 1.0
        if previous is not None and name in previous:
            target = section.smoothing * previous[name] + (1.0 - section.smoothing) * target
        weights[name] = min(max(target, section.min_weight), section.max_weight)
    return weights


def fleet_shares(weights: Mapping[str, float], tasks: int) -> dict[str, int]:
    """`tasks` split in proportion to `weights` (largest remainder; ties by name)."""
    names = sorted(weights)
    total = sum(weights.values())
    exact = {name: tasks * weights[name] / total for name in names}
    shares = {name: math.floor(exact[name]) for name in names}
    left = tasks - sum(shares.values())
    for name in sorted(names, key=lambda n: (-(exact[n] - shares[n]), n))[:left]:
        shares[name] += 1
    return shares


# A job lost with its node or preempted reruns without using a retry, but not forever: a job
# that keeps killing its nodes is at fault after all.
MAX_LOST_RERUNS = 5


def retry_at(now: float, attempt: int, max_retries: int, backoff_s: float) -> float | None:
    """When attempt `attempt` (0 = first) of a failed job is retried; None: give up."""
    if attempt >= max_retries:
        return None
    return now + backoff_s * float(2**attempt)


def training_seed(run_seed: int, decisions: int) -> int:
    """The seed of the training that follows a variant's `decisions` promotion decisions."""
    return run_seed + decisions + 1


def _chunks(plans: Sequence[GroupPlan], size: int) -> list[tuple[GroupPlan, ...]]:
    return [tuple(plans[i : i + size]) for i in range(0, len(plans), size)]


def evaluation_batch(
    candidate: Participant,
    best: Participant | None,
    batch: int,
    *,
    evaluation: EvaluationSection,
    promotion: PromotionSection,
    seed: int,
    best_has_played: Collection[str] = (),
) -> dict[str, tuple[GroupPlan, ...]]:
    """The match tasks (name -> groups) of SPRT batch `batch` of one candidate.

    Batch `k` plays SPRT groups `[k * per_batch, (k+1) * per_batch)` capped at `max_groups`;
    batch 0 also plays the anchor gate for the candidate and, when there is one, for the best
    against each anchor not in `best_has_played` (the anchors whose gate it has played already:
    the same model at the same budget, so those games still measure it).
    """
    players = Variant.model_validate(candidate.variant).players
    tasks: dict[str, tuple[GroupPlan, ...]] = {}
    if best is not None:
        per_batch = evaluation.tasks_per_batch * evaluation.groups_per_task
        start = batch * per_batch
        stop = min(start + per_batch, promotion.sprt.max_groups)
        plans = [
            GroupPlan(pair_lineup(candidate, best, players, k), group_seed(seed, "sprt", k))
            for k in range(start, stop)
        ]
        for number, chunk in enumerate(_chunks(plans, evaluation.groups_per_task)):
            tasks[f"sprt-{batch:03d}-{number:03d}"] = chunk
    if batch == 0:
        for gate in promotion.anchors:
            anchor = Participant(variant=candidate.variant, kind=gate.player)
            for role, who in (("candidate", candidate), ("best", best)):
                if who is None or (role == "best" and gate.player in best_has_played):
                    continue
                plans = [
                    GroupPlan(
                        pair_lineup(who, anchor, players, k), group_seed(seed, f"{gate.player}-{role}", k)
                    )
                    for k in range(gate.groups)
                ]
                for number, chunk in enumerate(_chunks(plans, evaluation.groups_per_task)):
                    tasks[f"anchor-{gate.player}-{role}-{number:03d}"] = chunk
    return tasks


def tournament_tasks(
    participants: Sequence[Participant], groups_per_pair: int, *, seed: int
) -> dict[str, tuple[GroupPlan, ...]]:
    """A round robin: one match task per pair of participants, `groups_per_pair` groups each."""
    ordered = sorted(set(participants))
    tasks: dict[str, tuple[GroupPlan, ...]] = {}
    for i, a in enumerate(ordered):
        for j in range(i + 1, len(ordered)):
            b = ordered[j]
            players = Variant.model_validate(a.variant).players
            name = f"pair-{i:03d}-{j:03d}"
            tasks[name] = tuple(
                GroupPlan(pair_lineup(a, b, players, k), group_seed(seed, name, k))
                for k in range(groups_per_pair)
            )
    return tasks
