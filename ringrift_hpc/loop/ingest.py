"""Finding newly published artifacts of a variant, verifying them, and quarantining bad ones.

The controller is the only caller, so this is the only place that quarantines (jobs report what
they could not read, and the controller moves it here). `ArtifactIndex.scan` returns journal
events (``ingested`` and ``quarantined``) for every artifact not yet ingested: selfplay shards
(manifest and sha256 verified; what the shard holds is read from its manifest, so the shard is
hashed but never decoded here), candidate models (manifest verified; a shard their training
job reported unreadable is read once and quarantined if it fails here too) and match files
(manifest verified and decoded). Files without a manifest are left alone (their writer may
still be running). Ingesting is idempotent: the caller journals the events and folds them into
the index, and the paths they name are skipped on every later scan; the index lists only
directories that changed, so a tick costs what is new, not what the run holds, and it keeps the
decoded match files for the evaluations and the rating refit. `ShardIndex` is the controller's
record of the usable ingested shards, the one source of the training window.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.data.shard_store import (
    SHARD_SUFFIX,
    ShardEntry,
    ShardRejectedError,
    describe_shard,
    load_shard,
)
from ringrift_hpc.jobs.replay_window import ReplayWindowError, check_versions
from ringrift_hpc.jobs.train import REJECTED_SHARDS
from ringrift_hpc.loop.events import (
    Event,
    MatchIngested,
    ModelIngested,
    Quarantined,
    ShardIngested,
    UnknownEvent,
)
from ringrift_hpc.rating.match_files import ARTIFACT_SUFFIX, MatchCache, MatchFileError, decode_match_file
from ringrift_hpc.rating.records import MatchGroup, MatchRecordError
from ringrift_hpc.store import (
    CorruptArtifactError,
    NotPublishedError,
    RunLayout,
    UnsafePathError,
    list_published,
    quarantine,
    read_manifest,
)
from ringrift_hpc.store.publish import MANIFEST_SUFFIX, Listing

MODEL_SUFFIX = ".pt"
SETTLE_S = 10.0  # a directory changed more recently than this is listed again (see ArtifactIndex)

log = logging.getLogger(__name__)


def _subdirs(root: Path) -> list[Path]:
    return sorted(entry for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []


def _quarantined(layout: RunLayout, variant: str, path: Path, reason: str) -> list[Quarantined]:
    """The journal event of quarantining `path` (or its manifest when the file is gone); none
    when both are gone already (moved by someone else since they were listed)."""
    target = path if path.exists() else path.with_suffix(".json")
    try:
        record = quarantine(layout, target, reason)
    except FileNotFoundError:
        return []
    return [Quarantined(variant=variant, path=record.original, reason=record.reason)]


def _shard(variant: str, path: Path) -> tuple[ShardEntry, Mapping[str, Any]]:
    """The verified shard's entry and its manifest's metadata (`ShardRejectedError`,
    `NotPublishedError`)."""
    try:
        published = read_manifest(path, verify=True)
        entry = describe_shard(published, variant)
        check_versions((entry,), encoder_version=ENCODER_VERSION, codec_version=CODEC_VERSION)
    except (CorruptArtifactError, ReplayWindowError) as error:
        raise ShardRejectedError(path, str(error)) from error
    return entry, published.manifest.metadata


def _games(meta: Mapping[str, Any]) -> int | None:
    games = meta.get("games")
    return games if isinstance(games, int) and not isinstance(games, bool) and games >= 0 else None


def _cpu(meta: Mapping[str, Any]) -> dict[str, float]:
    """The ``cpu_seconds`` field of an ingested record: the manifest's, when it records a finite,
    non-negative number (an artifact published before jobs measured it has none)."""
    value = meta.get("cpu_seconds")
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return {"cpu_seconds": float(value)}
    return {}


def _reported(layout: RunLayout, variant: str, model: str, meta: Mapping[str, Any]) -> list[Quarantined]:
    """Quarantine events of the shards that the training job of `model` could not read.

    Each report is confirmed by reading the shard here (the only time the controller decodes a
    shard): a job's own copy may be damaged where the run's is not (a P2P worker's replica).
    """
    records: list[Quarantined] = []
    for item in meta.get(REJECTED_SHARDS) or ():
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)):
            continue  # not what a training job writes: nothing to act on
        name, reason = item
        try:
            path = layout.root / layout.relative(layout.root / name)
        except UnsafePathError:
            continue
        if path.suffix != SHARD_SUFFIX or path.parent.parent != layout.selfplay_root(variant):
            continue  # not a shard of this variant
        if not path.exists():
            continue  # quarantined already
        try:
            shard = load_shard(path, variant=variant)
            described = describe_shard(read_manifest(path, verify=False), variant)
            if shard.samples != described.samples:
                raise ShardRejectedError(
                    path, f"{path}: holds {shard.samples} samples but its manifest says {described.samples}"
                )
        except ShardRejectedError as error:
            why = f"the training of model {model} could not read it, nor can the controller: {error.reason}"
            records.extend(_quarantined(layout, variant, path, why))
            continue
        log.warning("%s: the training of model %s could not read it (%s); it reads here", path, model, reason)
    return records


class Lister(Protocol):
    """How a directory's artifacts are listed: `list_published`, or a test's stand-in for a shared
    filesystem that shows files late (tests/loop/lagged_fs.py)."""

    def __call__(self, directory: Path, *, verify: bool = ..., skip: Container[str] = ...) -> Listing: ...


class ArtifactIndex:
    """The artifacts the controller ingested (folded from its journal events) and the
    directories it need not list again.

    A directory is listed only when it may hold something new: its mtime differs from that of
    its last settled listing. A listing settles when it found nothing pending (no temp file, no
    artifact without its manifest, none that vanished while read) and the directory had not
    changed for `SETTLE_S` before it: a file added within the same timestamp granule as the
    listing leaves the mtime as it was, so a fresh directory is listed again until it is old
    (this assumes the file server's clock is within `SETTLE_S` of this host's). A listing never
    reads the manifest of an artifact ingested already.
    """

    def __init__(
        self, layout: RunLayout, *, clock: Callable[[], float] = time.time, listing: Lister = list_published
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.listing = listing
        self.ingested: set[str] = set()  # artifact paths relative to the run root
        # directory (relative to the run root) -> manifest names of its ingested artifacts
        self._known: dict[str, set[str]] = {}
        self._settled: dict[Path, int] = {}  # directory -> mtime (ns) at its last settled listing
        self.matches = MatchCache()
        # variant -> evaluation id -> its ingested match files
        self._match_files: dict[str, dict[str, set[Path]]] = {}

    def apply(self, event: Event | UnknownEvent) -> None:
        if isinstance(event, (ShardIngested, ModelIngested, MatchIngested)):
            self.remember(event.path)
        if isinstance(event, MatchIngested):
            evaluation = self._match_files.setdefault(event.variant, {}).setdefault(event.eval_id, set())
            evaluation.add(self.layout.root / event.path)

    def memory(self) -> dict[str, Any]:
        """What `apply` folded, as JSON: the replay snapshot's copy (`restore` reads it back)."""
        skip = len(str(self.layout.root)) + 1  # string operations: a run holds 10^5 match files
        return {
            "ingested": sorted(self.ingested),
            "match_files": {
                variant: {e: sorted(str(p)[skip:] for p in files) for e, files in evals.items()}
                for variant, evals in self._match_files.items()
            },
        }

    def restore(self, memory: Mapping[str, Any]) -> None:
        """Remember what `memory` (from `memory`) holds, as if its events were applied."""
        for path in memory["ingested"]:
            self.remember(path)
        for variant, evals in memory["match_files"].items():
            for eval_id, files in evals.items():
                self._match_files.setdefault(variant, {})[eval_id] = {self.layout.root / p for p in files}

    def evaluation_groups(self, variant: str, eval_id: str) -> tuple[MatchGroup, ...]:
        """The groups of the evaluation's ingested match files, in task order."""
        files = sorted(self._match_files.get(variant, {}).get(eval_id, ()))
        return tuple(group for path in files for group in self.matches.groups(path, variant))

    def match_groups(self, variant: str) -> tuple[MatchGroup, ...]:
        """The groups of every ingested match file of `variant`, by evaluation id, then task."""
        evaluations = sorted(self._match_files.get(variant, {}))
        return tuple(group for eval_id in evaluations for group in self.evaluation_groups(variant, eval_id))

    def remember(self, path: str) -> None:
        """Count the artifact at `path` (relative to the run root) as ingested."""
        self.ingested.add(path)
        # String operations, not Path ones: a restart remembers every artifact of the run.
        directory, _, name = path.rpartition("/")
        self._known.setdefault(directory, set()).add(name.rpartition(".")[0] + MANIFEST_SUFFIX)

    def scan(self, variant: str) -> list[Event]:
        """Journal events for every new artifact of `variant` (see the module docstring)."""
        records: list[Event] = []
        for directory in _subdirs(self.layout.selfplay_root(variant)):
            records += self._scan_dir(variant, directory, SHARD_SUFFIX, self._shard_events)
        records += self._scan_dir(variant, self.layout.models_dir(variant), MODEL_SUFFIX, self._model_events)
        for directory in _subdirs(self.layout.matches_root(variant)):
            records += self._scan_dir(variant, directory, ARTIFACT_SUFFIX, self._match_events)
        return records

    def _scan_dir(
        self, variant: str, directory: Path, suffix: str, read: Callable[[str, Path], list[Event]]
    ) -> list[Event]:
        try:
            mtime = directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if self._settled.get(directory) == mtime:
            return []
        known = self._known.get(str(self.layout.relative(directory)), set())
        listing = self.listing(directory, verify=False, skip=known)
        records: list[Event] = []
        for rejected in listing.corrupt:
            records += _quarantined(self.layout, variant, rejected.path.with_suffix(suffix), rejected.reason)
        pending = bool(listing.unmanifested or listing.temp_files)
        for published in listing.published:
            if published.path.suffix != suffix:
                continue
            try:
                records += read(variant, published.path)
            except NotPublishedError:
                pending = True  # moved or not yet whole: look again next tick
        if not pending and mtime <= (self.clock() - SETTLE_S) * 1e9:
            self._settled[directory] = mtime
        else:
            self._settled.pop(directory, None)
        return records

    def _shard_events(self, variant: str, item: Path) -> list[Event]:
        try:
            shard, meta = _shard(variant, item)
        except ShardRejectedError as error:
            return [*_quarantined(self.layout, variant, item, error.reason)]
        path = str(self.layout.relative(item))
        generation = int(item.parent.name)
        return [
            ShardIngested(
                variant=variant, path=path, samples=shard.samples, generation=generation, games=_games(meta)
            ).model_copy(update=_cpu(meta))
        ]

    def _model_events(self, variant: str, item: Path) -> list[Event]:
        try:
            meta = read_manifest(item, verify=True).manifest.metadata
        except CorruptArtifactError as error:
            return [*_quarantined(self.layout, variant, item, str(error))]
        job_key, generation = meta.get("job_key"), meta.get("generation")
        return [
            *_reported(self.layout, variant, item.stem, meta),
            ModelIngested(
                variant=variant,
                path=str(self.layout.relative(item)),
                model_id=item.stem,
                # A model from elsewhere (no training job of this run) may lack both.
                job_key=job_key if isinstance(job_key, str) else None,
                generation=generation
                if isinstance(generation, int) and not isinstance(generation, bool)
                else None,
            ).model_copy(update={**_losses(meta), **_cpu(meta)}),
        ]

    def _match_events(self, variant: str, item: Path) -> list[Event]:
        try:
            meta = read_manifest(item, verify=True).manifest.metadata
            groups = decode_match_file(item, item.read_bytes(), variant=variant)
        except (CorruptArtifactError, MatchFileError, MatchRecordError) as error:
            return [*_quarantined(self.layout, variant, item, str(error))]
        self.matches.add(item, groups)  # verified and decoded here: the refit need not decode it again
        path = str(self.layout.relative(item))
        match = MatchIngested(variant=variant, path=path, eval_id=item.parent.name, groups=len(groups))
        return [match.model_copy(update=_cpu(meta))]


_LOSSES = ("train_policy_loss", "train_value_loss", "validation_policy_loss", "validation_value_loss")


def _losses(meta: Mapping[str, Any]) -> dict[str, float]:
    """The finite training losses a model's manifest records (a model from elsewhere may have none)."""
    found = {key: meta.get(key) for key in _LOSSES}
    return {
        key: float(value)
        for key, value in found.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }


def scan_variant(layout: RunLayout, variant: str, ingested: Iterable[str]) -> list[Event]:
    """A full scan: what an index that remembers nothing but the `ingested` paths finds."""
    index = ArtifactIndex(layout)
    for path in ingested:
        index.remember(path)
    return index.scan(variant)


@dataclass
class ShardIndex:
    """The usable ingested shards of every variant, folded from the controller's journal events:
    an ingested shard joins, a quarantined one leaves. Paths are relative to the run root."""

    # variant -> shard path -> (generation, samples)
    shards: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    def apply(self, event: Event | UnknownEvent) -> None:
        if isinstance(event, ShardIngested):
            self.shards.setdefault(event.variant, {})[event.path] = (event.generation, event.samples)
        elif isinstance(event, Quarantined):
            self.shards.get(event.variant, {}).pop(event.path, None)

    def entries(self, layout: RunLayout, variant: str) -> tuple[ShardEntry, ...]:
        """The variant's shards, with the encoder and codec versions ingest admits (this code's;
        the training job checks the window's manifests again before it reads them)."""
        return tuple(
            ShardEntry(layout.root / path, generation, samples, ENCODER_VERSION, CODEC_VERSION)
            for path, (generation, samples) in sorted(self.shards.get(variant, {}).items())
        )
