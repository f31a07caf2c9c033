"""The policy/value network: one pre-activation residual family with global pooling.

The trunk is a stem convolution followed by pre-activation residual blocks (BN, ReLU, 3x3 conv,
twice); every `gpool_every`-th block adds a KataGo-style global pooling bias: a few channels
are pooled over the board and turned into a per-channel bias, so a block can react to
whole-board facts (ring counts, who is ahead) that a stack of 3x3 convolutions sees late.

Hex boards are embedded in a square grid. Cells outside the board never influence the output:
the input is multiplied by the valid-cell mask, every activation is re-masked before each
convolution (so invalid cells act like zero padding) and every pooling is a masked mean and
max over the valid cells only.

Heads:

* policy: a 1x1 convolutional head emitting one logit plane per spatial action plane of the
  codec, flattened as `plane*H*W + row*W + col`, followed by a small MLP on pooled features
  for the codec's non-spatial choices; together exactly `codec.size` logits in index order;
* value: one value per seat in [-1, 1], RELATIVE to the player to move (slot 0 = the player to
  move, slot k = the k-th seat after it in turn order), trained on `outcome_values`;
* optional training-only auxiliary heads (`NetConfig.ownership_head`, `score_head`; KataGo's
  dense targets, `ai.aux_targets`), both reading the value head's features so that what they
  teach reaches the value: ownership, a 1x1 convolution giving per cell logits over {none, slot
  0, ..., slot N-1}; score, an MLP on the pooled value features giving [2, N] shares in [0, 1].
  Only `forward(..., aux=True)` computes them; search (`legal_forward`, `ai.fused`) never does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ringrift_hpc.ai.aux_targets import SCORE_MEASURES
from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.encoding import board_grid, encoder_shape
from ringrift_hpc.ai.fused import FusedNet, fuse, fused_heads
from ringrift_hpc.config.learning import NetworkSection

# Bumped whenever the module structure changes in a way a NetConfig does not describe.
ARCHITECTURE_VERSION = "preact-resnet-gpool/1"

# NetConfig's flags of the training-only auxiliary heads.
AUX_HEADS = ("ownership_head", "score_head")
# What a masked log-probability reads: finite, so `0 * log_prob` in a cross-entropy is 0, not NaN.
MASKED_LOGIT = -1.0e9
_POOL_FILL = -1.0e4


@dataclass(frozen=True)
class NetConfig:
    """Everything that fixes the network's parameters besides the variant; stored in checkpoints."""

    channels: int = 64
    blocks: int = 6
    gpool_every: int = 3  # blocks 3, 6, 9, ... (1-based) carry a global pooling bias
    gpool_channels: int = 16
    policy_channels: int = 32
    nonspatial_hidden: int = 64
    value_channels: int = 32
    value_hidden: int = 128
    # Training-only auxiliary heads; absent from `to_dict` while off, so a network without them
    # has the same checkpoint header as before they existed.
    ownership_head: bool = False
    score_head: bool = False

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in AUX_HEADS:
                if type(value) is not bool:
                    raise ValueError(f"NetConfig.{field.name} must be a bool, got {value!r}")
            elif type(value) is not int or value < 1:
                raise ValueError(f"NetConfig.{field.name} must be a positive int, got {value!r}")

    @classmethod
    def from_section(
        cls, section: NetworkSection, *, ownership_head: bool = False, score_head: bool = False
    ) -> NetConfig:
        """The config's `network` section; the head widths follow the trunk width. The auxiliary
        heads are asked for by training (a positive loss weight), not by the section."""
        head = max(8, section.channels // 2)
        return cls(
            channels=section.channels,
            blocks=section.blocks,
            gpool_channels=max(8, section.channels // 4),
            policy_channels=head,
            nonspatial_hidden=max(16, section.channels),
            value_channels=head,
            value_hidden=section.value_hidden,
            ownership_head=ownership_head,
            score_head=score_head,
        )

    def to_dict(self) -> dict[str, int | bool]:
        return {key: value for key, value in asdict(self).items() if key not in AUX_HEADS or value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        """Inverse of `to_dict`; unknown or missing keys are errors, not defaults (the auxiliary
        head flags alone may be missing: off)."""
        expected = {field.name for field in fields(cls)}
        required = expected - set(AUX_HEADS)
        if not required <= set(data) <= expected:
            missing = sorted(required - set(data))
            unknown = sorted(set(data) - expected)
            raise ValueError(f"NetConfig keys do not match: missing {missing}, unknown {unknown}")
        return cls(**data)


def absolute_values(relative: np.ndarray, to_move: np.ndarray) -> np.ndarray:
    """[B, N] values with slot k = k-th seat after the mover -> [B, N] in seat order (index 0 = seat 1).

    `to_move` holds each row's seat to move (1..N): seat s reads slot (s - to_move) mod N.
    """
    n = relative.shape[1]
    slots = (np.arange(n)[None, :] - (to_move[:, None] - 1)) % n
    return np.take_along_axis(relative, slots, axis=1)


def relative_values(absolute: np.ndarray, to_move: np.ndarray) -> np.ndarray:
    """Inverse of `absolute_values`: seat-order values (e.g. `outcome_values`) as the net's targets."""
    n = absolute.shape[1]
    seats = (np.arange(n)[None, :] + (to_move[:, None] - 1)) % n
    return np.take_along_axis(absolute, seats, axis=1)


def mask_illegal(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """`logits` with entries where the boolean `legal` is False set to the dtype's most negative finite value.

    Finite rather than -inf (as in mctx) so that a row with no legal action stays finite.
    """
    return logits.masked_fill(~legal, torch.finfo(logits.dtype).min)


def masked_softmax(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to legal actions: illegal entries are exactly 0."""
    return torch.softmax(mask_illegal(logits, legal), dim=-1) * legal


def masked_log_softmax(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the legal actions; illegal entries read `MASKED_LOGIT` (clamped to the dtype)."""
    log_probs = torch.log_softmax(mask_illegal(logits, legal), dim=-1)
    return log_probs.masked_fill(~legal, max(MASKED_LOGIT, torch.finfo(logits.dtype).min))


def masked_pool(x: torch.Tensor, valid: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 2C]: mean and max over the cells where the bool `valid` is True."""
    mean = (x * valid).sum(dim=(2, 3)) / count
    peak = x.masked_fill(~valid, _POOL_FILL).amax(dim=(2, 3))
    return torch.cat((mean, peak), dim=1)


class CellMask(nn.Module):
    """The board's valid cells in the grid: zeroes the rest and pools over the valid ones only."""

    valid: torch.Tensor  # [1, 1, H, W] bool
    count: torch.Tensor  # [1, 1] float: number of valid cells

    def __init__(self, valid: np.ndarray) -> None:
        super().__init__()
        mask = torch.as_tensor(np.asarray(valid, dtype=bool))
        # A square board has no invalid cell: skip the no-op masking, a sizeable share of a block.
        self.partial = not bool(mask.all())
        # Derived from the board, so not part of the state dict.
        self.register_buffer("valid", mask[None, None], persistent=False)
        self.register_buffer("count", mask.sum().to(torch.float32).reshape(1, 1), persistent=False)

    def zero_invalid(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.valid if self.partial else x

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.partial:
            return masked_pool(x, self.valid, self.count)
        return torch.cat((x.mean(dim=(2, 3)), x.amax(dim=(2, 3))), dim=1)


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)


def _conv1(cin: int, cout: int, *, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, bias=bias)


class GlobalPoolingBias(nn.Module):
    """KataGo's global pooling: pool a few channels over the board into a bias for the others."""

    def __init__(self, cin: int, pooled: int, cout: int, *, kernel: int) -> None:
        super().__init__()
        self.conv = _conv3(cin, pooled) if kernel == 3 else _conv1(cin, pooled)
        self.norm = nn.BatchNorm2d(pooled)
        self.linear = nn.Linear(2 * pooled, cout, bias=False)

    def forward(self, x: torch.Tensor, cells: CellMask) -> torch.Tensor:
        g = F.relu(self.norm(self.conv(x)))
        bias: torch.Tensor = self.linear(cells.pool(g))
        return bias[:, :, None, None]


class ResidualBlock(nn.Module):
    """Pre-activation block: x + conv(relu(bn(conv(relu(bn(x)))))), optionally with a pooled bias."""

    def __init__(self, channels: int, gpool_channels: int | None) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv1 = _conv3(channels, channels)
        self.gpool = (
            GlobalPoolingBias(channels, gpool_channels, channels, kernel=3) if gpool_channels else None
        )
        self.norm2 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3(channels, channels)

    def forward(self, x: torch.Tensor, cells: CellMask) -> torch.Tensor:
        a = cells.zero_invalid(F.relu(self.norm1(x)))
        h = self.conv1(a)
        if self.gpool is not None:
            h = h + self.gpool(a, cells)
        h = self.conv2(cells.zero_invalid(F.relu(self.norm2(h))))
        return x + cells.zero_invalid(h)


@dataclass(frozen=True, eq=False)
class AuxOutputs:
    """The auxiliary heads' outputs; None for a head the network does not have."""

    ownership: torch.Tensor | None  # [B, 1 + N, H, W] logits: none, slot 0, ..., slot N-1
    score: torch.Tensor | None  # [B, 2, N] in [0, 1]: territory and eliminated-ring shares


@dataclass(frozen=True)
class NetShape:
    """The tensor shapes of one variant, from the encoder and the codec."""

    planes: int
    scalars: int
    height: int
    width: int
    spatial_planes: int
    num_nonspatial: int
    num_players: int

    @property
    def policy_size(self) -> int:
        return self.spatial_planes * self.height * self.width + self.num_nonspatial


def net_shape(board: str, num_players: int) -> NetShape:
    """The shapes for a (board, players) variant; refuses an encoder/codec grid disagreement."""
    enc = encoder_shape(board, num_players)
    codec = ActionCodec.for_board(board, num_players)
    if (enc.height, enc.width) != (codec.height, codec.width):
        raise ValueError(
            f"{board} {num_players}p: encoder grid {enc.height}x{enc.width} differs from "
            f"codec grid {codec.height}x{codec.width}"
        )
    shape = NetShape(
        planes=enc.planes,
        scalars=enc.scalars,
        height=enc.height,
        width=enc.width,
        spatial_planes=codec.spatial_planes,
        num_nonspatial=codec.num_nonspatial,
        num_players=num_players,
    )
    if shape.policy_size != codec.size:
        raise ValueError(
            f"{board} {num_players}p: policy layout {shape.policy_size} != codec.size {codec.size}"
        )
    return shape


class PolicyValueNet(nn.Module):
    """forward(planes [B, P, H, W], scalars [B, S]) -> (policy logits [B, codec.size], values [B, N])."""

    slot_plane: torch.Tensor  # [codec.size] int64
    slot_cell: torch.Tensor  # [codec.size] int64

    def __init__(self, config: NetConfig, board: str, num_players: int) -> None:
        super().__init__()
        self.config = config
        self.board = board
        self.num_players = num_players
        self.codec = ActionCodec.for_board(board, num_players)
        self.shape = shape = net_shape(board, num_players)
        c = config.channels

        grid = board_grid(board)
        if (grid.height, grid.width) != (shape.height, shape.width):
            raise ValueError(
                f"{board}: board grid {grid.height}x{grid.width} is not {shape.height}x{shape.width}"
            )
        self.cells = CellMask(grid.valid.reshape(grid.height, grid.width))

        self.stem = _conv3(shape.planes, c)
        self.scalar_bias = nn.Linear(shape.scalars, c) if shape.scalars else None
        self.blocks = nn.ModuleList(
            ResidualBlock(c, config.gpool_channels if (i + 1) % config.gpool_every == 0 else None)
            for i in range(config.blocks)
        )
        self.trunk_norm = nn.BatchNorm2d(c)

        self.policy_conv = _conv1(c, config.policy_channels)
        self.policy_gpool = GlobalPoolingBias(c, config.gpool_channels, config.policy_channels, kernel=1)
        self.policy_norm = nn.BatchNorm2d(config.policy_channels)
        self.policy_out = _conv1(config.policy_channels, shape.spatial_planes, bias=True)
        self.nonspatial = (
            nn.Sequential(
                nn.Linear(2 * c, config.nonspatial_hidden),
                nn.ReLU(),
                nn.Linear(config.nonspatial_hidden, shape.num_nonspatial),
            )
            if shape.num_nonspatial
            else None
        )

        # Policy index -> output plane and grid cell (0 and 0 for the non-spatial tail), for
        # `legal_forward`; derived from the codec, so not part of the state dict.
        slots = torch.arange(self.codec.size)
        spatial = slots < self.codec.tail_start
        hw = shape.height * shape.width
        self.register_buffer("slot_plane", torch.where(spatial, slots // hw, 0), persistent=False)
        self.register_buffer("slot_cell", torch.where(spatial, slots % hw, 0), persistent=False)

        # `fused()`'s cache: the folded weights and the versions of the tensors they came from.
        self._fused: FusedNet | None = None
        self._fused_from: list[torch.Tensor] = []
        self._fused_versions: tuple[int, ...] = ()

        self.value_conv = _conv1(c, config.value_channels)
        self.value_norm = nn.BatchNorm2d(config.value_channels)
        self.value_mlp = nn.Sequential(
            nn.Linear(2 * config.value_channels, config.value_hidden),
            nn.ReLU(),
            nn.Linear(config.value_hidden, num_players),
        )
        self.ownership_out = (
            _conv1(config.value_channels, 1 + num_players, bias=True) if config.ownership_head else None
        )
        self.score_mlp = (
            nn.Sequential(
                nn.Linear(2 * config.value_channels, config.value_hidden),
                nn.ReLU(),
                nn.Linear(config.value_hidden, len(SCORE_MEASURES) * num_players),
            )
            if config.score_head
            else None
        )

    @overload
    def forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, aux: Literal[False] = False
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    @overload
    def forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, aux: Literal[True]
    ) -> tuple[torch.Tensor, torch.Tensor, AuxOutputs]: ...

    def forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, aux: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, AuxOutputs]:
        """(policy logits, values), and with `aux` the auxiliary heads' outputs (training only:
        DDP sees every parameter used in the call it wraps)."""
        x = self.trunk(planes, scalars)
        policy, tail, values, value_features = self._heads(x)
        logits = self.policy_out(policy).flatten(1)
        if tail is not None:
            logits = torch.cat((logits, tail), dim=1)
        if not aux:
            return logits, values
        return logits, values, self._aux(value_features)

    def _aux(self, value_features: torch.Tensor) -> AuxOutputs:
        ownership = score = None
        if self.ownership_out is not None:
            ownership = self.ownership_out(value_features)
        if self.score_mlp is not None:
            raw = self.score_mlp(self.cells.pool(value_features))
            score = torch.sigmoid(raw).view(-1, len(SCORE_MEASURES), self.num_players)
        return AuxOutputs(ownership, score)

    def legal_forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, rows: torch.Tensor, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [L], values [B, N]): `forward`'s logits at (rows[i], index[i]) only.

        The 1x1 output convolution is evaluated at the asked cells alone: at selfplay batch
        sizes the full [B, codec.size] output costs as much as the rest of the network.
        In eval mode without autograd the trunk and heads run on folded weights (`ai.fused`).
        """
        if self.training or torch.is_grad_enabled():
            policy, tail, values = self.heads(planes, scalars)
        else:
            policy, tail, values = fused_heads(self.fused(), planes, scalars)
        # [B, H*W, Cp]: a view when `policy` is channels-last (the fused path), else a copy.
        features = policy.permute(0, 2, 3, 1).reshape(policy.shape[0], -1, policy.shape[1])
        plane = self.slot_plane[index]
        weight = self.policy_out.weight.view(self.shape.spatial_planes, -1)
        bias = self.policy_out.bias
        assert bias is not None  # the output convolution is built with a bias
        logits = torch.linalg.vecdot(features[rows, self.slot_cell[index]], weight[plane]) + bias[plane]
        if tail is None:
            return logits, values
        column = (index - self.codec.tail_start).clamp(min=0)
        return torch.where(index >= self.codec.tail_start, tail[rows, column], logits), values

    def fused(self) -> FusedNet:
        """The folded inference weights, rebuilt when a parameter or buffer changed in place
        (optimizer steps, `load_state_dict`) and after `train`/`eval` or a move (`to`)."""
        versions = tuple(t._version for t in self._fused_from)
        if self._fused is None or versions != self._fused_versions:
            self._fused_from = [*self.parameters(), *self.buffers()]
            self._fused = fuse(self)
            self._fused_versions = tuple(t._version for t in self._fused_from)
        return self._fused

    def train(self, mode: bool = True) -> PolicyValueNet:
        self._fused = None
        return super().train(mode)

    def _apply(self, fn: Any, recurse: bool = True) -> PolicyValueNet:
        self._fused = None
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        return self

    def heads(
        self, planes: torch.Tensor, scalars: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Trunk and heads up to the policy output convolution: (policy features [B, Cp, H, W],
        non-spatial logits [B, T] or None, values [B, N])."""
        policy, tail, values, _ = self._heads(self.trunk(planes, scalars))
        return policy, tail, values

    def trunk(self, planes: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        """The trunk's output features [B, C, H, W], zero outside the board."""
        cells = self.cells
        x = self.stem(cells.zero_invalid(planes))
        if self.scalar_bias is not None:
            x = x + self.scalar_bias(scalars)[:, :, None, None]
        x = cells.zero_invalid(x)
        for block in self.blocks:
            x = block(x, cells)
        return cells.zero_invalid(F.relu(self.trunk_norm(x)))

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """`heads` from the trunk's features, plus the value head's features [B, Cv, H, W]."""
        cells = self.cells
        p = self.policy_conv(x) + self.policy_gpool(x, cells)
        p = cells.zero_invalid(F.relu(self.policy_norm(p)))
        tail = self.nonspatial(cells.pool(x)) if self.nonspatial is not None else None

        v = F.relu(self.value_norm(self.value_conv(x)))
        values = torch.tanh(self.value_mlp(cells.pool(v)))
        return p, tail, values, v
