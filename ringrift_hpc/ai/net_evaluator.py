"""A `PolicyValueNet` behind the `Evaluator` protocol that search consumes.

One call encodes every state, runs one batched forward pass (split only above `max_batch`)
that computes the policy logits at each state's legal indices only (`legal_forward`), takes a
softmax over each state's segment (which equals a legal-masked softmax over the whole policy)
and turns the network's relative value vector (slot 0 = the
player to move) into absolute seat order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ringrift_hpc.ai.encoding import encode_states
from ringrift_hpc.ai.evaluation import Evaluation
from ringrift_hpc.ai.net import PolicyValueNet, absolute_values
from ringrift_hpc.rules import GameState


def resolve_device(name: str | torch.device) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else CPU; `cuda` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    return torch.device(name)


def segment_softmax(logits: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Softmax of each consecutive segment of `logits` (segment i has `lengths[i]` entries)."""
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    shifted = logits - np.repeat(np.maximum.reduceat(logits, starts), lengths)
    weights = np.exp(shifted)
    totals = np.repeat(np.add.reduceat(weights, starts), lengths)
    return np.split((weights / totals).astype(np.float32), np.cumsum(lengths)[:-1])


class NetEvaluator:
    """Evaluates batches of states with one network; the net is put in eval mode on `device`."""

    def __init__(self, net: PolicyValueNet, *, device: str | torch.device, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.codec = net.codec
        self.max_batch = max_batch

    def evaluate(self, states: Sequence[GameState]) -> list[Evaluation]:
        """Priors over `legal_moves(state)` and absolute-seat values for non-terminal states of the net's variant."""
        if not states:
            return []
        for state in states:
            if state.num_players != self.net.num_players or state.geo.board != self.net.board:
                raise ValueError(
                    f"state is {state.geo.board} {state.num_players}p but the network is "
                    f"{self.net.board} {self.net.num_players}p"
                )
        legal = [self.codec.legal_indices(state) for state in states]
        lengths = np.fromiter((len(idx) for idx in legal), dtype=np.int64, count=len(legal))
        if not lengths.all():
            raise ValueError("cannot evaluate a state with no legal moves (terminal position)")
        planes, scalars = encode_states(states)
        rows = np.repeat(np.arange(len(states), dtype=np.int64), lengths)
        index = np.concatenate(legal)

        legal_logits = np.empty(len(index), dtype=np.float64)
        values = np.empty((len(states), self.net.num_players), dtype=np.float32)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        with torch.inference_mode():
            for start in range(0, len(states), self.max_batch):
                stop = min(start + self.max_batch, len(states))
                lo, hi = offsets[start], offsets[stop]
                logits, chunk_values = self.net.legal_forward(
                    torch.from_numpy(planes[start:stop]).to(self.device, non_blocking=True),
                    torch.from_numpy(scalars[start:stop]).to(self.device, non_blocking=True),
                    torch.from_numpy(rows[lo:hi] - start).to(self.device),
                    torch.from_numpy(index[lo:hi]).to(self.device),
                )
                legal_logits[lo:hi] = logits.double().cpu().numpy()
                values[start:stop] = chunk_values.float().cpu().numpy()

        to_move = np.fromiter((state.current for state in states), dtype=np.int64, count=len(states))
        seat_values = absolute_values(values, to_move)
        priors = segment_softmax(legal_logits, lengths)
        return [Evaluation(priors=p, values=v) for p, v in zip(priors, seat_values, strict=True)]
