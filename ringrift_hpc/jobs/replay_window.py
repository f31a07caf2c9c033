"""The replay window: which published selfplay shards a training job reads.

The window holds the newest `window_size(N)` of all `N` ingested samples of a variant,
growing sub-linearly with `N` once past `min_samples` (KataGo's rule, `ReplayWindow`). Shards
are taken whole, newest generation first (task name breaks ties), until the window is
covered, so the oldest shard taken may overshoot it by less than one shard.

The controller chooses the window from its record of ingested shards (`choose_window`) and
names it in the training spec (`Window`), so a job never lists directories to learn what it
trains on. A job run without a controller chooses from the published shards' manifests
(`published_shards`). Choosing is a pure function; a window that would mix encoder or codec
versions is refused (`check_versions`), never silently mixed. Nothing here moves a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ringrift_hpc.config.learning import ReplayWindow
from ringrift_hpc.data.shard_store import ShardEntry, ShardRejectedError, describe_shard, list_shards
from ringrift_hpc.store import RunLayout


class ReplayWindowError(ValueError):
    """The run's shards cannot form a usable training window."""


@dataclass(frozen=True)
class Window:
    """A chosen window: its shards as (path relative to the run root, samples), newest first."""

    shards: tuple[tuple[str, int], ...]
    total_samples: int  # of the variant when the window was chosen
    window_samples: int  # what the sub-linear rule asked for

    def to_doc(self) -> dict[str, Any]:
        return {
            "shards": [[path, samples] for path, samples in self.shards],
            "total_samples": self.total_samples,
            "window_samples": self.window_samples,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], *, source: str) -> Window:
        """Parse `to_doc` output; a bad field is `ReplayWindowError` naming `source` and the field."""
        fix = "the window is written by the controller: resubmit the training job from the controller"
        shards = doc.get("shards")
        if not isinstance(shards, list) or not all(
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and type(item[1]) is int
            and item[1] >= 0
            for item in shards
        ):
            raise ReplayWindowError(
                f"{source}: field 'shards' is {shards!r}; expected a list of [path, samples]; {fix}"
            )
        counts = {}
        for key in ("total_samples", "window_samples"):
            value = doc.get(key)
            if type(value) is not int or value < 0:
                raise ReplayWindowError(f"{source}: field {key!r} is {value!r}; expected a count; {fix}")
            counts[key] = value
        unknown = sorted(set(doc) - {"shards", "total_samples", "window_samples"})
        if unknown:
            raise ReplayWindowError(f"{source}: unknown field(s) {', '.join(unknown)}; {fix}")
        return cls(tuple((path, samples) for path, samples in shards), **counts)


@dataclass(frozen=True)
class PublishedShards:
    """What a variant's selfplay directories hold by their manifests: usable and rejected shards."""

    shards: tuple[ShardEntry, ...]
    rejected: tuple[tuple[str, str], ...]  # (path relative to the run root, reason)


def window_size(total_samples: int, window: ReplayWindow) -> int:
    """Samples the window holds when `total_samples` exist (KataGo's sub-linear growth)."""
    if total_samples <= window.min_samples:
        return total_samples
    c, alpha = window.min_samples, window.exponent
    grown = c * (1.0 + window.growth * ((total_samples / c) ** alpha - 1.0) / alpha)
    return min(int(grown), window.max_samples, total_samples)


def select_window(shards: Iterable[ShardEntry], size: int) -> tuple[ShardEntry, ...]:
    """The newest shards covering `size` samples, newest first."""
    newest_first = sorted(shards, key=lambda s: (s.generation, s.path.name), reverse=True)
    chosen: list[ShardEntry] = []
    covered = 0
    for shard in newest_first:
        if covered >= size:
            break
        chosen.append(shard)
        covered += shard.samples
    return tuple(chosen)


def choose_window(layout: RunLayout, shards: Iterable[ShardEntry], replay: ReplayWindow) -> Window:
    """The window of `shards` (all of a variant's usable shards) under the rule `replay`."""
    entries = tuple(shards)
    total = sum(shard.samples for shard in entries)
    size = window_size(total, replay)
    chosen = select_window(entries, size)
    return Window(tuple((layout.relative(s.path).as_posix(), s.samples) for s in chosen), total, size)


def check_versions(shards: tuple[ShardEntry, ...], *, encoder_version: str, codec_version: str) -> None:
    """Refuse a window holding data of another encoder or codec version, naming every such shard."""
    wrong = [
        f"{shard.path}: encoder_version {shard.encoder_version!r}, codec_version {shard.codec_version!r}"
        for shard in shards
        if (shard.encoder_version, shard.codec_version) != (encoder_version, codec_version)
    ]
    if wrong:
        raise ReplayWindowError(
            f"refusing to train on {len(wrong)} shard(s) made by another encoder or codec (this code "
            f"writes encoder_version {encoder_version!r}, codec_version {codec_version!r}):\n  "
            + "\n  ".join(wrong)
            + "\n  data of different versions is never mixed; regenerate it with this version's selfplay "
            "or train with the ringrift-hpc version that wrote it"
        )


def published_shards(layout: RunLayout, variant: str, *, verify: bool = True) -> PublishedShards:
    """Every published shard of `variant` by its manifest; what fails is rejected, not moved."""
    root = layout.selfplay_root(variant)
    generations = (
        sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name.isdigit()) if root.is_dir() else []
    )
    shards: list[ShardEntry] = []
    rejected: list[tuple[str, str]] = []
    for name in generations:
        listing = list_shards(layout, variant, int(name), verify=verify)
        rejected.extend((layout.relative(r.path).as_posix(), r.reason) for r in listing.rejected)
        for published in listing.shards:
            try:
                shards.append(describe_shard(published, variant))
            except ShardRejectedError as error:
                rejected.append((layout.relative(error.path).as_posix(), error.reason))
    return PublishedShards(tuple(shards), tuple(rejected))
