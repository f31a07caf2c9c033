"""One variant's cycle as a pure function: `next_actions(state, observation) -> actions`.

    collect ──(new samples ≥ trigger)──> train ──(candidate published)──> evaluate
       ^                                   │                                 │
       └──────(training gave up)───────────┘      (decided or failed) ───────┘

Selfplay runs in every phase, with the current best, at the variant's share of the fleet (less
the variant's training and evaluation tasks with `selfplay.yield_to_training_and_evaluation`); the
bootstrap player (no best yet) stops once the first training has its samples, until that model
is decided.
Evaluation submits SPRT batches (the first batch also plays the anchor gate) and asks for a
decision once the test has decided, its cap is reached, or there is no best to test against.
The machine only proposes actions; the controller journals them and carries them out, and the
journal records those steps fold back into the state (`state.apply_event`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ringrift_hpc.loop.state import VariantState

SprtStatus = Literal["continue", "accept", "reject"]


@dataclass(frozen=True)
class EvaluationProgress:
    """What the published match files of the current evaluation say so far."""

    sprt_groups: int
    sprt_status: SprtStatus | None  # None: no best, so no SPRT
    capped: bool  # the SPRT played its max_groups


@dataclass(frozen=True)
class Observation:
    """What the controller saw this tick about one variant."""

    halted: bool
    selfplay_target: int  # tasks this variant should have in flight (its curriculum share)
    selfplay_in_flight: int
    train_in_flight: bool
    train_failed: bool  # the training job gave up, was refused, or its model never appeared
    eval_in_flight: int  # tasks of the current evaluation not finished or whose file is awaited
    eval_failed: bool  # a task of the current evaluation gave up, was refused, or its file never appeared
    progress: EvaluationProgress | None  # None before the first batch
    trigger_samples: int
    max_decisions: int | None
    tournament_due: bool
    tournament_in_flight: bool
    yield_to_jobs: bool = False  # selfplay.yield_to_training_and_evaluation


@dataclass(frozen=True)
class SubmitSelfplay:
    count: int


@dataclass(frozen=True)
class SubmitTraining:
    new_samples: int


@dataclass(frozen=True)
class SubmitEvaluationBatch:
    batch: int  # 0: the first batch, which also plays the anchor gate


@dataclass(frozen=True)
class Decide:
    pass


@dataclass(frozen=True)
class FailTraining:
    pass


@dataclass(frozen=True)
class FailEvaluation:
    pass


@dataclass(frozen=True)
class SubmitTournament:
    pass


Action = (
    SubmitSelfplay
    | SubmitTraining
    | SubmitEvaluationBatch
    | Decide
    | FailTraining
    | FailEvaluation
    | SubmitTournament
)


def finished(state: VariantState, max_decisions: int | None) -> bool:
    """The variant reached `loop.max_generations` decisions."""
    return max_decisions is not None and state.decisions >= max_decisions


def next_actions(state: VariantState, seen: Observation) -> list[Action]:
    """The actions for this tick; submissions are left out while halted."""
    actions: list[Action] = []
    done = finished(state, seen.max_decisions)
    if state.phase == "collect":
        if not done and state.samples_since_training >= seen.trigger_samples and not seen.train_in_flight:
            actions.append(SubmitTraining(state.samples_since_training))
    elif state.phase == "train":
        if seen.train_failed:
            actions.append(FailTraining())
    elif state.phase == "evaluate":
        actions.extend(_evaluation_actions(state, seen))
    wanted = _selfplay_wanted(seen, actions)
    if not done and not _bootstrap_complete(state, seen) and wanted > 0:
        actions.append(SubmitSelfplay(wanted))
    if seen.tournament_due and not seen.tournament_in_flight:
        actions.append(SubmitTournament())
    if seen.halted:
        return [a for a in actions if isinstance(a, (Decide, FailTraining, FailEvaluation))]
    return actions


def _selfplay_wanted(seen: Observation, proposed: list[Action]) -> int:
    """Selfplay tasks to submit: the share left free, when yielding, by training and evaluation.

    A training or evaluation batch proposed this tick is not counted in flight until the next
    tick, so a yielding variant submits no selfplay in the same tick (it would queue first).
    """
    if not seen.yield_to_jobs:
        return seen.selfplay_target - seen.selfplay_in_flight
    if any(isinstance(a, (SubmitTraining, SubmitEvaluationBatch)) for a in proposed):
        return 0
    others = int(seen.train_in_flight) + seen.eval_in_flight
    return seen.selfplay_target - others - seen.selfplay_in_flight


def _bootstrap_complete(state: VariantState, seen: Observation) -> bool:
    """The bootstrap player has given the first training its data: until the first model is
    decided, more of its games would only crowd that model's own out of the replay window."""
    if state.best_model is not None:
        return False
    return state.phase != "collect" or state.samples_since_training >= seen.trigger_samples


def _evaluation_actions(state: VariantState, seen: Observation) -> list[Action]:
    if seen.eval_failed:
        return [FailEvaluation()]
    if state.eval_batches == 0:
        return [SubmitEvaluationBatch(0)]
    if seen.eval_in_flight > 0 or seen.progress is None:
        return []
    progress = seen.progress
    if progress.sprt_status is None or progress.sprt_status != "continue" or progress.capped:
        return [Decide()]
    return [SubmitEvaluationBatch(state.eval_batches)]
