"""The training objective and schedule: pure functions checked against hand computations."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from torch import nn
from train_data import training

from ringrift_hpc.ai.net import AuxOutputs
from ringrift_hpc.data.dataset import Batch
from ringrift_hpc.jobs.train_objective import aux_losses, learning_rate, losses, make_optimizer, warmup_steps


def batch(legal: list[list[bool]], targets: list[tuple[int, int, float]], values: list[list[float]]) -> Batch:
    rows, cols, probs = zip(*targets)
    return Batch(
        planes=torch.zeros(len(legal), 1, 1, 1),
        scalars=torch.zeros(len(legal), 1),
        legal=torch.tensor(legal),
        target_rows=torch.tensor(rows),
        target_cols=torch.tensor(cols),
        target_probs=torch.tensor(probs),
        values=torch.tensor(values),
        ownership=torch.zeros(len(legal), 1, 1, dtype=torch.int64),
        score=torch.zeros(len(legal), 2, 2),
        has_aux=torch.ones(len(legal), dtype=torch.bool),
    )


def test_policy_loss_is_the_cross_entropy_over_legal_moves_only() -> None:
    logits = torch.tensor([[1.0, 2.0, 50.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    b = batch(
        legal=[[True, True, False, False], [True, True, True, True]],
        targets=[(0, 0, 0.5), (0, 1, 0.5), (1, 3, 1.0)],
        values=[[1.0, -1.0], [0.0, 0.0]],
    )
    policy, value = losses(logits, torch.tensor([[0.5, -0.5], [0.0, 1.0]]), b)
    # Row 0 ignores the huge illegal logit: log-softmax over (1, 2) only.
    row0 = -(0.5 * (1 - math.log(math.e + math.e**2)) + 0.5 * (2 - math.log(math.e + math.e**2)))
    row1 = -(3 - math.log(3 + math.e**3))
    assert policy.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert value.item() == pytest.approx((0.25 + 0.25 + 0 + 1) / 4)


def test_losses_have_finite_gradients_with_masked_logits() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0]], requires_grad=True)
    b = batch(legal=[[True, False, True]], targets=[(0, 2, 1.0)], values=[[0.0, 0.0]])
    policy, _ = losses(logits, torch.zeros(1, 2), b)
    policy.backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[0, 1].item() == 0.0


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    section = training(lr=0.1, warmup_steps=4)
    rates = [learning_rate(step, 20, section) for step in range(21)]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[4] == pytest.approx(0.1)
    assert rates[12] == pytest.approx(0.05)  # halfway through the cosine
    assert rates[20] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in itertools.pairwise(rates[4:]))


def test_short_jobs_warm_up_for_at_most_half_their_steps() -> None:
    section = training(warmup_steps=100)
    assert warmup_steps(section, 10) == 5
    assert learning_rate(9, 10, section) < section.lr


def test_optimizer_follows_the_config() -> None:
    net = nn.Linear(2, 2)
    assert isinstance(make_optimizer(net, training(optimizer="adamw")), torch.optim.AdamW)
    sgd = make_optimizer(net, training(optimizer="sgd", momentum=0.8))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["momentum"] == 0.8 and sgd.param_groups[0]["nesterov"]


def test_auxiliary_losses_count_board_cells_and_samples_with_targets_only() -> None:
    """Two samples on a 1x2 grid whose second cell is off the board; only sample 0 has targets."""
    ownership_logits = torch.zeros(2, 3, 1, 2)
    ownership_logits[0, 1, 0, 0] = math.log(2.0)  # sample 0, cell 0: p(label 1) = 2 / 4
    ownership_logits[0, 0, 0, 1] = 100.0  # off the board: never counted
    score = torch.tensor([[[0.5, 0.5], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    b = dataclasses.replace(
        batch(legal=[[True, True]] * 2, targets=[(0, 0, 1.0), (1, 0, 1.0)], values=[[0.0, 0.0]] * 2),
        ownership=torch.tensor([[[1, 2]], [[0, 0]]]),
        score=torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]]),
        has_aux=torch.tensor([True, False]),
    )
    valid = torch.tensor([[True, False]])
    own, sq = aux_losses(AuxOutputs(ownership_logits, score), b, valid)
    assert own.item() == pytest.approx(-math.log(0.5), rel=1e-6)
    assert sq.item() == pytest.approx((0.25 + 0.25 + 0 + 0) / 4)
    none, _ = aux_losses(
        AuxOutputs(None, score), dataclasses.replace(b, has_aux=torch.tensor([False, False])), valid
    )
    assert none.item() == 0.0
