"""Network checkpoints: the weights plus everything needed to refuse a wrong reuse.

A checkpoint is one `torch.save` file holding a header (format, variant, encoder version, codec
version, architecture version, NetConfig) and the state dict. Loading uses
`torch.load(weights_only=True)`, compares the header field by field with what the caller
expects and refuses any difference, naming both sides and the file: the network is only ever
built from the expected config, never from whatever the file happens to contain. A model's id
is the sha256 of its file bytes.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ringrift_hpc.ai.codec import CODEC_VERSION
from ringrift_hpc.ai.encoding import ENCODER_VERSION
from ringrift_hpc.ai.net import ARCHITECTURE_VERSION, NetConfig, PolicyValueNet
from ringrift_hpc.store import sha256_file

FORMAT = "ringrift-hpc-checkpoint/1"


class CheckpointError(ValueError):
    """A file that cannot be used as the checkpoint asked for."""


class CheckpointMismatchError(CheckpointError):
    """A valid checkpoint made for another variant, encoder, codec, architecture or NetConfig."""


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint was made for; loading requires an exact match."""

    board: str
    num_players: int
    encoder_version: str
    codec_version: str
    architecture_version: str
    net_config: NetConfig

    @classmethod
    def current(cls, board: str, num_players: int, net_config: NetConfig) -> CheckpointHeader:
        """The header this code version writes (and expects) for a variant and NetConfig."""
        return cls(board, num_players, ENCODER_VERSION, CODEC_VERSION, ARCHITECTURE_VERSION, net_config)

    @classmethod
    def of(cls, net: PolicyValueNet) -> CheckpointHeader:
        return cls.current(net.board, net.num_players, net.config)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "board": self.board,
            "num_players": self.num_players,
            "encoder_version": self.encoder_version,
            "codec_version": self.codec_version,
            "architecture_version": self.architecture_version,
            "net_config": self.net_config.to_dict(),
        }


def checkpoint_bytes(net: PolicyValueNet) -> bytes:
    """The file content of a checkpoint of `net` (weights moved to CPU)."""
    payload = CheckpointHeader.of(net).to_dict()
    payload["state_dict"] = {key: value.detach().cpu() for key, value in net.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def model_id(path: Path) -> str:
    """The sha256 of a checkpoint file: the model's identity everywhere in a run."""
    return sha256_file(path)[1]


def _read_payload(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} is not a ringrift-hpc checkpoint: it holds Python objects other than tensors and "
            "plain containers, which torch.load(weights_only=True) refuses to unpickle"
        ) from exc
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a ringrift-hpc checkpoint: torch.load(weights_only=True) cannot read it "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a ringrift-hpc checkpoint: expected format {FORMAT!r}, found {found!r}"
        )
    return payload


def read_header(path: Path) -> CheckpointHeader:
    """The header of a checkpoint file, validated as far as its own structure goes."""
    return _header(path, _read_payload(path))


def _header(path: Path, payload: dict[str, Any]) -> CheckpointHeader:
    try:
        return CheckpointHeader(
            board=payload["board"],
            num_players=payload["num_players"],
            encoder_version=payload["encoder_version"],
            codec_version=payload["codec_version"],
            architecture_version=payload["architecture_version"],
            net_config=NetConfig.from_dict(payload["net_config"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has a damaged header: {exc}") from exc


def _differences(found: CheckpointHeader, expected: CheckpointHeader) -> list[str]:
    lines = []
    if (found.board, found.num_players) != (expected.board, expected.num_players):
        lines.append(
            f"variant: checkpoint {found.board} {found.num_players}p, "
            f"expected {expected.board} {expected.num_players}p"
        )
    for name in ("encoder_version", "codec_version", "architecture_version"):
        ours, theirs = getattr(found, name), getattr(expected, name)
        if ours != theirs:
            lines.append(f"{name}: checkpoint {ours!r}, expected {theirs!r}")
    if found.net_config != expected.net_config:
        # Every field, the auxiliary head flags too (`to_dict` leaves them out while off).
        ours_cfg, theirs_cfg = asdict(found.net_config), asdict(expected.net_config)
        changed = ", ".join(
            f"{key} {ours_cfg[key]} vs {theirs_cfg[key]}"
            for key in ours_cfg
            if ours_cfg[key] != theirs_cfg[key]
        )
        lines.append(f"net_config (checkpoint vs expected): {changed}")
    return lines


def load_checkpoint(path: Path, expected: CheckpointHeader) -> PolicyValueNet:
    """The network stored at `path`, built from `expected`; refuses any header difference."""
    payload = _read_payload(path)
    differences = _differences(_header(path, payload), expected)
    if differences:
        raise CheckpointMismatchError(
            f"refusing checkpoint {path}: it was made for something else\n  "
            + "\n  ".join(differences)
            + "\n  (a checkpoint is never converted silently; train a new network or load the matching one)"
        )
    net = PolicyValueNet(expected.net_config, expected.board, expected.num_players)
    try:
        net.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} has weights that do not fit its header: {exc}") from exc
    return net
