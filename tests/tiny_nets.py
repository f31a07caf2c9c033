"""Tiny networks for tests: one config, its seeded checkpoints, and models published into a run.

Importable from every test directory: pytest puts `tests/` (where the root conftest.py lives)
on `sys.path`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ringrift_hpc.ai.checkpoint import checkpoint_bytes
from ringrift_hpc.ai.net import NetConfig, PolicyValueNet
from ringrift_hpc.store import RunLayout

# Two blocks, so both a plain residual block and a global-pooling block are exercised.
TINY = NetConfig(
    channels=8,
    blocks=2,
    gpool_every=2,
    gpool_channels=4,
    policy_channels=4,
    nonspatial_hidden=8,
    value_channels=4,
    value_hidden=8,
)


def tiny_checkpoint(seed: int, board: str = "square8", players: int = 2) -> bytes:
    """The checkpoint file of a `TINY` network initialised from `seed`."""
    torch.manual_seed(seed)
    return checkpoint_bytes(PolicyValueNet(TINY, board, players))


def write_checkpoint(path: Path, net: PolicyValueNet) -> str:
    """Write the checkpoint file of `net` to `path`; return its model id."""
    data = checkpoint_bytes(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def publish_model(root: Path, variant: str, data: bytes) -> str:
    """Write `data` as the run's model file of `variant`, named by its sha256; return that id."""
    model = hashlib.sha256(data).hexdigest()
    path = RunLayout(root).model_weights(variant, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return model
