"""The training lineage: with `training.parent: latest` a training starts from the last model any
training made, promoted or not; a promotion or rollback by hand restarts it from the best."""

from __future__ import annotations

from ringrift_hpc.loop.controller import _parent
from ringrift_hpc.loop.events import BestChanged, Decision, ModelIngested
from ringrift_hpc.loop.state import RunState, VariantState, apply_event, replace

V = "square8_2p"
BEST, CANDIDATE, OTHER = "b" * 64, "c" * 64, "d" * 64


def _ingested(model: str, key: str) -> ModelIngested:
    return ModelIngested(variant=V, path=f"models/{model}.pt", model_id=model, job_key=key, generation=2)


def _rejected(model: str) -> Decision:
    return Decision(
        variant=V,
        candidate=f"gumbel@32#{model}",
        model_id=model,
        best=f"gumbel@32#{BEST}",
        promote=False,
        reasons=("SPRT rejected",),
        statistics={},
        eval_id="eval-g0002",
    )


def _variant(state: RunState) -> VariantState:
    return state.variants[V]


def test_a_rejected_candidate_stays_the_parent_of_the_next_training() -> None:
    start = RunState.empty([V])
    training = replace(_variant(start), best_model=BEST, phase="train", train_key="k1")
    state = replace(start, variants={V: training})
    assert (_parent(training, "latest"), _parent(training, "best")) == (BEST, BEST)  # nothing trained yet
    state = apply_event(state, _ingested(CANDIDATE, "k1"))
    state = apply_event(state, _rejected(CANDIDATE))
    v = _variant(state)
    assert (v.best_model, v.trained_model, v.phase) == (BEST, CANDIDATE, "collect")
    assert (_parent(v, "latest"), _parent(v, "best")) == (CANDIDATE, BEST)


def test_a_model_from_another_job_is_not_the_lineage() -> None:
    start = RunState.empty([V])
    training = replace(_variant(start), best_model=BEST, phase="train", train_key="k1")
    state = apply_event(replace(start, variants={V: training}), _ingested(OTHER, "k0"))
    assert _variant(state).trained_model is None


def test_a_best_set_by_hand_restarts_the_lineage_from_it() -> None:
    start = RunState.empty([V])
    v = replace(_variant(start), best_model=BEST, trained_model=CANDIDATE)
    state = replace(start, variants={V: v})
    state = apply_event(state, BestChanged(variant=V, model_id=OTHER, participant=f"gumbel@32#{OTHER}"))
    assert _parent(_variant(state), "latest") == OTHER
