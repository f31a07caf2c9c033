"""Every job there is, by purpose: its spec type, what it runs, what it needs and what it makes.

The one place that maps a purpose (``cluster.purposes``) to a job: the controller rebuilds
journaled specs with ``spec_from_json`` and gives executors ``job_callable`` as their resolver,
P2P workers encode and run jobs through it, and ``ringrift-hpc worker PURPOSE --spec FILE`` runs
``run_from_spec_file``. Evaluations and tournaments both play matches (``run_match`` on a
``MatchSpec``); they differ in what the controller makes of the match files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.cluster.purposes import Purpose, check_purpose
from ringrift_hpc.config.spec_model import SpecModel
from ringrift_hpc.jobs.evaluate import MatchSpec, run_match
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import TrainJob
from ringrift_hpc.jobs.train_spec import TrainSpec

# Folders of a variant (``RunLayout``) that jobs read and publish: a P2P worker fetches a job's
# inputs from the coordinator before running it and uploads what it published afterwards.
MODELS = "models"
SELFPLAY = "selfplay"
MATCHES = "matches"


@dataclass(frozen=True)
class JobEntry:
    """One purpose's job."""

    purpose: Purpose
    spec_type: type[SpecModel]
    make_callable: Callable[[], Callable[[Any], Any]]  # what runs the spec where the job runs
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # Several jobs go out as one scheduler array; training jobs go out one by one, each a
    # submitit Checkpointable that is requeued on its own when preempted.
    array: bool


def _train_job() -> Callable[[Any], Any]:
    return TrainJob()  # type: ignore[no-untyped-call]  # submitit's base class is untyped


REGISTRY: Mapping[Purpose, JobEntry] = {
    "selfplay": JobEntry("selfplay", SelfplaySpec, lambda: run_selfplay, (MODELS,), (SELFPLAY,), array=True),
    "train": JobEntry("train", TrainSpec, _train_job, (MODELS, SELFPLAY), (MODELS,), array=False),
    "evaluate": JobEntry("evaluate", MatchSpec, lambda: run_match, (MODELS,), (MATCHES,), array=True),
    "tournament": JobEntry("tournament", MatchSpec, lambda: run_match, (MODELS,), (MATCHES,), array=True),
}


def job_entry(purpose: str) -> JobEntry:
    """The entry of ``purpose``; ``ValueError`` naming the purposes there are."""
    return REGISTRY[check_purpose(purpose)]


def job_callable(purpose: Purpose) -> Callable[[Any], Any]:
    """What runs a spec of ``purpose``: the executors' ``JobResolver``."""
    return job_entry(purpose).make_callable()


def spec_from_json(purpose: Purpose, text: str, *, source: str) -> SpecModel:
    """The spec of a ``purpose`` job from its ``to_json`` text; errors name ``source``."""
    return job_entry(purpose).spec_type.from_json(text, source=source)


def run_from_spec_file(purpose: Purpose, path: Path) -> Any:
    """``ringrift-hpc worker PURPOSE --spec FILE``: read the spec, run it, its result."""
    spec = spec_from_json(purpose, Path(path).read_text(), source=str(path))
    return job_callable(purpose)(spec)
