"""What one optimizer step minimises and with which learning rate: pure functions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ringrift_hpc.ai.net import masked_log_softmax
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
