"""The job registry: one entry per purpose, what each runs, needs and makes, and specs read
back per purpose with errors naming their source."""

from __future__ import annotations

from pathlib import Path

import pytest
import submitit
from p2p.job_specs import match_spec, selfplay_spec, train_spec

from ringrift_hpc.cluster.purposes import PURPOSES
from ringrift_hpc.jobs.evaluate import MatchSpec, run_match
from ringrift_hpc.jobs.registry import REGISTRY, job_callable, job_entry, run_from_spec_file, spec_from_json
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import TrainJob
from ringrift_hpc.jobs.train_spec import TrainSpec

ROOT = Path("/run")


def test_every_purpose_has_exactly_one_entry() -> None:
    assert tuple(REGISTRY) == PURPOSES
    assert all(job_entry(purpose).purpose == purpose for purpose in PURPOSES)
    with pytest.raises(ValueError, match="job purpose 'match' is not one of selfplay, train, evaluate, tournament"):
        job_entry("match")


def test_what_each_purpose_runs_needs_and_makes() -> None:
    assert {p: job_entry(p).spec_type for p in PURPOSES} == {
        "selfplay": SelfplaySpec,
        "train": TrainSpec,
        "evaluate": MatchSpec,
        "tournament": MatchSpec,
    }
    assert job_callable("selfplay") is run_selfplay
    assert job_callable("evaluate") is run_match and job_callable("tournament") is run_match
    # Training is checkpointable, so submitit requeues a preempted training job; it goes out alone.
    train = job_callable("train")
    assert isinstance(train, TrainJob) and isinstance(train, submitit.helpers.Checkpointable)
    assert [p for p in PURPOSES if not job_entry(p).array] == ["train"]
    assert {p: (job_entry(p).inputs, job_entry(p).outputs) for p in PURPOSES} == {
        "selfplay": (("models",), ("selfplay",)),
        "train": (("models", "selfplay"), ("models",)),
        "evaluate": (("models",), ("matches",)),
        "tournament": (("models",), ("matches",)),
    }


def test_specs_round_trip_per_purpose_and_errors_name_the_source(tmp_path: Path) -> None:
    specs = {
        "selfplay": selfplay_spec(ROOT),
        "train": train_spec(ROOT),
        "evaluate": match_spec(ROOT),
        "tournament": match_spec(ROOT, task="000001"),
    }
    for purpose, spec in specs.items():
        assert spec_from_json(purpose, spec.to_json(), source="test") == spec  # type: ignore[arg-type]
    path = tmp_path / "spec.json"
    path.write_text(specs["selfplay"].to_json())
    with pytest.raises(ValueError, match=rf"{path}: unknown field\(s\)"):
        run_from_spec_file("tournament", path)
