"""Deterministic seeds: a task's seed from (run seed, variant, generation, task index), a game's
seed from its task's seed and its number in the task.

Seeds are sha256 digests of a readable key, cut to 63 bits so they fit HDF5 int64 and JSON; the
same key gives the same seed on every machine and Python version (no `hash()`, no global RNG).
A game replays from the seed in its shard or manifest alone: its random generator is
`game_rng(seed)`.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK_63 = (1 << 63) - 1


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") & _MASK_63


def task_seed(run_seed: int, variant: str, generation: int, task_index: int) -> int:
    """The seed of one selfplay task."""
    return _digest(f"ringrift-selfplay/{run_seed}/{variant}/{generation}/{task_index}")


def game_seed(task: int, game_index: int) -> int:
    """The seed of game `game_index` (0-based) of the task whose seed is `task`."""
    return _digest(f"ringrift-game/{task}/{game_index}")


def game_rng(seed: int) -> np.random.Generator:
    """The generator a game draws every random choice from (search noise, openings, ties)."""
    return np.random.default_rng(seed)
