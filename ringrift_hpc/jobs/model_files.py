"""A run's model files, found by id and checked against it; no torch, so `promote` starts fast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ringrift_hpc.store import RunLayout, sha256_file


def run_model_file(layout: RunLayout, variant: str) -> Callable[[str], Path]:
    """Where a run keeps a variant's model, checked to hold exactly the weights its id names."""

    def find(model: str) -> Path:
        path = layout.model_weights(variant, model)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: {variant} has no model {model}; name a model of this variant "
                f"(its models lie in {layout.models_dir(variant)})"
            )
        _, found = sha256_file(path)
        if found != model:
            raise ValueError(
                f"{path} has sha256 {found}, not {model}: a model file is named by its content; "
                "the file was modified, so re-publish the model"
            )
        return path

    return find
