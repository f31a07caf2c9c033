"""Training samples of a replay window: loading, validation split, batches with random symmetry.

The window's samples are held in memory, bounded by a cap: when the window holds more than
`cap` samples a uniform random subset of `cap` is kept (the planes are float16, about 3.7 KB
per square8 sample, so 500k samples take about 2 GB). Streaming from the shards is left for
windows that do not fit.

Positions of one game are strongly correlated, so the validation split holds out whole games.
Every random choice is derived from a seed and the step, never from global state, so a resumed
job draws exactly the batches the uninterrupted job would have drawn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.symmetry import symmetries, transform_planes
from ringrift_hpc.data.shard_store import ShardRejectedError, load_shard
from ringrift_hpc.data.shards import Shard
from ringrift_hpc.store import RunLayout


class NoSamplesError(ValueError):
    """A window without a single usable sample."""


# Distinct streams of one seed, so that e.g. the split never correlates with the subsample.
_SUBSAMPLE, _SPLIT, _ORDER, _SYMMETRY = 1, 2, 3, 4


@dataclass(frozen=True)
class SampleSet:
    """Samples in memory; the policy targets and legal moves as CSR lists over codec indices."""

    planes: np.ndarray  # [N, C, H, W] float16
    scalars: np.ndarray  # [N, S] float32
    policy_offsets: np.ndarray  # [N+1] int64
    policy_indices: np.ndarray  # [M] int32
    policy_probs: np.ndarray  # [M] float32
    legal_offsets: np.ndarray  # [N+1] int64
    legal_indices: np.ndarray  # [L] int32
    values: np.ndarray  # [N, num_players] float32, slot 0 = player to move
    game_keys: np.ndarray  # [N] int64: one key per (shard, game) of the set
    ownership: np.ndarray  # [N, H, W] int8 (shards.py); zeros where `has_aux` is False
    score: np.ndarray  # [N, 2, num_players] float32; zeros where `has_aux` is False
    has_aux: np.ndarray  # [N] bool: the sample has auxiliary targets (format 2 shards)

    @property
    def samples(self) -> int:
        return int(self.planes.shape[0])


@dataclass(frozen=True)
class LoadedWindow:
    """The samples of a window and where they came from."""

    data: SampleSet
    provenance: tuple[tuple[str, int], ...]  # ("<generation>/<task>.h5", samples kept) per shard read
    rejected: tuple[tuple[str, str], ...]  # (path relative to the run root, reason) per unusable shard
    missing: tuple[str, ...]  # paths relative to the run root of shards gone since the window was chosen


@dataclass(frozen=True)
class Batch:
    """Tensors of one batch; the policy target is sparse: (row, col, prob) triples."""

    planes: torch.Tensor  # [B, C, H, W] float32
    scalars: torch.Tensor  # [B, S] float32
    legal: torch.Tensor  # [B, policy_size] bool
    target_rows: torch.Tensor  # [M] int64
    target_cols: torch.Tensor  # [M] int64
    target_probs: torch.Tensor  # [M] float32
    values: torch.Tensor  # [B, num_players] float32
    ownership: torch.Tensor  # [B, H, W] int64 class labels (shards.py)
    score: torch.Tensor  # [B, 2, num_players] float32
    has_aux: torch.Tensor  # [B] bool: which samples the auxiliary losses count

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(getattr(self, name).to(device, non_blocking=True) for name in self.__dataclass_fields__)
        )


def load_window(
    layout: RunLayout, shards: Sequence[tuple[Path, int]], *, variant: str, cap: int, seed: int
) -> LoadedWindow:
    """Read the window's shards, given as (path, samples its manifest records), keeping a
    uniform random `cap` of their samples at most.

    A shard that fails validation (or holds another sample count than its manifest says) is
    rejected with the reason, a shard already gone is reported missing; the others are used, and
    the subsample is the same whichever of them fail. Nothing is moved: the caller reports the
    rejected shards and the controller quarantines them. No usable sample at all is an error.
    """
    counts = np.array([samples for _, samples in shards], dtype=np.int64)
    total = int(counts.sum())
    starts = np.concatenate(([0], np.cumsum(counts)))
    if total > cap:
        chosen = np.sort(np.random.default_rng([seed, _SUBSAMPLE]).choice(total, size=cap, replace=False))
    else:
        chosen = np.arange(total)
    parts: list[SampleSet] = []
    provenance: list[tuple[str, int]] = []
    rejected: list[tuple[str, str]] = []
    missing: list[str] = []
    for i, (path, samples) in enumerate(shards):
        rows = chosen[(chosen >= starts[i]) & (chosen < starts[i + 1])] - starts[i]
        name = layout.relative(path).as_posix()
        if not path.exists():
            missing.append(name)
            continue
        try:
            shard = load_shard(path, variant=variant)
        except ShardRejectedError as error:
            rejected.append((name, error.reason))
            continue
        if shard.samples != samples:
            # The manifest's count placed the subsample; a shard that disagrees is corrupt.
            rejected.append((name, f"{path}: holds {shard.samples} samples but its manifest says {samples}"))
            continue
        if rows.size:
            parts.append(_take(shard, rows, shard_index=i))
        provenance.append((f"{path.parent.name}/{path.name}", int(rows.size)))
    if not parts:
        raise NoSamplesError(
            f"the replay window of {variant} holds no usable sample ({len(shards)} shard(s), "
            f"{len(rejected)} rejected, {len(missing)} missing); run selfplay before training"
            + "".join(f"\n  {name}: {reason}" for name, reason in rejected)
        )
    return LoadedWindow(_concatenate(parts), tuple(provenance), tuple(rejected), tuple(missing))


def _take_csr(offsets: np.ndarray, columns: Sequence[np.ndarray], rows: np.ndarray) -> list[np.ndarray]:
    """New offsets, then each column's entries, of the CSR rows `rows` in that order."""
    lengths = offsets[rows + 1] - offsets[rows]
    new_offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    # Entry positions: each row's start repeated over its length, plus the position within it.
    within = np.arange(int(new_offsets[-1]), dtype=np.int64) - np.repeat(new_offsets[:-1], lengths)
    positions = np.repeat(offsets[rows], lengths) + within
    return [new_offsets, *(column[positions] for column in columns)]


def _take(shard: Shard, rows: np.ndarray, *, shard_index: int) -> SampleSet:
    policy_offsets, policy_indices, policy_probs = _take_csr(
        shard.policy_offsets, (shard.policy_indices, shard.policy_probs), rows
    )
    legal_offsets, legal_indices = _take_csr(shard.legal_offsets, (shard.legal_indices,), rows)
    n = shard.header.num_players
    if shard.ownership is None or shard.score is None:
        # A version 1 shard: no auxiliary targets, so these samples get no auxiliary loss.
        ownership = np.zeros((rows.size, *shard.planes.shape[2:]), dtype=np.int8)
        score = np.zeros((rows.size, 2, n), dtype=np.float32)
        has_aux = np.zeros(rows.size, dtype=bool)
    else:
        ownership, score, has_aux = shard.ownership[rows], shard.score[rows], np.ones(rows.size, dtype=bool)
    return SampleSet(
        planes=shard.planes[rows],
        scalars=shard.scalars[rows],
        policy_offsets=policy_offsets,
        policy_indices=policy_indices,
        policy_probs=policy_probs,
        legal_offsets=legal_offsets,
        legal_indices=legal_indices,
        values=shard.values[rows],
        game_keys=(np.int64(shard_index) << 32) + shard.game[rows].astype(np.int64),
        ownership=ownership,
        score=score,
        has_aux=has_aux,
    )


def _concatenate(parts: Sequence[SampleSet]) -> SampleSet:
    def offsets(name: str) -> np.ndarray:
        arrays = [getattr(part, name) for part in parts]
        shifts = np.cumsum([0] + [int(a[-1]) for a in arrays[:-1]])
        return np.concatenate([arrays[0][:1]] + [a[1:] + shift for a, shift in zip(arrays, shifts)])

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return SampleSet(
        planes=joined("planes"),
        scalars=joined("scalars"),
        policy_offsets=offsets("policy_offsets"),
        policy_indices=joined("policy_indices"),
        policy_probs=joined("policy_probs"),
        legal_offsets=offsets("legal_offsets"),
        legal_indices=joined("legal_indices"),
        values=joined("values"),
        game_keys=joined("game_keys"),
        ownership=joined("ownership"),
        score=joined("score"),
        has_aux=joined("has_aux"),
    )


def split_by_game(game_keys: np.ndarray, fraction: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): about `fraction` of the games, whole, are held out.

    With at least two games and a positive fraction, at least one game is held out and at
    least one is trained on.
    """
    games = np.unique(game_keys)
    held = round(fraction * games.size)
    if fraction > 0 and games.size >= 2:
        held = min(max(held, 1), games.size - 1)
    validation_games = np.random.default_rng([seed, _SPLIT]).permutation(games)[:held]
    is_validation = np.isin(game_keys, validation_games)
    return np.flatnonzero(~is_validation), np.flatnonzero(is_validation)


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, _ORDER, epoch]).permutation(n)


def step_rows(rows: np.ndarray, *, step: int, batch_size: int, seed: int) -> np.ndarray:
    """The global batch of optimizer step `step`: consecutive slices of per-epoch permutations.

    A pure function of its arguments, so a resumed job continues the same data order.
    """
    n = rows.size
    positions = step * batch_size + np.arange(batch_size, dtype=np.int64)
    epochs = positions // n
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        mask = epochs == epoch
        out[mask] = rows[_permutation(seed, int(epoch), n)[positions[mask] % n]]
    return out


def symmetry_choices(board: str, count: int, *, seed: int, step: int, rank: int) -> np.ndarray:
    """A uniformly random symmetry index per sample of one rank's batch at one step."""
    rng = np.random.default_rng([seed, _SYMMETRY, step, rank])
    return rng.integers(0, len(symmetries(board)), size=count)


def make_batch(data: SampleSet, rows: np.ndarray, codec: ActionCodec, sym_ids: np.ndarray | None) -> Batch:
    """The samples `rows`, each moved by its symmetry `sym_ids[i]` (None: as stored)."""
    planes = data.planes[rows].astype(np.float32)
    ownership = data.ownership[rows].astype(np.int64)
    policy_offsets, policy_indices, policy_probs = _take_csr(
        data.policy_offsets, (data.policy_indices, data.policy_probs), rows
    )
    legal_offsets, legal_indices = _take_csr(data.legal_offsets, (data.legal_indices,), rows)
    policy_rows = np.repeat(np.arange(rows.size), np.diff(policy_offsets))
    legal_rows = np.repeat(np.arange(rows.size), np.diff(legal_offsets))
    policy_cols = policy_indices.astype(np.int64)
    legal_cols = legal_indices.astype(np.int64)
    if sym_ids is not None:
        for sym in symmetries(codec.board):
            if sym.index == 0:
                continue
            selected = sym_ids == sym.index
            if not selected.any():
                continue
            planes[selected] = transform_planes(sym, planes[selected])
            ownership[selected] = transform_planes(sym, ownership[selected])
            table = codec.symmetry_table(sym.index)
            moved = selected[policy_rows]
            policy_cols[moved] = table[policy_cols[moved]]
            moved = selected[legal_rows]
            legal_cols[moved] = table[legal_cols[moved]]
    legal = torch.zeros((rows.size, codec.size), dtype=torch.bool)
    legal[torch.from_numpy(legal_rows), torch.from_numpy(legal_cols)] = True
    return Batch(
        planes=torch.from_numpy(planes),
        scalars=torch.from_numpy(data.scalars[rows].astype(np.float32)),
        legal=legal,
        target_rows=torch.from_numpy(policy_rows.astype(np.int64)),
        target_cols=torch.from_numpy(policy_cols),
        target_probs=torch.from_numpy(policy_probs.astype(np.float32)),
        values=torch.from_numpy(data.values[rows].astype(np.float32)),
        ownership=torch.from_numpy(ownership),
        score=torch.from_numpy(data.score[rows].astype(np.float32)),
        has_aux=torch.from_numpy(data.has_aux[rows]),
    )
