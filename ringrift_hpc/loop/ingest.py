"""Finding newly published artifacts of a variant, verifying them, and quarantining bad ones.

`scan_variant` returns journal records (``ingested`` and ``quarantined``) for every artifact
not yet in `ingested`: selfplay shards (manifest verified and content validated), candidate
models (manifest verified) and match files (manifest verified and decoded). Files without a
manifest are left alone (their writer may still be running). Ingesting is idempotent: the
caller journals the records, and the paths they name are skipped on every later scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ringrift_hpc.data.shard_store import SHARD_SUFFIX, ShardQuarantinedError, load_shard
from ringrift_hpc.rating.match_files import ARTIFACT_SUFFIX, MatchFileError, decode_match_file
from ringrift_hpc.rating.records import MatchGroup, MatchRecordError
from ringrift_hpc.store import (
    CorruptArtifactError,
    NotPublishedError,
    RunLayout,
    list_published,
    quarantine,
    read_manifest,
)

MODEL_SUFFIX = ".pt"


def _subdirs(root: Path) -> list[Path]:
    return sorted(entry for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []


def _quarantined(layout: RunLayout, variant: str, path: Path, reason: str) -> dict[str, Any]:
    target = path if path.exists() else path.with_suffix(".json")
    record = quarantine(layout, target, reason)
    return {"event": "quarantined", "variant": variant, "path": record.original, "reason": record.reason}


def _new(
    layout: RunLayout, directory: Path, suffix: str, ingested: frozenset[str]
) -> Iterator[Path | tuple[Path, str]]:
    """Unseen published artifacts of `directory` with `suffix`; (path, reason) for a bad manifest."""
    listing = list_published(directory, verify=False)
    for rejected in listing.corrupt:
        yield rejected.path.with_suffix(suffix), rejected.reason
    for published in listing.published:
        if published.path.suffix == suffix and str(layout.relative(published.path)) not in ingested:
            yield published.path


def scan_variant(layout: RunLayout, variant: str, ingested: frozenset[str]) -> list[dict[str, Any]]:
    """Journal records for every new artifact of `variant` (see the module docstring)."""
    records: list[dict[str, Any]] = []
    for directory in _subdirs(layout.selfplay_root(variant)):
        for item in _new(layout, directory, SHARD_SUFFIX, ingested):
            if isinstance(item, tuple):
                records.append(_quarantined(layout, variant, *item))
                continue
            try:
                shard = load_shard(layout, item, variant=variant)
            except ShardQuarantinedError as error:
                records.append(
                    {
                        "event": "quarantined",
                        "variant": variant,
                        "path": error.record.original,
                        "reason": error.record.reason,
                    }
                )
                continue
            except NotPublishedError:
                continue
            records.append(
                {
                    "event": "ingested",
                    "artifact": "shard",
                    "variant": variant,
                    "path": str(layout.relative(item)),
                    "samples": shard.samples,
                    "generation": int(directory.name),
                }
            )
    for item in _new(layout, layout.models_dir(variant), MODEL_SUFFIX, ingested):
        if isinstance(item, tuple):
            records.append(_quarantined(layout, variant, *item))
            continue
        try:
            meta = read_manifest(item, verify=True).manifest.metadata
        except CorruptArtifactError as error:
            records.append(_quarantined(layout, variant, item, str(error)))
            continue
        except NotPublishedError:
            continue
        records.append(
            {
                "event": "ingested",
                "artifact": "model",
                "variant": variant,
                "path": str(layout.relative(item)),
                "model_id": item.stem,
                "job_key": meta.get("job_key"),
                "generation": meta.get("generation"),
            }
        )
    for directory in _subdirs(layout.matches_root(variant)):
        for item in _new(layout, directory, ARTIFACT_SUFFIX, ingested):
            if isinstance(item, tuple):
                records.append(_quarantined(layout, variant, *item))
                continue
            try:
                read_manifest(item, verify=True)
                groups = decode_match_file(item, item.read_bytes(), variant=variant)
            except (CorruptArtifactError, MatchFileError, MatchRecordError) as error:
                records.append(_quarantined(layout, variant, item, str(error)))
                continue
            except NotPublishedError:
                continue
            records.append(
                {
                    "event": "ingested",
                    "artifact": "match",
                    "variant": variant,
                    "path": str(layout.relative(item)),
                    "eval_id": directory.name,
                    "groups": len(groups),
                }
            )
    return records


def evaluation_groups(
    layout: RunLayout, variant: str, eval_id: str, ingested: frozenset[str]
) -> tuple[MatchGroup, ...]:
    """The groups of the evaluation's ingested match files, in task order."""
    groups: list[MatchGroup] = []
    directory = layout.matches_dir(variant, eval_id)
    for published in list_published(directory, verify=False).published:
        path = published.path
        if path.suffix == ARTIFACT_SUFFIX and str(layout.relative(path)) in ingested:
            groups.extend(decode_match_file(path, path.read_bytes(), variant=variant))
    return tuple(groups)
