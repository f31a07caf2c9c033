"""Who plays in an evaluation or a rating tournament, and the match specs its tasks run.

One planning for the controller and for people: the controller's evaluations
(`evaluation_specs`) and periodic tournaments (`tournament_specs`) are what `ringrift-hpc spec
evaluate|tournament` writes for plain sbatch, and `ringrift-hpc tournament` seats the same
entrants (`entrants`, plus the participants it is given) and builds its tasks' specs the same
way (`MatchSpec.from_config`). The promotion history is read by the caller; everything here is
pure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ringrift_hpc.cluster.purposes import TOURNAMENT_ID_PREFIX
from ringrift_hpc.config import Config
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.loop.policies import evaluation_batch, tournament_tasks
from ringrift_hpc.rating.best import best_states
from ringrift_hpc.rating.participants import Participant, parse_participant_id


def recent_bests(promotions: Sequence[dict[str, Any]], variant: str, count: int) -> list[Participant]:
    """The last `count` distinct participants installed as best (promotions and rollbacks), newest first.

    `promotions` is the variant's promotion history (`rating.best.promotion_history`).
    """
    seen: list[str] = []
    for doc in reversed(best_states(promotions)):
        if doc["participant"] not in seen:
            seen.append(doc["participant"])
    return [parse_participant_id(variant, pid) for pid in seen[:count]]


def entrants(
    config: Config,
    variant: str,
    promotions: Sequence[dict[str, Any]],
    *,
    chosen: Sequence[Participant] = (),
    recent: int | None = None,
) -> tuple[Participant, ...]:
    """A tournament's participants, sorted, each once: `chosen`, the `recent` latest bests (default
    `evaluation.tournament_recent_bests`) and the configured anchors (`promotion.anchors`)."""
    count = config.evaluation.tournament_recent_bests if recent is None else recent
    anchors = [Participant(variant=variant, kind=anchor.player) for anchor in config.promotion.anchors]
    return tuple(sorted({*chosen, *recent_bests(promotions, variant, count), *anchors}))


def evaluation_id(generation: int, candidate: str) -> str:
    """The id of the evaluation of candidate model `candidate`, trained as generation `generation`."""
    return f"eval-g{generation:04d}-{candidate[:16]}"


def tournament_id(now: datetime) -> str:
    """The id of a tournament started by a person at `now` (UTC): a rerun adds new games."""
    return TOURNAMENT_ID_PREFIX + now.strftime("%Y%m%dT%H%M%S%fZ")


def evaluation_specs(
    config: Config,
    *,
    run_root: Path | str,
    candidate: Participant,
    best: Participant | None,
    eval_id: str,
    batch: int,
    best_has_played: Collection[str] = (),
) -> dict[str, MatchSpec]:
    """The match tasks of SPRT batch `batch` of `candidate` against `best` (`evaluation_batch`)."""
    plans = evaluation_batch(
        candidate,
        best,
        batch,
        evaluation=config.evaluation,
        promotion=config.promotion,
        seed=config.run.seed,
        best_has_played=best_has_played,
    )
    return {
        task: MatchSpec.from_config(
            config, run_root=run_root, variant=candidate.variant, eval_id=eval_id, task=task, groups=groups
        )
        for task, groups in plans.items()
    }


def tournament_specs(
    config: Config,
    promotions: Sequence[dict[str, Any]],
    *,
    run_root: Path | str,
    variant: str,
    eval_id: str,
    seed: int,
    chosen: Sequence[Participant] = (),
    recent: int | None = None,
    groups_per_pair: int | None = None,
) -> dict[str, MatchSpec]:
    """A round robin of the `entrants` (the controller's: the recent bests and the anchors), one
    match task per pair; `groups_per_pair` defaults to `evaluation.tournament_groups_per_pair`.

    Empty when fewer than two participants enter.
    """
    plans = tournament_tasks(
        entrants(config, variant, promotions, chosen=chosen, recent=recent),
        groups_per_pair or config.evaluation.tournament_groups_per_pair,
        seed=seed,
    )
    return {
        task: MatchSpec.from_config(
            config, run_root=run_root, variant=variant, eval_id=eval_id, task=task, groups=groups
        )
        for task, groups in plans.items()
    }
