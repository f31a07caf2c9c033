"""What a job published on this node but never delivered to the coordinator, kept for its retry.

A job can publish into this node's run directory and then end without its upload: cancelled
(``halt --cancel``, a new term), failed after publishing, its upload refused or cut, the agent
stopping. Jobs are idempotent, so when the coordinator hands out the same job document again
and this node claims it, the job finds its results published and exits 0 making nothing: a
worker that uploads only what the run itself made would deliver nothing, and the run would wait
for those results forever. So the worker records such artifacts here, one file per job document
(``RUN/p2p/undelivered/<sha256 of the document>.json``, atomic, surviving an agent restart),
and the next successful run of that same document on this node delivers them with its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

from ringrift_hpc.p2p.wire import Names, WireModel, expected
from ringrift_hpc.store import RunLayout
from ringrift_hpc.store.atomic import atomic_write_json, fsync_dir

log = logging.getLogger(__name__)

UNDELIVERED_FORMAT: Final = "ringrift-hpc.p2p-undelivered"
UNDELIVERED_VERSION: Final = 1


class UndeliveredFile(WireModel):
    """The artifacts (manifest paths relative to RUN) that runs of ``job`` made here and did not deliver."""

    WHAT = "undelivered artifacts file"
    format: Literal["ringrift-hpc.p2p-undelivered"] = UNDELIVERED_FORMAT
    format_version: Literal[1] = UNDELIVERED_VERSION
    job: Annotated[dict[str, str], expected("an object of strings (a job document)")]
    paths: Names


def job_key(job: Mapping[str, str]) -> str:
    """The sha256 of a job document's canonical JSON: the same for every retry of one job."""
    return hashlib.sha256(json.dumps(dict(job), sort_keys=True).encode("utf-8")).hexdigest()


def record_file(layout: RunLayout, job: Mapping[str, str]) -> Path:
    return layout.root / "p2p" / "undelivered" / f"{job_key(job)}.json"


def recorded(layout: RunLayout, job: Mapping[str, str]) -> frozenset[str]:
    """The paths earlier runs of ``job`` on this node made and did not deliver (none: empty)."""
    path = record_file(layout, job)
    try:
        doc = UndeliveredFile.from_json(json.loads(path.read_bytes()), f"{path}: undelivered artifacts file")
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError) as problem:  # WireError, JSONDecodeError, UnicodeDecodeError
        # Written atomically, so something else changed it. Failing the job instead would fail
        # every retry of it too; the artifacts stay in this run directory for `sync` to push.
        log.warning("%s is unreadable, its artifacts are not delivered: %s", path, problem)
        return frozenset()
    if doc.job != dict(job):
        log.warning("%s names another job document than its name says; ignored", path)
        return frozenset()
    return frozenset(doc.paths)


def record(layout: RunLayout, job: Mapping[str, str], paths: Iterable[str]) -> None:
    """Add ``paths`` (made by a run of ``job`` that delivered nothing) to its record."""
    kept = recorded(layout, job) | set(paths)
    if kept:
        doc = UndeliveredFile(job=dict(job), paths=tuple(sorted(kept)))
        atomic_write_json(record_file(layout, job), doc.to_json())


def forget(layout: RunLayout, job: Mapping[str, str]) -> None:
    """Drop the record of ``job``: a run of it delivered all of it."""
    path = record_file(layout, job)
    if path.exists():
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
