"""Small run directories for the sync tests: artifacts of every kind and the pointer files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ringrift_hpc.store import RunLayout, publish_bytes
from ringrift_hpc.store.atomic import atomic_write_bytes

VARIANT = "square8_2p"
MODEL = hashlib.sha256(b"weights").hexdigest()
HISTORY = b'{"decision": "promote", "model_id": "' + MODEL.encode() + b'"}\n'


def empty_run(root: Path) -> RunLayout:
    """A run directory as `init` leaves it, as far as sync cares (run.yaml present)."""
    layout = RunLayout(root)
    root.mkdir(parents=True, exist_ok=True)
    layout.run_config.write_text("# test run\n")
    return layout


def sample_run(root: Path) -> RunLayout:
    """One model (the best), one selfplay shard, one match file, the history and a leaderboard."""
    layout = empty_run(root)
    publish_bytes(layout.model_weights(VARIANT, MODEL), b"weights", {"generation": 1})
    publish_bytes(layout.selfplay_shard(VARIANT, 3, "task-0"), b"shard" * 1000, {"games": 4})
    publish_bytes(layout.match_file(VARIANT, "eval-1", "task-0"), b'{"game": 1}\n')
    atomic_write_bytes(layout.promotions(VARIANT), HISTORY)
    atomic_write_bytes(layout.best(VARIANT), json.dumps({"model_id": MODEL}).encode())
    atomic_write_bytes(layout.leaderboard_json(VARIANT), b"{}\n")
    atomic_write_bytes(layout.leaderboard_md(VARIANT), b"| rank |\n")
    return layout


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes), hidden temp files included."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
