"""Inference-only form of a `PolicyValueNet`: norms folded into the convolutions, fewer ops.

Every BatchNorm that directly follows a convolution (plus a pooled bias) is folded into that
convolution's weights and a bias, with the pooled bias's linear map scaled to match; the three
1x1 head convolutions, which read the same tensor, run as one matrix product. The norms after a
residual sum stay. `fused_heads` computes `PolicyValueNet.heads` in eval mode to fp32 rounding
on plain tensors (no module calls, activations updated in place), from a snapshot of the
weights that `PolicyValueNet.fused` rebuilds when they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ringrift_hpc.ai.net import PolicyValueNet, ResidualBlock

_POOL_FILL = -1.0e4  # as in `net.masked_pool`: any finite value below every activation


@dataclass(frozen=True, eq=False)
class Norm:
    """An eval-mode BatchNorm as a per-channel scale and shift (it follows a sum, so it stays)."""

    scale: torch.Tensor  # [C]
    shift: torch.Tensor  # [C]

    @classmethod
    def of(cls, norm: nn.BatchNorm2d) -> Norm:
        return cls(*_affine(norm))

    def relu(self, x: torch.Tensor) -> torch.Tensor:
        """relu(norm(x)) as a new channels-last tensor (one fused multiply-add over [B*H*W, C])."""
        batch, channels, height, width = x.shape
        cells = x.permute(0, 2, 3, 1).reshape(-1, channels)
        out = torch.addcmul(self.shift, cells, self.scale).relu_()
        return out.view(batch, height, width, channels).permute(0, 3, 1, 2)


@dataclass(frozen=True, eq=False)
class FusedBlock:
    """One residual block: relu(norm1(x)) -> conv1 (norm2 folded in) + pooled bias -> relu
    -> conv2, added to x."""

    norm1: Norm
    conv1: torch.Tensor  # [C, C, 3, 3]: conv1 * norm2's scale
    bias1: torch.Tensor  # [C]: norm2's shift
    pool_conv: torch.Tensor | None  # [G, C, 3, 3]: the pooling convolution * its norm's scale
    pool_bias: torch.Tensor | None  # [G]
    pool_linear: torch.Tensor | None  # [C, 2G]: the pooled bias's linear map * norm2's scale
    conv2: torch.Tensor  # [C, C, 3, 3]


@dataclass(frozen=True, eq=False)
class FusedNet:
    """The weights of `fused_heads`; see the module docstring."""

    stem: torch.Tensor
    scalar_weight: torch.Tensor | None
    scalar_bias: torch.Tensor | None
    blocks: tuple[FusedBlock, ...]
    trunk_norm: Norm
    head_weight: torch.Tensor  # [C, Cp + G + Cv]: policy, pooling and value 1x1 convs, norms folded
    head_bias: torch.Tensor  # [Cp + G + Cv]
    policy_channels: int
    pool_channels: int
    policy_linear: torch.Tensor  # [Cp, 2G]
    nonspatial: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None
    value_mlp: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    valid: torch.Tensor | None  # [1, 1, H, W] bool, None on a board without invalid cells
    count: torch.Tensor  # [1, 1] float


def _copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone()


def _kernel(t: torch.Tensor) -> torch.Tensor:
    """A convolution weight in channels-last memory, like the activations."""
    return t.detach().contiguous(memory_format=torch.channels_last).clone(memory_format=torch.preserve_format)


def _affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with norm(x) == x * scale + shift per channel in eval mode."""
    assert norm.running_mean is not None and norm.running_var is not None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale, shift


def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of norm(conv(x)) as one convolution (the convolutions here have no bias)."""
    scale, shift = _affine(norm)
    return conv.weight * scale[:, None, None, None], shift


def _mlp(seq: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights of a Linear-ReLU-Linear `nn.Sequential`."""
    first, last = seq[0], seq[2]  # type: ignore[index]
    return _copy(first.weight), _copy(first.bias), _copy(last.weight), _copy(last.bias)


def _block(block: ResidualBlock) -> FusedBlock:
    conv1, bias1 = _folded(block.conv1, block.norm2)
    pool_conv = pool_bias = pool_linear = None
    if block.gpool is not None:
        # Not stacked onto conv1: one convolution of C + G outputs is slower than the two.
        pool_conv, pool_bias = _folded(block.gpool.conv, block.gpool.norm)
        pool_linear = block.gpool.linear.weight * _affine(block.norm2)[0][:, None]
    return FusedBlock(
        norm1=Norm.of(block.norm1),
        conv1=_kernel(conv1),
        bias1=bias1,
        pool_conv=_kernel(pool_conv) if pool_conv is not None else None,
        pool_bias=pool_bias,
        pool_linear=pool_linear,
        conv2=_kernel(block.conv2.weight),
    )


def fuse(net: PolicyValueNet) -> FusedNet:
    """The folded weights of a `PolicyValueNet` (BatchNorm running statistics, as in eval mode)."""
    with torch.no_grad():
        policy_scale, policy_shift = _affine(net.policy_norm)
        policy_weight = net.policy_conv.weight * policy_scale[:, None, None, None]
        pool_weight, pool_bias = _folded(net.policy_gpool.conv, net.policy_gpool.norm)
        value_weight, value_bias = _folded(net.value_conv, net.value_norm)
        scalar = net.scalar_bias
        cells = net.cells
        return FusedNet(
            stem=_kernel(net.stem.weight),
            scalar_weight=_copy(scalar.weight) if scalar is not None else None,
            scalar_bias=_copy(scalar.bias) if scalar is not None else None,
            blocks=tuple(_block(block) for block in net.blocks),  # type: ignore[arg-type]
            trunk_norm=Norm.of(net.trunk_norm),
            head_weight=torch.cat((policy_weight, pool_weight, value_weight)).flatten(1).t().contiguous(),
            head_bias=torch.cat((policy_shift, pool_bias, value_bias)),
            policy_channels=policy_weight.shape[0],
            pool_channels=pool_weight.shape[0],
            policy_linear=net.policy_gpool.linear.weight * policy_scale[:, None],
            nonspatial=_mlp(net.nonspatial) if net.nonspatial is not None else None,
            value_mlp=_mlp(net.value_mlp),
            valid=_copy(cells.valid) if cells.partial else None,
            count=_copy(cells.count),
        )


def _pool(x: torch.Tensor, valid: torch.Tensor | None, count: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 2C]: mean and max over the valid cells (`valid`: [1, 1, H, W] bool)."""
    if valid is None:
        # The adaptive pools have channels-last kernels; amax over the cells does not.
        mean = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return torch.cat((mean, F.adaptive_max_pool2d(x, 1).flatten(1)), dim=1)
    mean = (x * valid).sum(dim=(2, 3)) / count
    peak = x.masked_fill(~valid, _POOL_FILL).amax(dim=(2, 3))
    return torch.cat((mean, peak), dim=1)


def _run_mlp(
    x: torch.Tensor, mlp: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    return F.linear(F.linear(x, mlp[0], mlp[1]).relu_(), mlp[2], mlp[3])


def fused_heads(
    f: FusedNet, planes: torch.Tensor, scalars: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """`PolicyValueNet.heads` in eval mode from the folded weights (for inference only: no autograd).

    Activations are kept channels-last, where the CPU convolutions need no layout change; the
    policy features come back as a channels-last [B, Cp, H, W] tensor.
    """
    valid = f.valid
    x = planes * valid if valid is not None else planes
    x = F.conv2d(x.contiguous(memory_format=torch.channels_last), f.stem, padding=1)
    if f.scalar_weight is not None:
        x += F.linear(scalars, f.scalar_weight, f.scalar_bias)[:, :, None, None]
    if valid is not None:
        x.mul_(valid)
    for block in f.blocks:
        a = block.norm1.relu(x)
        if valid is not None:
            a.mul_(valid)
        h = F.conv2d(a, block.conv1, block.bias1, padding=1)
        if block.pool_conv is not None and block.pool_linear is not None:
            g = F.conv2d(a, block.pool_conv, block.pool_bias, padding=1).relu_()
            h += F.linear(_pool(g, valid, f.count), block.pool_linear)[:, :, None, None]
        h.relu_()
        if valid is not None:
            h.mul_(valid)
        h = F.conv2d(h, block.conv2, padding=1)
        if valid is not None:
            h.mul_(valid)
        x += h
    x = f.trunk_norm.relu(x)
    if valid is not None:
        x.mul_(valid)

    # The three 1x1 head convolutions as one product over [B*H*W, C] (channels-last rows).
    batch, channels, height, width = x.shape
    y = torch.mm(x.permute(0, 2, 3, 1).reshape(-1, channels), f.head_weight).add_(f.head_bias)
    y = y.view(batch, height, width, -1).permute(0, 3, 1, 2)
    cp, cg = f.policy_channels, f.policy_channels + f.pool_channels
    pooled = _pool(y[:, cp:cg].relu(), valid, f.count)
    p = y[:, :cp] + F.linear(pooled, f.policy_linear)[:, :, None, None]
    p.relu_()
    if valid is not None:
        p.mul_(valid)
    tail = _run_mlp(_pool(x, valid, f.count), f.nonspatial) if f.nonspatial is not None else None
    values = torch.tanh(_run_mlp(_pool(y[:, cg:].relu(), valid, f.count), f.value_mlp))
    return p, tail, values
