"""Jobs as JSON: every purpose round-trips with its spec, a spec of the wrong type is refused,
and a job moves to a worker's own run directory through its spec type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringrift_hpc.cluster.executor import SubmissionError
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose
from ringrift_hpc.jobs.evaluate import MatchSpec
from ringrift_hpc.jobs.selfplay import SelfplaySpec
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.p2p.job_codec import (
    JobDocumentError,
    decode_job,
    encode_job,
    job_inputs,
    job_outputs,
    rebase_job,
)

from .job_specs import match_spec, selfplay_spec, train_spec

ROOT = Path("/coordinator/run")


def _spec(purpose: Purpose, root: Path = ROOT) -> Any:
    return {
        "selfplay": lambda: selfplay_spec(root),
        "train": lambda: train_spec(root),
        "evaluate": lambda: match_spec(root),
        "tournament": lambda: match_spec(root),
    }[purpose]()


SPEC_TYPES = {"selfplay": SelfplaySpec, "train": TrainSpec, "evaluate": MatchSpec, "tournament": MatchSpec}


@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_purpose_round_trips_with_its_spec(purpose: Purpose) -> None:
    spec = _spec(purpose)
    doc = encode_job(purpose, spec)
    assert doc == {"purpose": purpose, "spec": spec.to_json()}
    json.dumps(doc)  # plain JSON, nothing pickled
    decoded_purpose, decoded_spec = decode_job(doc)
    assert decoded_purpose == purpose
    assert isinstance(decoded_spec, SPEC_TYPES[purpose]) and decoded_spec == spec


def test_a_spec_of_another_type_is_refused_by_name() -> None:
    with pytest.raises(SubmissionError, match=r"a selfplay job takes a SelfplaySpec; got MatchSpec"):
        encode_job("selfplay", match_spec(ROOT))
    with pytest.raises(SubmissionError, match=r"a train job takes a TrainSpec; got tuple"):
        encode_job("train", (train_spec(ROOT),))
    with pytest.raises(ValueError, match=r"job purpose 'match' is not one of selfplay, train, evaluate"):
        encode_job("match", match_spec(ROOT))  # type: ignore[arg-type]  # earlier versions' word


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], r"job document: expected a JSON object, got list"),
        ({"purpose": "selfplay"}, r"job document: field 'spec' is missing \(the fields are purpose, spec\)"),
        ({"purpose": "selfplay", "spec": "{}", "fn": "x"}, r"job document: unknown field 'fn' \(the fields"),
        (
            {"purpose": ["selfplay"], "spec": "{}"},
            r"job document: field 'purpose' must be one of selfplay, train, evaluate, tournament, "
            r"got \['selfplay'\]",
        ),
        (
            {"purpose": "mine", "spec": "{}"},
            r"job document: field 'purpose' must be one of selfplay, train, evaluate, tournament, got 'mine'",
        ),
        ({"purpose": "selfplay", "spec": {}}, r"job document: field 'spec' must be a string, got \{\}"),
        (
            {"purpose": "selfplay", "spec": "{"},
            r"job field 'spec' \(a SelfplaySpec\): not valid JSON",
        ),
        (
            {"purpose": "train", "spec": '{"seed": 1}'},
            r"job field 'spec' \(a TrainSpec\): missing field\(s\) run_root",
        ),
        (
            {"purpose": "tournament", "spec": '{"seed": 1}'},
            r"job field 'spec' \(a MatchSpec\): unknown field\(s\) seed",
        ),
    ],
)
def test_bad_documents_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(JobDocumentError, match=message):
        decode_job(doc)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_rebase_moves_only_the_run_root(purpose: Purpose, tmp_path: Path) -> None:
    doc = encode_job(purpose, _spec(purpose))
    moved = rebase_job(doc, tmp_path / "worker-run")
    moved_purpose, moved_spec = decode_job(moved)
    assert moved["purpose"] == doc["purpose"] == moved_purpose
    assert moved_spec.run_root == str((tmp_path / "worker-run").resolve())
    assert json.loads(moved["spec"]) == {**json.loads(doc["spec"]), "run_root": moved_spec.run_root}


def test_inputs_a_worker_fetches_first() -> None:
    assert job_inputs("selfplay") == ("models",)
    assert job_inputs("train") == ("models", "selfplay")
    assert job_inputs("evaluate") == ("models",)
    assert job_inputs("tournament") == ("models",)
    with pytest.raises(JobDocumentError, match=r"job purpose 'match' is not one of selfplay, train"):
        job_inputs("match")


def test_outputs_a_worker_uploads_afterwards() -> None:
    assert job_outputs("selfplay") == ("selfplay",)
    assert job_outputs("train") == ("models",)
    assert job_outputs("evaluate") == job_outputs("tournament") == ("matches",)
    with pytest.raises(JobDocumentError, match=r"job purpose 'match' is not one of selfplay, train"):
        job_outputs("match")
