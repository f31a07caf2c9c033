"""Bringing a checkpoint trained elsewhere into a run's model store, content-addressed.

The checkpoint must be loadable as the run would load it: made for the variant, by this encoder,
action codec and network architecture, with the run's `network` section (training continues
from the best, so a best of another size would stop the next training job). It is loaded in
full (header and weights) before anything is written, then published like a trained model:
`models/<sha256>.pt` plus its manifest, written last. Importing the same file again changes
nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ringrift_hpc.ai.checkpoint import CheckpointError, CheckpointHeader, load_checkpoint
from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config.variants import Variant
from ringrift_hpc.store import RunLayout, publish_bytes, read_manifest


class ModelImportError(ValueError):
    """A checkpoint that cannot become a model of this run; the message names the file and the fix."""


@dataclass(frozen=True)
class ImportedModel:
    """A model in the run's store, and whether this import added it."""

    model_id: str
    path: Path
    added: bool


def import_checkpoint(
    layout: RunLayout, variant: Variant, source: Path, network: NetConfig, *, imported_by: str
) -> ImportedModel:
    """Validate `source` against the run and publish it as a model of `variant` (module docstring);
    `imported_by` (who asked) goes into the manifest."""
    if not source.is_file():
        raise ModelImportError(f"{source} does not exist or is not a file; pass a checkpoint file (.pt)")
    expected = CheckpointHeader.current(variant.board, variant.players, network)
    try:
        load_checkpoint(source, expected)
    except CheckpointError as error:
        raise ModelImportError(
            f"{error}\n  fix: bring a checkpoint of {variant.name} trained with this code version and "
            f"the run's network section ({layout.run_config}), or start a run whose config matches it"
        ) from None
    data = source.read_bytes()
    model = hashlib.sha256(data).hexdigest()
    weights = layout.model_weights(variant.name, model)
    if layout.model_manifest(variant.name, model).exists():
        read_manifest(weights)  # already published: verified, never replaced
        return ImportedModel(model, weights, added=False)
    metadata = {
        "kind": "imported",
        "variant": variant.name,
        "source": str(source.resolve()),
        "imported_by": imported_by,
        "parent": None,
        "generation": None,
        "net_config": network.to_dict(),
        "encoder_version": expected.encoder_version,
        "codec_version": expected.codec_version,
        "architecture_version": expected.architecture_version,
    }
    publish_bytes(weights, data, metadata)
    return ImportedModel(model, weights, added=True)
