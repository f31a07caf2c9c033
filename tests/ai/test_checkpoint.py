"""Checkpoints: identical round trips, sha256 model ids, and refusal of every mismatch with its message."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch
from tiny_nets import TINY, write_checkpoint

from ringrift_hpc.ai import checkpoint
from ringrift_hpc.ai.checkpoint import (
    CheckpointError,
    CheckpointHeader,
    CheckpointMismatchError,
    load_checkpoint,
    model_id,
    read_header,
)
from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION, encoder_shape
from ringrift_hpc.ai.net import ARCHITECTURE_VERSION, NetConfig, PolicyValueNet

BOARD, PLAYERS = "hex8", 3
FIX = "  (a checkpoint is never converted silently; train a new network or load the matching one)"


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, PolicyValueNet]:
    torch.manual_seed(3)
    net = PolicyValueNet(TINY, BOARD, PLAYERS)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "models" / "candidate.pt"
    write_checkpoint(path, net)
    return path, net.eval()


def expected(**changes: object) -> CheckpointHeader:
    return dataclasses.replace(CheckpointHeader.current(BOARD, PLAYERS, TINY), **changes)  # type: ignore[arg-type]


def test_round_trip_gives_identical_outputs(saved: tuple[Path, PolicyValueNet]) -> None:
    path, net = saved
    loaded = load_checkpoint(path, expected()).eval()
    shape = encoder_shape(BOARD, PLAYERS)
    planes = torch.randn(5, shape.planes, shape.height, shape.width)
    scalars = torch.randn(5, shape.scalars)
    with torch.inference_mode():
        for ours, theirs in zip(net(planes, scalars), loaded(planes, scalars), strict=True):
            assert torch.equal(ours, theirs)
    assert (loaded.board, loaded.num_players, loaded.config) == (BOARD, PLAYERS, TINY)


def test_model_id_is_the_sha256_of_the_file(tmp_path: Path) -> None:
    net = PolicyValueNet(TINY, BOARD, PLAYERS)
    path = tmp_path / "model.pt"
    returned = write_checkpoint(path, net)
    assert returned == model_id(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert write_checkpoint(tmp_path / "again.pt", net) == returned, "same weights, same id"
    with torch.no_grad():
        next(net.parameters()).add_(1.0)
    assert write_checkpoint(tmp_path / "other.pt", net) != returned


def test_header_records_what_the_checkpoint_was_made_for(saved: tuple[Path, PolicyValueNet]) -> None:
    path, _ = saved
    assert read_header(path) == CheckpointHeader(
        BOARD, PLAYERS, ENCODER_VERSION, CODEC_VERSION, ARCHITECTURE_VERSION, TINY
    )


@pytest.mark.parametrize(
    ("changes", "difference"),
    [
        ({"board": "square8"}, "variant: checkpoint hex8 3p, expected square8 3p"),
        ({"num_players": 2}, "variant: checkpoint hex8 3p, expected hex8 2p"),
        (
            {"encoder_version": "enc-next"},
            f"encoder_version: checkpoint {ENCODER_VERSION!r}, expected 'enc-next'",
        ),
        (
            {"codec_version": "codec-next"},
            f"codec_version: checkpoint {CODEC_VERSION!r}, expected 'codec-next'",
        ),
        (
            {"architecture_version": "arch-next"},
            f"architecture_version: checkpoint {ARCHITECTURE_VERSION!r}, expected 'arch-next'",
        ),
        (
            {"net_config": dataclasses.replace(TINY, channels=16, blocks=3)},
            "net_config (checkpoint vs expected): channels 8 vs 16, blocks 2 vs 3",
        ),
    ],
)
def test_mismatch_refuses_naming_both_sides_and_the_file(
    saved: tuple[Path, PolicyValueNet], changes: dict[str, object], difference: str
) -> None:
    path, _ = saved
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, expected(**changes))
    assert str(info.value) == (
        f"refusing checkpoint {path}: it was made for something else\n  {difference}\n{FIX}"
    )


def test_every_difference_is_listed(saved: tuple[Path, PolicyValueNet]) -> None:
    path, _ = saved
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, expected(board="square19", codec_version="codec-next"))
    assert str(info.value).splitlines()[1:3] == [
        "  variant: checkpoint hex8 3p, expected square19 3p",
        f"  codec_version: checkpoint {CODEC_VERSION!r}, expected 'codec-next'",
    ]


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_bytes(b"these are not weights\n")
    with pytest.raises(
        CheckpointError,
        match=r"notes\.pt is not a ringrift-hpc checkpoint: torch\.load\(weights_only=True\) cannot read it",
    ):
        load_checkpoint(path, expected())


def test_a_bare_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.pt"
    torch.save(PolicyValueNet(TINY, BOARD, PLAYERS).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, expected())
    assert str(info.value) == (
        f"{path} is not a ringrift-hpc checkpoint: expected format {checkpoint.FORMAT!r}, found None"
    )


class Payload:
    """Any class: weights_only loading must refuse to unpickle it."""


def test_loading_is_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "pickle.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        read_header(path)
    assert str(info.value) == (
        f"{path} is not a ringrift-hpc checkpoint: it holds Python objects other than tensors and "
        "plain containers, which torch.load(weights_only=True) refuses to unpickle"
    )


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, expected())
    assert str(info.value) == f"checkpoint {path} does not exist"


def test_a_damaged_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pt"
    header = expected().to_dict()
    header["net_config"] = {"channels": 8}
    torch.save(header, path)
    with pytest.raises(
        CheckpointError, match=r"checkpoint .*damaged\.pt has a damaged header: NetConfig keys"
    ):
        read_header(path)


def test_weights_that_do_not_fit_the_header_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "grafted.pt"
    payload = expected().to_dict()
    payload["state_dict"] = PolicyValueNet(NetConfig(channels=8, blocks=1), BOARD, PLAYERS).state_dict()
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"grafted\.pt has weights that do not fit its header"):
        load_checkpoint(path, expected())


def test_auxiliary_heads_round_trip_and_are_part_of_the_header(tmp_path: Path) -> None:
    aux = dataclasses.replace(TINY, ownership_head=True, score_head=True)
    torch.manual_seed(4)
    net = PolicyValueNet(aux, BOARD, PLAYERS).eval()
    path = tmp_path / "aux.pt"
    write_checkpoint(path, net)
    assert read_header(path).net_config == aux
    loaded = load_checkpoint(path, CheckpointHeader.current(BOARD, PLAYERS, aux)).eval()
    shape = encoder_shape(BOARD, PLAYERS)
    planes = torch.randn(2, shape.planes, shape.height, shape.width)
    scalars = torch.randn(2, shape.scalars)
    with torch.inference_mode():
        _, _, ours = net(planes, scalars, aux=True)
        _, _, theirs = loaded(planes, scalars, aux=True)
    assert ours.ownership is not None and theirs.ownership is not None
    assert torch.equal(ours.ownership, theirs.ownership)
    assert ours.score is not None and theirs.score is not None
    assert torch.equal(ours.score, theirs.score)
    with pytest.raises(
        CheckpointMismatchError, match="ownership_head True vs False, score_head True vs False"
    ):
        load_checkpoint(path, expected())
