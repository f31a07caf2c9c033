"""Reading published shards from a run directory; a shard that fails is quarantined, not skipped.

A shard is usable when its manifest verifies (size, sha256: the store) and its content
validates (`read_shard`: attributes, shapes, offsets, probabilities, values). Anything else is
moved to the run's quarantine with the reason and reported to the caller as
`ShardQuarantinedError`, so a bad file is never silently dropped and never read twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.data.shards import Shard, ShardFormatError, read_shard
from ringrift_hpc.store import (
    CorruptArtifactError,
    Published,
    QuarantineRecord,
    RunLayout,
    list_published,
    quarantine,
    read_manifest,
)

SHARD_SUFFIX = ".h5"


class ShardQuarantinedError(ValueError):
    """The shard failed verification and was moved to quarantine (see `record`)."""

    def __init__(self, record: QuarantineRecord) -> None:
        self.record = record
        super().__init__(f"{record.original} was quarantined to {record.entry}: {record.reason}")


@dataclass(frozen=True)
class ShardListing:
    """The published shards of one generation directory and what was quarantined on the way."""

    shards: tuple[Published, ...]
    quarantined: tuple[QuarantineRecord, ...]


def list_shards(layout: RunLayout, variant: str, generation: int) -> ShardListing:
    """Published shards of a generation (manifest verified); corrupt ones are quarantined."""
    listing = list_published(layout.selfplay_dir(variant, generation))
    quarantined = tuple(
        quarantine(layout, _shard_of(rejected.path), rejected.reason) for rejected in listing.corrupt
    )
    shards = tuple(p for p in listing.published if p.path.suffix == SHARD_SUFFIX)
    return ShardListing(shards, quarantined)


def _shard_of(manifest: Path) -> Path:
    """The shard a rejected manifest belongs to (quarantining it takes the manifest along), or
    the manifest alone when no shard sits next to it."""
    shard = manifest.with_suffix(SHARD_SUFFIX)
    return shard if shard.exists() else manifest


def load_shard(layout: RunLayout, path: Path, *, variant: str) -> Shard:
    """Verify the manifest of the published shard `path` and read it with this code's encoder
    and codec versions; on any failure quarantine it and raise `ShardQuarantinedError`."""
    try:
        read_manifest(path, verify=True)
        return read_shard(
            path, expect_encoder=ENCODER_VERSION, expect_codec=CODEC_VERSION, expect_variant=variant
        )
    except (CorruptArtifactError, ShardFormatError) as error:
        raise ShardQuarantinedError(quarantine(layout, path, str(error))) from error
