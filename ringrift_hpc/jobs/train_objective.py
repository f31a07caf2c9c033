"""What one optimizer step minimises and with which learning rate: pure functions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ringrift_hpc.ai.net import AuxOutputs, masked_log_softmax
from ringrift_hpc.config.learning import TrainingSection
from ringrift_hpc.data.dataset import Batch


def losses(logits: torch.Tensor, values: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(policy, value) losses of a batch, each a mean over its samples.

    Policy: cross-entropy of the improved-policy target against the softmax over the legal
    moves only (the target never weighs an illegal move). Value: squared error of the value
    vector (slot 0 = player to move), averaged over the seats.
    """
    log_probs = masked_log_softmax(logits.float(), batch.legal)
    picked = log_probs[batch.target_rows, batch.target_cols]
    policy = -(picked * batch.target_probs).sum() / logits.shape[0]
    value = F.mse_loss(values.float(), batch.values)
    return policy, value


def _mean_over(per_sample: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of `per_sample` [B] over the rows where the bool `counted` is True; 0 without any."""
    return (per_sample * counted).sum() / counted.sum().clamp(min=1)


def aux_losses(aux: AuxOutputs, batch: Batch, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ownership, score) losses, each a mean over the samples that have auxiliary targets
    (`batch.has_aux`; samples of version 1 shards have none); 0 for a head the net lacks.

    Ownership: cross-entropy of the per cell label (none or the owner's slot), averaged over
    the board's cells (`valid` [H, W] bool; the grid's cells off a hex board never count).
    Score: squared error of the territory and eliminated-ring shares, averaged over seats and
    measures, like the value loss.
    """
    counted = batch.has_aux.float()
    zero = counted.new_zeros(())
    ownership = score = zero
    if aux.ownership is not None:
        cells = F.cross_entropy(aux.ownership.float(), batch.ownership, reduction="none")
        per_sample = (cells * valid).sum(dim=(1, 2)) / valid.sum()
        ownership = _mean_over(per_sample, counted)
    if aux.score is not None:
        per_sample = ((aux.score.float() - batch.score) ** 2).mean(dim=(1, 2))
        score = _mean_over(per_sample, counted)
    return ownership, score


def warmup_steps(training: TrainingSection, total_steps: int) -> int:
    """The configured warm-up, but at most half of a short job, so every job also decays."""
    return min(training.warmup_steps, total_steps // 2)


def learning_rate(step: int, total_steps: int, training: TrainingSection) -> float:
    """Linear warm-up to `lr`, then cosine decay towards 0 at `total_steps`."""
    warmup = warmup_steps(training, total_steps)
    if step < warmup:
        return training.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return training.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def make_optimizer(net: nn.Module, training: TrainingSection) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum; the learning rate is set before every step."""
    if training.optimizer == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    return torch.optim.SGD(
        net.parameters(),
        lr=training.lr,
        momentum=training.momentum,
        weight_decay=training.weight_decay,
        nesterov=training.momentum > 0,
    )
