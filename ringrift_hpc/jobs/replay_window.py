"""The replay window: which published selfplay shards a training job reads.

The window holds the newest `window_size(N)` of all `N` published samples of a variant,
growing sub-linearly with `N` once past `min_samples` (KataGo's rule, `ReplayWindow`). Shards
are taken whole, newest generation first (task name breaks ties), until the window is
covered, so the oldest shard taken may overshoot it by less than one shard.

Reading the run directory (`scan_shards`) quarantines what fails verification and reports
it; choosing the window (`select_window`) is a pure function; a window that would mix
encoder or codec versions is refused (`check_versions`), never silently mixed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringrift_hpc.config.learning import ReplayWindow
from ringrift_hpc.data.shard_store import list_shards
from ringrift_hpc.store import Published, RunLayout, quarantine


class ReplayWindowError(ValueError):
    """The run's shards cannot form a usable training window."""


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
class ShardScan:
    """What a variant's selfplay directories hold: usable shards and what was quarantined."""

    shards: tuple[ShardEntry, ...]
    quarantined: tuple[str, ...]  # "<path>: <reason>" per artifact moved aside

    @property
    def total_samples(self) -> int:
        return sum(shard.samples for shard in self.shards)


def window_size(total_samples: int, window: ReplayWindow) -> int:
    """Samples the window holds when `total_samples` exist (KataGo's sub-linear growth)."""
    if total_samples <= window.min_samples:
        return total_samples
    c, alpha = window.min_samples, window.exponent
    grown = c * (1.0 + window.growth * ((total_samples / c) ** alpha - 1.0) / alpha)
    return min(int(grown), window.max_samples, total_samples)


def select_window(shards: tuple[ShardEntry, ...], size: int) -> tuple[ShardEntry, ...]:
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


def scan_shards(layout: RunLayout, variant: str) -> ShardScan:
    """Every verified shard of `variant`; corrupt ones are quarantined and reported."""
    root = layout.selfplay_root(variant)
    generations = (
        sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name.isdigit()) if root.is_dir() else []
    )
    shards: list[ShardEntry] = []
    quarantined: list[str] = []
    for name in generations:
        listing = list_shards(layout, variant, int(name))
        quarantined.extend(f"{record.original}: {record.reason}" for record in listing.quarantined)
        for published in listing.shards:
            try:
                shards.append(_entry(published, variant))
            except ReplayWindowError as error:
                record = quarantine(layout, published.path, str(error))
                quarantined.append(f"{record.original}: {record.reason}")
    return ShardScan(tuple(shards), tuple(quarantined))


def _entry(published: Published, variant: str) -> ShardEntry:
    meta = published.manifest.metadata
    fix = "the shard's writer is broken: re-run its selfplay task"
    values: dict[str, Any] = {}
    for key, kind in (
        ("generation", int),
        ("positions", int),
        ("encoder_version", str),
        ("codec_version", str),
    ):
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ReplayWindowError(
                f"{published.manifest_path}: metadata field {key!r} is {value!r}, "
                f"expected a {kind.__name__}; {fix}"
            )
        values[key] = value
    if values["positions"] < 0:
        raise ReplayWindowError(f"{published.manifest_path}: metadata field 'positions' is negative; {fix}")
    if meta.get("variant") != variant or values["generation"] != int(published.path.parent.name):
        raise ReplayWindowError(
            f"{published.manifest_path}: metadata fields 'variant' {meta.get('variant')!r} and 'generation' "
            f"{values['generation']} disagree with the directory "
            f"({variant}, {published.path.parent.name}); {fix}"
        )
    return ShardEntry(
        path=published.path,
        generation=values["generation"],
        samples=values["positions"],
        encoder_version=values["encoder_version"],
        codec_version=values["codec_version"],
    )
