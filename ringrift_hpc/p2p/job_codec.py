"""Jobs as plain JSON for P2P mode: a purpose and its spec.

Over the wire a job is ``{"purpose": ..., "spec": ...}``, where ``purpose`` is one of
``cluster.purposes.PURPOSES`` and ``spec`` the text of that purpose's spec type's ``to_json``
(``jobs.registry``). A worker runs the registry's job of that purpose, so it never runs anything
else, and nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from ringrift_hpc.cluster.executor import SubmissionError
from ringrift_hpc.cluster.purposes import PURPOSES, Purpose
from ringrift_hpc.jobs.registry import job_entry
from ringrift_hpc.p2p.wire import Text, WireError, WireModel, expected


class JobDocumentError(ValueError):
    """A job document that is not one ``encode_job`` writes; the message names the field."""


class JobDocument(WireModel):
    """What a P2P worker runs: the registry's job of ``purpose`` on the spec's JSON text."""

    WHAT: ClassVar[str] = "job document"
    purpose: Annotated[Purpose, expected(f"one of {', '.join(PURPOSES)}")]
    spec: Text


def encode_job(purpose: Purpose, spec: Any) -> dict[str, str]:
    """A ``purpose`` job on ``spec`` as a job document; ``SubmissionError`` for a spec of another type."""
    spec_type = job_entry(purpose).spec_type
    if not isinstance(spec, spec_type):
        raise SubmissionError(
            f"a {purpose} job takes a {spec_type.__name__}; got {type(spec).__name__}: "
            f"pass {spec_type.__name__}(...)"
        )
    return {"purpose": purpose, "spec": spec.to_json()}


def decode_job(doc: Any) -> tuple[Purpose, Any]:
    """The purpose and spec of a job document; ``JobDocumentError`` naming the bad field."""
    try:
        parsed = JobDocument.from_json(doc)
    except WireError as error:
        raise JobDocumentError(str(error)) from None
    purpose = parsed.purpose
    spec_type = job_entry(purpose).spec_type
    source = f"job field 'spec' (a {spec_type.__name__})"
    try:
        spec = spec_type.from_json(parsed.spec, source=source)
    except (ValueError, TypeError) as error:
        message = str(error)
        raise JobDocumentError(message if source in message else f"{source}: {message}") from error
    return purpose, spec


def rebase_job(doc: Mapping[str, Any], run_root: Path) -> dict[str, str]:
    """The same job run in ``run_root`` (this node's own run directory) instead of the submitter's."""
    purpose, spec = decode_job(doc)
    # Through the spec's own JSON, so the spec type checks the moved spec as it checks any.
    fields = {**json.loads(spec.to_json()), "run_root": str(Path(run_root).resolve())}
    moved = job_entry(purpose).spec_type.from_json(json.dumps(fields), source=f"job {purpose} rebased")
    return encode_job(purpose, moved)


def job_inputs(purpose: str) -> tuple[str, ...]:
    """The run folders a worker fetches before running a job of ``purpose``: "models", "selfplay"."""
    try:
        return job_entry(purpose).inputs
    except ValueError as error:
        raise JobDocumentError(str(error)) from None


def job_outputs(purpose: str) -> tuple[str, ...]:
    """The run folders a job of ``purpose`` publishes into: all a worker uploads afterwards."""
    try:
        return job_entry(purpose).outputs
    except ValueError as error:
        raise JobDocumentError(str(error)) from None
