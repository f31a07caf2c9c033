"""Jobs as JSON: the three job functions round-trip with their specs, anything else is refused,
and a job moves to a worker's own run directory through its spec class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringrift_hpc.cluster.executor import SubmissionError
from ringrift_hpc.jobs.evaluate import MatchSpec, run_match
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import TrainJob
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.p2p.job_codec import JobDocumentError, decode_job, encode_job, job_inputs, rebase_job

from .job_specs import match_spec, selfplay_spec, train_spec

ROOT = Path("/coordinator/run")


def _jobs() -> list[tuple[str, Any, Any, type[Any]]]:
    return [
        ("selfplay", run_selfplay, selfplay_spec(ROOT), SelfplaySpec),
        ("train", TrainJob(), train_spec(ROOT), TrainSpec),  # type: ignore[no-untyped-call]
        ("match", run_match, match_spec(ROOT), MatchSpec),
    ]


@pytest.mark.parametrize("index", range(3))
def test_each_job_function_round_trips_with_its_spec(index: int) -> None:
    purpose, fn, spec, spec_class = _jobs()[index]
    doc = encode_job(fn, (spec,))
    assert doc == {"purpose": purpose, "spec": spec.to_json()}
    json.dumps(doc)  # plain JSON, nothing pickled
    decoded_fn, decoded_spec = decode_job(doc)
    assert isinstance(decoded_spec, spec_class) and decoded_spec == spec
    if purpose == "train":
        assert isinstance(decoded_fn, TrainJob)
    else:
        assert decoded_fn is fn


def test_other_callables_and_wrong_arguments_are_refused_by_name() -> None:
    with pytest.raises(SubmissionError, match=r"cannot send print to a worker.*run_selfplay, TrainJob\(\)"):
        encode_job(print, (selfplay_spec(ROOT),))
    with pytest.raises(
        SubmissionError, match=r"run_selfplay takes exactly one SelfplaySpec.*got \(MatchSpec\)"
    ):
        encode_job(run_selfplay, (match_spec(ROOT),))
    with pytest.raises(SubmissionError, match=r"got \(SelfplaySpec, int\)"):
        encode_job(run_selfplay, (selfplay_spec(ROOT), 3))
    with pytest.raises(SubmissionError, match=r"run_match takes exactly one MatchSpec.*got \(\)"):
        encode_job(run_match, ())


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], r"job document must be a JSON object with the fields purpose, spec"),
        ({"purpose": "selfplay"}, r"missing field\(s\) spec"),
        ({"purpose": "selfplay", "spec": "{}", "fn": "x"}, r"unknown field\(s\) fn"),
        ({"purpose": ["selfplay"], "spec": "{}"}, r"job field 'purpose' is \['selfplay'\]; it must be one"),
        (
            {"purpose": "mine", "spec": "{}"},
            r"job field 'purpose' is 'mine'; it must be one of selfplay, train",
        ),
        ({"purpose": "selfplay", "spec": {}}, r"job field 'spec' must be the spec's JSON text"),
        (
            {"purpose": "selfplay", "spec": "{"},
            r"job field 'spec' \(a SelfplaySpec\): not valid JSON",
        ),
        (
            {"purpose": "train", "spec": '{"seed": 1}'},
            r"job field 'spec' \(a TrainSpec\): missing field\(s\) run_root",
        ),
    ],
)
def test_bad_documents_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(JobDocumentError, match=message):
        decode_job(doc)


@pytest.mark.parametrize("index", range(3))
def test_rebase_moves_only_the_run_root(index: int, tmp_path: Path) -> None:
    _, fn, spec, _ = _jobs()[index]
    doc = encode_job(fn, (spec,))
    moved = rebase_job(doc, tmp_path / "worker-run")
    _, moved_spec = decode_job(moved)
    assert moved["purpose"] == doc["purpose"]
    assert moved_spec.run_root == str((tmp_path / "worker-run").resolve())
    assert json.loads(moved["spec"]) == {**json.loads(doc["spec"]), "run_root": moved_spec.run_root}


def test_inputs_a_worker_fetches_first() -> None:
    assert job_inputs("selfplay") == ("models",)
    assert job_inputs("match") == ("models",)
    assert job_inputs("train") == ("models", "selfplay")
    with pytest.raises(ValueError, match=r"job purpose 'evaluate' is not one of selfplay, train, match"):
        job_inputs("evaluate")
