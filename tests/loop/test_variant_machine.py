"""The per-variant state machine, table-driven: (state, observation) -> actions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ringrift_hpc.loop.state import VariantState
from ringrift_hpc.loop.variant_machine import (
    Decide,
    EvaluationProgress,
    FailEvaluation,
    FailTraining,
    Observation,
    SubmitEvaluationBatch,
    SubmitSelfplay,
    SubmitTournament,
    SubmitTraining,
    next_actions,
)

V = VariantState("square8_2p")
SEEN = Observation(
    halted=False,
    selfplay_target=4,
    selfplay_in_flight=4,
    train_in_flight=False,
    train_failed=False,
    eval_in_flight=0,
    eval_failed=False,
    progress=None,
    trigger_samples=100,
    max_decisions=None,
    tournament_due=False,
    tournament_in_flight=False,
)
EVALUATING = replace(
    V, phase="evaluate", candidate="c" * 64, eval_id="e", eval_batches=1, best_model="b" * 64
)

CASES = [
    ("fleet full, too few samples: nothing", V, SEEN, []),
    ("fleet short by 3", V, replace(SEEN, selfplay_in_flight=1), [SubmitSelfplay(3)]),
    ("trigger reached", replace(V, samples_total=100), SEEN, [SubmitTraining(100)]),
    (
        "trigger counts only samples since the last training",
        replace(V, samples_total=150, samples_at_training=100),
        SEEN,
        [],
    ),
    (
        "no second training while one runs",
        replace(V, samples_total=500),
        replace(SEEN, train_in_flight=True),
        [],
    ),
    (
        "training waits for its candidate",
        replace(V, phase="train", samples_total=500),
        replace(SEEN, train_in_flight=True),
        [],
    ),
    ("training gave up", replace(V, phase="train"), replace(SEEN, train_failed=True), [FailTraining()]),
    ("candidate: first batch", replace(EVALUATING, eval_batches=0), SEEN, [SubmitEvaluationBatch(0)]),
    ("batch in flight: wait", EVALUATING, replace(SEEN, eval_in_flight=2), []),
    (
        "SPRT undecided: next batch",
        EVALUATING,
        replace(SEEN, progress=EvaluationProgress(8, "continue", False)),
        [SubmitEvaluationBatch(1)],
    ),
    (
        "SPRT accepted: decide",
        EVALUATING,
        replace(SEEN, progress=EvaluationProgress(8, "accept", False)),
        [Decide()],
    ),
    (
        "SPRT rejected: decide",
        EVALUATING,
        replace(SEEN, progress=EvaluationProgress(8, "reject", False)),
        [Decide()],
    ),
    (
        "cap reached: decide",
        EVALUATING,
        replace(SEEN, progress=EvaluationProgress(64, "continue", True)),
        [Decide()],
    ),
    (
        "first model: anchors only",
        EVALUATING,
        replace(SEEN, progress=EvaluationProgress(0, None, False)),
        [Decide()],
    ),
    ("match task gave up", EVALUATING, replace(SEEN, eval_failed=True, eval_in_flight=1), [FailEvaluation()]),
    (
        "halted: nothing submitted",
        replace(V, samples_total=500),
        replace(SEEN, halted=True, selfplay_in_flight=0, tournament_due=True),
        [],
    ),
    (
        "halted: a decision is still taken",
        EVALUATING,
        replace(SEEN, halted=True, progress=EvaluationProgress(8, "accept", False)),
        [Decide()],
    ),
    (
        "finished: no selfplay, no training",
        replace(V, decisions=2, samples_total=500),
        replace(SEEN, max_decisions=2, selfplay_in_flight=0),
        [],
    ),
    (
        "bootstrap data complete: the bootstrap player stops",
        replace(V, samples_total=100),
        replace(SEEN, selfplay_in_flight=1),
        [SubmitTraining(100)],
    ),
    (
        "first model training: no bootstrap selfplay",
        replace(V, phase="train", samples_total=100, samples_at_training=100),
        replace(SEEN, selfplay_in_flight=0),
        [],
    ),
    (
        "first model evaluated: no bootstrap selfplay",
        replace(EVALUATING, best_model=None, eval_batches=0),
        replace(SEEN, selfplay_in_flight=0),
        [SubmitEvaluationBatch(0)],
    ),
    (
        "first candidate rejected: the bootstrap player plays again",
        replace(V, decisions=1, samples_total=100, samples_at_training=100),
        replace(SEEN, selfplay_in_flight=1),
        [SubmitSelfplay(3)],
    ),
    (
        "with a best, selfplay goes on while training",
        replace(V, phase="train", best_model="b" * 64, samples_total=100, samples_at_training=100),
        replace(SEEN, selfplay_in_flight=1),
        [SubmitSelfplay(3)],
    ),
    (
        "yielding: evaluation tasks take selfplay's slots",
        EVALUATING,
        replace(SEEN, yield_to_jobs=True, eval_in_flight=3, selfplay_in_flight=0),
        [SubmitSelfplay(1)],
    ),
    (
        "yielding: the training job takes a slot",
        replace(V, phase="train", best_model="b" * 64, samples_total=100, samples_at_training=100),
        replace(SEEN, yield_to_jobs=True, train_in_flight=True, selfplay_in_flight=1),
        [SubmitSelfplay(2)],
    ),
    (
        "yielding: more evaluation tasks than slots, no selfplay",
        EVALUATING,
        replace(SEEN, yield_to_jobs=True, eval_in_flight=10, selfplay_in_flight=0),
        [],
    ),
    (
        "yielding: no selfplay in the tick that submits an evaluation batch",
        EVALUATING,
        replace(
            SEEN, yield_to_jobs=True, selfplay_in_flight=0, progress=EvaluationProgress(8, "continue", False)
        ),
        [SubmitEvaluationBatch(1)],
    ),
    (
        "yielding: no selfplay in the tick that submits the training",
        replace(V, best_model="b" * 64, samples_total=100),
        replace(SEEN, yield_to_jobs=True, selfplay_in_flight=0),
        [SubmitTraining(100)],
    ),
    (
        "not yielding: selfplay keeps its share while evaluating",
        EVALUATING,
        replace(SEEN, eval_in_flight=3, selfplay_in_flight=0),
        [SubmitSelfplay(4)],
    ),
    ("tournament due", V, replace(SEEN, tournament_due=True), [SubmitTournament()]),
    ("tournament already running", V, replace(SEEN, tournament_due=True, tournament_in_flight=True), []),
]


@pytest.mark.parametrize(("state", "seen", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_actions(state: VariantState, seen: Observation, expected: list[object]) -> None:
    assert next_actions(state, seen) == expected
