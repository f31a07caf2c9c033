"""`RunLayout`: every path of the run directory (DESIGN.md §4), derived from its root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ringrift_hpc.store.errors import UnsafePathError
from ringrift_hpc.store.names import (
    check_component,
    check_generation,
    check_model_id,
    check_variant,
)


@dataclass(frozen=True)
class RunLayout:
    """Path arithmetic for one run root; no I/O.

    Every name that comes from outside (variant, model id, generation, evaluation id, task,
    metric or request name) is validated, so a derived path always lies under `root`.
    """

    root: Path

    def __post_init__(self) -> None:
        # abspath, not resolve(): a symlinked run root stays as the user named it.
        object.__setattr__(self, "root", Path(os.path.abspath(self.root)))

    @property
    def run_config(self) -> Path:
        """Frozen copy of the config the run was started with."""
        return self.root / "run.yaml"

    @property
    def halt(self) -> Path:
        """Present = halted; the reason is inside."""
        return self.root / "HALT"

    @property
    def lease(self) -> Path:
        """The controller's singleton lease."""
        return self.root / "controller.lease"

    @property
    def fence_dir(self) -> Path:
        """One file per lease acquisition: the persisted, monotonic fencing-token counter."""
        return self.root / "controller.fence"

    @property
    def journal(self) -> Path:
        """Append-only controller events."""
        return self.root / "journal.jsonl"

    @property
    def state(self) -> Path:
        """Controller snapshot, atomically replaced."""
        return self.root / "state.json"

    @property
    def replay_snapshot(self) -> Path:
        """The fold of the journal's first records, a restart's cache (`loop.replay_snapshot`)."""
        return self.root / "replay_snapshot.json"

    @property
    def requests_dir(self) -> Path:
        """Commands from CLI users that the controller applies."""
        return self.root / "requests"

    @property
    def variants_dir(self) -> Path:
        return self.root / "variants"

    @property
    def jobs_dir(self) -> Path:
        """submitit folders: logs and pickles."""
        return self.root / "jobs"

    @property
    def metrics_dir(self) -> Path:
        """Prometheus textfiles."""
        return self.root / "metrics"

    @property
    def quarantine_dir(self) -> Path:
        """Unreadable artifacts moved aside, each with its reason."""
        return self.root / "quarantine"

    @property
    def report_dir(self) -> Path:
        """The run report: `index.html` and its chart images (`ringrift-hpc report`)."""
        return self.root / "report"

    def request_file(self, name: str) -> Path:
        return self.requests_dir / f"{check_component(name, what='request name')}.json"

    def metrics_file(self, name: str) -> Path:
        return self.metrics_dir / f"{check_component(name, what='metrics name')}.prom"

    def variant_dir(self, variant: str) -> Path:
        return self.variants_dir / check_variant(variant)

    def models_dir(self, variant: str) -> Path:
        return self.variant_dir(variant) / "models"

    def model_weights(self, variant: str, model_id: str) -> Path:
        return self.models_dir(variant) / f"{check_model_id(model_id)}.pt"

    def model_manifest(self, variant: str, model_id: str) -> Path:
        """The model's manifest, which carries its metadata (net config, codec, parent, ...)."""
        return self.models_dir(variant) / f"{check_model_id(model_id)}.json"

    def best(self, variant: str) -> Path:
        """Pointer to the promoted model."""
        return self.variant_dir(variant) / "best.json"

    def promotions(self, variant: str) -> Path:
        """Promotion, rejection and rollback history (JSONL)."""
        return self.variant_dir(variant) / "promotions.jsonl"

    def selfplay_root(self, variant: str) -> Path:
        return self.variant_dir(variant) / "selfplay"

    def selfplay_dir(self, variant: str, generation: int) -> Path:
        # Zero-padded so that a plain sort of the directory names is generation order.
        return self.selfplay_root(variant) / f"{check_generation(generation):06d}"

    def selfplay_shard(self, variant: str, generation: int, task: str) -> Path:
        return self.selfplay_dir(variant, generation) / f"{check_component(task, what='task')}.h5"

    def matches_root(self, variant: str) -> Path:
        return self.variant_dir(variant) / "matches"

    def matches_dir(self, variant: str, eval_id: str) -> Path:
        return self.matches_root(variant) / check_component(eval_id, what="evaluation id")

    def match_file(self, variant: str, eval_id: str, task: str) -> Path:
        return self.matches_dir(variant, eval_id) / f"{check_component(task, what='task')}.jsonl"

    def match_manifest(self, variant: str, eval_id: str, task: str) -> Path:
        return self.matches_dir(variant, eval_id) / f"{check_component(task, what='task')}.json"

    def leaderboard_json(self, variant: str) -> Path:
        return self.variant_dir(variant) / "leaderboard.json"

    def leaderboard_md(self, variant: str) -> Path:
        return self.variant_dir(variant) / "leaderboard.md"

    def leaderboard_csv(self, variant: str) -> Path:
        return self.variant_dir(variant) / "leaderboard.csv"

    def relative(self, path: Path) -> Path:
        """`path` relative to the root; `UnsafePathError` if it lies outside."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root)
        except ValueError:
            raise UnsafePathError(
                f"{absolute} is outside the run directory {self.root}; pass a path under the run root"
            ) from None
