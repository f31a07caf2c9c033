"""A tiny run config for controller tests: square8 2p, an 8-channel one-block network, a few
games per task, a small training trigger and a short gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ringrift_hpc.config import parse_config
from ringrift_hpc.loop.run_init import init_run
from ringrift_hpc.store import RunLayout


def tiny_config_doc(executor: str = "local", *, generations: int = 2, name: str = "tiny") -> dict[str, Any]:
    return {
        "version": 1,
        "executor": executor,
        "run": {"name": name, "root": "unused", "variants": ["square8_2p"], "seed": 3},
        "local": {"max_parallel_jobs": 2, "threads_per_job": 1},
        "loop": {
            "tick_interval_s": 0.2,
            "max_job_retries": 2,
            "retry_backoff_s": 0.0,
            "max_generations": generations,
        },
        "network": {"channels": 8, "blocks": 1, "value_hidden": 8},
        "selfplay": {
            "simulations": 4,
            "gumbel_actions": 4,
            "games_per_task": 2,
            "tasks_in_flight": 2,
            "concurrent_games": 2,
            "device": "cpu",
            "bootstrap_player": "random",
        },
        "training": {
            "trigger_samples": 150,
            "min_steps": 4,
            "max_steps": 8,
            "batch_size": 16,
            "warmup_steps": 1,
            "checkpoint_every_steps": 4,
            "device": "cpu",
            "dataloader_workers": 0,
            "replay_window": {"min_samples": 200, "max_samples": 2000},
        },
        "evaluation": {
            "groups_per_task": 2,
            "tasks_per_batch": 1,
            "concurrent_games": 4,
            "device": "cpu",
            "tournament_every_generations": 1,
            "tournament_recent_bests": 2,
            "tournament_groups_per_pair": 1,
        },
        "promotion": {
            "sprt": {"elo0": 0, "elo1": 200, "alpha": 0.2, "beta": 0.2, "min_groups": 2, "max_groups": 4},
            "anchors": [{"player": "random", "groups": 2, "min_score": 0.0, "max_score_drop": 1.0}],
        },
        "curriculum": {"enabled": False},
        "metrics": {"enabled": True, "serve": False},
    }


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


def make_tiny_run(
    root: Path,
    executor: str = "local",
    *,
    generations: int = 2,
    name: str = "tiny",
    changes: dict[str, Any] | None = None,
) -> RunLayout:
    """Create a tiny run at `root`; `changes` are merged into the config document section by section."""
    doc = _merge(tiny_config_doc(executor, generations=generations, name=name), changes or {})
    config = parse_config(doc, source="tiny test config")
    return init_run(root, config, source="tiny test config").layout
