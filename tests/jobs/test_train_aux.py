"""Auxiliary ownership and score losses in the training job (tiny shards and network, CPU).

Checks: positive weights give the network its heads (from the config) and a spec asking for a
loss without its head is refused by name; a run with the weights reports finite auxiliary
losses in its result, manifest and metrics, and its candidate loads with the heads; with the
weights at 0 (the default) the auxiliary targets change nothing: training on shards with them
gives bit-identical weights to training on the same shards as format version 1 wrote them;
samples of version 1 shards get no auxiliary loss.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from train_data import BOARD, NET, PLAYERS, VARIANT, publish_shard, training

from ringrift_hpc.ai.checkpoint import CheckpointHeader, load_checkpoint
from ringrift_hpc.ai.net import NetConfig
from ringrift_hpc.config import Config
from ringrift_hpc.jobs.train import initial_net, run_training
from ringrift_hpc.jobs.train_spec import TrainSpec, TrainSpecError
from ringrift_hpc.store import RunLayout, read_manifest

AUX_NET = dataclasses.replace(NET, ownership_head=True, score_head=True)
WEIGHTS = {"aux_ownership_weight": 0.5, "aux_score_weight": 2.0}


def _root(tmp_path: Path, name: str, version: int = 2) -> Path:
    root = tmp_path / name
    publish_shard(root, 0, "t0", games=3, seed=1, version=version)
    publish_shard(root, 1, "t0", games=3, seed=2, version=version)
    return root


def _spec(root: Path, net: NetConfig, **section: object) -> TrainSpec:
    return TrainSpec(
        run_root=str(root.resolve()),
        variant=VARIANT,
        parent_model=None,
        generation=1,
        new_samples=40,
        network=net.to_dict(),
        training=training(**section).model_dump(mode="json"),
        seed=11,
        steps=6,
    )


def test_positive_weights_give_the_network_its_heads(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"network": {"channels": 8, "blocks": 1}, "training": {"batch_size": 8, "aux_score_weight": 1.0}}
    )
    spec = TrainSpec.from_config(
        config, run_root=tmp_path, variant=VARIANT, parent_model=None, generation=1, new_samples=4, seed=2
    )
    assert spec.net_config() == NetConfig.from_section(config.network, score_head=True)
    assert TrainSpec.from_json(spec.to_json()) == spec
    default = Config.model_validate({"network": {"channels": 8, "blocks": 1}})
    plain = TrainSpec.from_config(
        default, run_root=tmp_path, variant=VARIANT, parent_model=None, generation=1, new_samples=4, seed=2
    )
    assert "score_head" not in plain.network and "ownership_head" not in plain.network


def test_a_weight_without_its_head_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        TrainSpecError, match="training.aux_ownership_weight is 0.5 but network.ownership_head is off"
    ):
        _spec(tmp_path, NET, aux_ownership_weight=0.5)


def test_auxiliary_losses_are_trained_and_reported(tmp_path: Path) -> None:
    root = _root(tmp_path, "aux")
    result = run_training(_spec(root, AUX_NET, **WEIGHTS))
    losses = (
        result.train_ownership_loss,
        result.train_score_loss,
        result.validation_ownership_loss,
        result.validation_score_loss,
    )
    assert all(loss is not None and math.isfinite(loss) and loss > 0 for loss in losses)
    meta = read_manifest(Path(result.weights)).manifest.metadata
    assert meta["train_ownership_loss"] == result.train_ownership_loss
    assert meta["validation_score_loss"] == result.validation_score_loss
    assert meta["net_config"] == AUX_NET.to_dict()
    load_checkpoint(Path(result.weights), CheckpointHeader.current(BOARD, PLAYERS, AUX_NET))
    metrics = RunLayout(root).metrics_file(f"train-{VARIANT}").read_text()
    for name in ("ownership_loss", "score_loss", "validation_ownership_loss", "validation_score_loss"):
        assert f'ringrift_train_{name}{{variant="{VARIANT}"}}' in metrics


def test_version_1_samples_get_no_auxiliary_loss(tmp_path: Path) -> None:
    result = run_training(_spec(_root(tmp_path, "old", version=1), AUX_NET, **WEIGHTS))
    assert result.train_ownership_loss == result.train_score_loss == 0.0
    assert result.validation_ownership_loss == 0.0 and result.train_policy_loss > 0


def test_default_training_is_unchanged_by_the_auxiliary_targets(tmp_path: Path) -> None:
    new = run_training(_spec(_root(tmp_path, "v2"), NET))
    old = run_training(_spec(_root(tmp_path, "v1", version=1), NET))
    assert new.model_id == old.model_id  # bit-identical weights
    assert (new.train_policy_loss, new.validation_value_loss) == (
        old.train_policy_loss,
        old.validation_value_loss,
    )
    assert new.train_ownership_loss is None and new.validation_score_loss is None
    meta = read_manifest(Path(new.weights)).manifest.metadata
    assert not any("ownership" in key or "score" in key for key in meta)


def test_a_parent_without_the_heads_gets_them_and_one_with_them_loses_them(tmp_path: Path) -> None:
    """Turning the weights on or off within a run keeps the parent's trunk and main heads."""
    root = _root(tmp_path, "switch")
    plain = run_training(_spec(root, NET))
    child_spec = TrainSpec.model_validate(
        {**_spec(root, AUX_NET, **WEIGHTS).model_dump(), "parent_model": plain.model_id}
    )
    layout = RunLayout(root)
    parent = load_checkpoint(Path(plain.weights), CheckpointHeader.current(BOARD, PLAYERS, NET))
    start = initial_net(layout, child_spec)
    assert start.config == AUX_NET
    shared = parent.state_dict()
    assert all(torch.equal(value, start.state_dict()[key]) for key, value in shared.items())
    child = run_training(child_spec)
    assert child.train_ownership_loss is not None
    back = TrainSpec.model_validate({**_spec(root, NET).model_dump(), "parent_model": child.model_id})
    again = initial_net(layout, back)
    assert again.config == NET and set(again.state_dict()) == set(shared)
