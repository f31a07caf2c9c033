"""Jobs as plain JSON for P2P mode: which job function, and its spec.

The controller submits callables; over the wire a job is ``{"purpose": ..., "spec": ...}``,
where ``spec`` is the spec class's own ``to_json`` text. Only the three job functions the
controller submits can travel, so a worker never runs anything but them, and nothing is
pickled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.cluster.executor import SubmissionError
from ringrift_hpc.jobs.evaluate import MatchSpec, run_match
from ringrift_hpc.jobs.selfplay import SelfplaySpec, run_selfplay
from ringrift_hpc.jobs.train import TrainJob
from ringrift_hpc.jobs.train_spec import TrainSpec
from ringrift_hpc.p2p.wire import exact_fields

JOB_FIELDS = ("purpose", "spec")


class JobDocumentError(ValueError):
    """A job document that is not one ``encode_job`` writes; the message names the field."""


def _train_job() -> Callable[..., Any]:
    return TrainJob()  # type: ignore[no-untyped-call]  # submitit's base class is untyped


@dataclass(frozen=True)
class _Purpose:
    spec_class: type[Any]
    make_fn: Callable[[], Callable[..., Any]]
    is_fn: Callable[[Callable[..., Any]], bool]
    inputs: tuple[str, ...]  # what a worker fetches from the coordinator before running it


_PURPOSES: dict[str, _Purpose] = {
    "selfplay": _Purpose(SelfplaySpec, lambda: run_selfplay, lambda fn: fn is run_selfplay, ("models",)),
    "train": _Purpose(TrainSpec, _train_job, lambda fn: isinstance(fn, TrainJob), ("models", "selfplay")),
    "match": _Purpose(MatchSpec, lambda: run_match, lambda fn: fn is run_match, ("models",)),
}
PURPOSES: tuple[str, ...] = tuple(_PURPOSES)


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)


def encode_job(fn: Callable[..., Any], args: Sequence[Any]) -> dict[str, str]:
    """``fn(*args)`` as a job document; ``SubmissionError`` for anything P2P workers cannot run."""
    purpose = next((name for name, p in _PURPOSES.items() if p.is_fn(fn)), None)
    if purpose is None:
        raise SubmissionError(
            f"P2P mode cannot send {_name(fn)} to a worker: it runs only run_selfplay, TrainJob() and "
            "run_match, each with its spec"
        )
    spec_class = _PURPOSES[purpose].spec_class
    if isinstance(args, (str, bytes)) or len(args) != 1 or not isinstance(args[0], spec_class):
        got = ", ".join(type(a).__name__ for a in args) if not isinstance(args, (str, bytes)) else "a string"
        raise SubmissionError(
            f"{_name(fn)} takes exactly one {spec_class.__name__} in P2P mode; got ({got}): "
            f"pass ({spec_class.__name__}(...),)"
        )
    return {"purpose": purpose, "spec": args[0].to_json()}


def decode_job(doc: Any) -> tuple[Callable[..., Any], Any]:
    """The job function and its spec from a job document; ``JobDocumentError`` naming the bad field."""
    exact_fields(doc, JOB_FIELDS, "job document", error=JobDocumentError)
    purpose = doc["purpose"]
    if not isinstance(purpose, str) or purpose not in _PURPOSES:
        raise JobDocumentError(f"job field 'purpose' is {purpose!r}; it must be one of {', '.join(PURPOSES)}")
    spec_text = doc["spec"]
    if not isinstance(spec_text, str):
        raise JobDocumentError(
            f"job field 'spec' must be the spec's JSON text (a string), got {type(spec_text).__name__}"
        )
    entry = _PURPOSES[purpose]
    source = f"job field 'spec' (a {entry.spec_class.__name__})"
    try:
        spec = entry.spec_class.from_json(spec_text, source=source)
    except (ValueError, TypeError) as error:
        message = str(error)
        raise JobDocumentError(message if source in message else f"{source}: {message}") from error
    return entry.make_fn(), spec


def rebase_job(doc: Mapping[str, Any], run_root: Path) -> dict[str, str]:
    """The same job run in ``run_root`` (this node's own run directory) instead of the submitter's."""
    _, spec = decode_job(doc)
    moved = dataclasses.replace(spec, run_root=str(Path(run_root).resolve()))
    return {"purpose": str(doc["purpose"]), "spec": moved.to_json()}


def job_inputs(purpose: str) -> tuple[str, ...]:
    """What a worker must fetch before running a job of ``purpose``: "models", "selfplay"."""
    if purpose not in _PURPOSES:
        raise JobDocumentError(f"job purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    return _PURPOSES[purpose].inputs
