"""Reading published shards from a run directory; nothing here moves or deletes a file.

A shard's manifest describes it (`describe_shard`: variant, generation, samples, encoder and
codec versions), so knowing what a shard holds never needs the shard itself. A shard is usable
when its manifest verifies (size, sha256: the store) and its content validates (`read_shard`).
What fails is reported to the caller as `ShardRejectedError`; only the controller quarantines
(`ringrift_hpc.loop.ingest`), so a job never moves a file another process is reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.data.shards import Shard, ShardFormatError, read_shard
from ringrift_hpc.store import (
    CorruptArtifactError,
    Published,
    Rejected,
    RunLayout,
    list_published,
    read_manifest,
)

SHARD_SUFFIX = ".h5"
_FIX = "the shard's writer is broken: re-run its selfplay task"
# The manifest metadata fields that describe a shard, and their types.
_TYPES: dict[str, type] = {"generation": int, "positions": int, "encoder_version": str, "codec_version": str}


class ShardRejectedError(ValueError):
    """A shard that cannot be used: `path` and the `reason` (naming the field and the fix)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class ShardEntry:
    """One published shard as its manifest describes it."""

    path: Path
    generation: int
    samples: int
    encoder_version: str
    codec_version: str

    @property
    def name(self) -> str:
        """`<generation>/<task>.h5`: the shard's name in provenance records."""
        return f"{self.path.parent.name}/{self.path.name}"


@dataclass(frozen=True)
class ShardListing:
    """The published shards of one generation directory, and the manifests that failed."""

    shards: tuple[Published, ...]
    rejected: tuple[Rejected, ...]  # a rejected manifest's path, with the reason


def list_shards(layout: RunLayout, variant: str, generation: int, *, verify: bool = True) -> ShardListing:
    """Published shards of a generation (manifest verified when `verify`) and rejected manifests."""
    listing = list_published(layout.selfplay_dir(variant, generation), verify=verify)
    shards = tuple(p for p in listing.published if p.path.suffix == SHARD_SUFFIX)
    return ShardListing(shards, listing.corrupt)


def load_shard(path: Path, *, variant: str) -> Shard:
    """Verify the manifest of the published shard `path` and read it with this code's encoder
    and codec versions; `ShardRejectedError` on any failure."""
    try:
        read_manifest(path, verify=True)
        return read_shard(
            path, expect_encoder=ENCODER_VERSION, expect_codec=CODEC_VERSION, expect_variant=variant
        )
    except (CorruptArtifactError, ShardFormatError) as error:
        raise ShardRejectedError(path, str(error)) from error


def describe_shard(published: Published, variant: str) -> ShardEntry:
    """The shard's entry from its manifest's metadata, which selfplay writes for this purpose.

    A manifest without the fields (written before they were recorded) is answered by reading
    the shard once. Metadata that contradicts the directory is `ShardRejectedError`.
    """
    meta = published.manifest.metadata
    if not all(key in meta for key in ("variant", *_TYPES)):
        return _entry_from_content(published.path, variant)
    values: dict[str, Any] = {}
    for key, kind in _TYPES.items():
        value = meta[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ShardRejectedError(
                published.path,
                f"{published.manifest_path}: metadata field {key!r} is {value!r}, "
                f"expected a {kind.__name__}; {_FIX}",
            )
        values[key] = value
    if values["positions"] < 0:
        raise ShardRejectedError(
            published.path, f"{published.manifest_path}: metadata field 'positions' is negative; {_FIX}"
        )
    if meta["variant"] != variant or values["generation"] != int(published.path.parent.name):
        raise ShardRejectedError(
            published.path,
            f"{published.manifest_path}: metadata fields 'variant' {meta['variant']!r} and 'generation' "
            f"{values['generation']} disagree with the directory "
            f"({variant}, {published.path.parent.name}); {_FIX}",
        )
    return ShardEntry(
        path=published.path,
        generation=values["generation"],
        samples=values["positions"],
        encoder_version=values["encoder_version"],
        codec_version=values["codec_version"],
    )


def _entry_from_content(path: Path, variant: str) -> ShardEntry:
    try:
        shard = read_shard(
            path, expect_encoder=ENCODER_VERSION, expect_codec=CODEC_VERSION, expect_variant=variant
        )
    except ShardFormatError as error:
        raise ShardRejectedError(path, str(error)) from error
    if shard.header.generation != int(path.parent.name):
        raise ShardRejectedError(
            path,
            f"{path}: field 'generation': is {shard.header.generation}, the directory says "
            f"{path.parent.name}; {_FIX}",
        )
    return ShardEntry(
        path=path,
        generation=shard.header.generation,
        samples=shard.samples,
        encoder_version=shard.header.encoder_version,
        codec_version=shard.header.codec_version,
    )
