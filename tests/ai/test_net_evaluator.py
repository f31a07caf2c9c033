"""NetEvaluator: priors in legal_moves order, values un-rotated to absolute seats, one forward per call."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from tiny_nets import TINY

from ringrift_hpc.ai.encoding import SCALAR_NAMES, encode_states
from ringrift_hpc.ai.net import PolicyValueNet, absolute_values, masked_softmax, relative_values
from ringrift_hpc.ai.net_evaluator import NetEvaluator, resolve_device, segment_softmax
from ringrift_hpc.rules import GameState, apply_move, initial_state, is_terminal, legal_moves

SLOT_VALUES = (0.9, 0.3, -0.2, -0.8)


def random_states(board: str, players: int, count: int, seed: int) -> list[GameState]:
    """Positions from seeded random playouts, restarting after each finished game."""
    rng = random.Random(seed)
    states: list[GameState] = []
    state = initial_state(board, players)
    while len(states) < count:
        states.append(state)
        state = apply_move(state, rng.choice(legal_moves(state)))
        if is_terminal(state):
            state = initial_state(board, players)
    return states


def policy_of_index(index: torch.Tensor) -> torch.Tensor:
    """A logit that depends only on the policy index, so priors can be predicted from the codec."""
    return torch.sin(index.to(torch.float32) * 0.37) * 4.0


class ScriptedNet(PolicyValueNet):
    """Logits a known function of the policy index; value slot k is SLOT_VALUES[k] for every input."""

    def legal_forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, rows: torch.Tensor, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append(planes.shape[0])
        assert rows.shape == index.shape and int(rows.max()) < planes.shape[0]
        values = torch.tensor(SLOT_VALUES[: self.num_players]).expand(planes.shape[0], -1)
        return policy_of_index(index), values

    calls: list[int]


class HandReader(PolicyValueNet):
    """Value slot k reads the encoder's rings-in-hand scalar of the k-th seat after the mover."""

    def legal_forward(
        self, planes: torch.Tensor, scalars: torch.Tensor, rows: torch.Tensor, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        columns = [SCALAR_NAMES.index(f"seat{k}.hand") for k in range(self.num_players)]
        return torch.zeros(index.shape[0]), scalars[:, columns]


def scripted(board: str, players: int) -> ScriptedNet:
    net = ScriptedNet(TINY, board, players)
    net.calls = []
    return net


@pytest.mark.parametrize("players", [2, 3, 4])
def test_values_are_unrotated_to_absolute_seats(players: int) -> None:
    states = random_states("square8", players, 120, seed=players)
    movers = {state.current for state in states}
    assert movers == set(range(1, players + 1)), "every seat must be to move in some state"
    evaluations = NetEvaluator(scripted("square8", players), device="cpu", max_batch=64).evaluate(states)
    for state, evaluation in zip(states, evaluations, strict=True):
        for slot in range(players):
            seat = (state.current - 1 + slot) % players + 1
            assert evaluation.values[seat - 1] == pytest.approx(SLOT_VALUES[slot])
        assert evaluation.values.dtype == np.float32


@pytest.mark.parametrize("players", [2, 3, 4])
def test_encoder_rotation_and_unrotation_meet_at_the_right_seat(players: int) -> None:
    """End to end: a value computed from seat block k of the input lands on that seat's absolute slot."""
    states = random_states("hex8", players, 60, seed=10 + players)
    assert len({tuple(state.hand[1:]) for state in states}) > 10, "hands must differ between seats"
    evaluations = NetEvaluator(HandReader(TINY, "hex8", players), device="cpu", max_batch=64).evaluate(states)
    for state, evaluation in zip(states, evaluations, strict=True):
        hands = np.array(state.hand[1 : players + 1]) / state.params.rings_per_player
        np.testing.assert_allclose(evaluation.values, hands, rtol=1e-6)


@pytest.mark.parametrize(("board", "players"), [("square8", 2), ("hex8", 3), ("hex8", 4)])
def test_priors_follow_legal_moves_order(board: str, players: int) -> None:
    net = scripted(board, players)
    states = random_states(board, players, 40, seed=7)
    evaluations = NetEvaluator(net, device="cpu", max_batch=16).evaluate(states)
    for state, evaluation in zip(states, evaluations, strict=True):
        indices = torch.as_tensor([net.codec.index(state, move) for move in legal_moves(state)])
        expected = torch.softmax(policy_of_index(indices).double(), dim=0).numpy()
        assert evaluation.priors.dtype == np.float32
        np.testing.assert_allclose(evaluation.priors, expected, rtol=1e-5, atol=1e-7)


def test_one_forward_per_call_split_only_above_max_batch() -> None:
    states = random_states("hex8", 2, 10, seed=1)
    net = scripted("hex8", 2)
    NetEvaluator(net, device="cpu", max_batch=10).evaluate(states)
    assert net.calls == [10]
    net.calls.clear()
    NetEvaluator(net, device="cpu", max_batch=4).evaluate(states)
    assert net.calls == [4, 4, 2]


def test_split_batches_give_the_same_evaluations() -> None:
    torch.manual_seed(5)
    net = PolicyValueNet(TINY, "hex8", 3)
    states = random_states("hex8", 3, 11, seed=2)
    whole = NetEvaluator(net, device="cpu", max_batch=64).evaluate(states)
    split = NetEvaluator(net, device="cpu", max_batch=3).evaluate(states)
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(a.priors, b.priors, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)


def test_priors_equal_the_dense_legal_masked_softmax() -> None:
    torch.manual_seed(6)
    net = PolicyValueNet(TINY, "square8", 4).eval()
    states = random_states("square8", 4, 12, seed=3)
    evaluations = NetEvaluator(net, device="cpu", max_batch=64).evaluate(states)
    planes, scalars = encode_states(states)
    with torch.inference_mode():
        logits, _ = net(torch.from_numpy(planes), torch.from_numpy(scalars))
    legal = torch.zeros_like(logits, dtype=torch.bool)
    for row, state in enumerate(states):
        legal[row, torch.from_numpy(net.codec.legal_indices(state))] = True
    dense = masked_softmax(logits, legal)
    for row, (state, evaluation) in enumerate(zip(states, evaluations, strict=True)):
        gathered = dense[row, torch.from_numpy(net.codec.legal_indices(state))].numpy()
        np.testing.assert_allclose(evaluation.priors, gathered, rtol=1e-5, atol=1e-7)
        assert evaluation.priors.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(np.abs(evaluation.values) <= 1.0)


def test_absolute_values_rotation_by_hand() -> None:
    relative = np.array([[10.0, 11.0, 12.0], [10.0, 11.0, 12.0], [10.0, 11.0, 12.0]])
    absolute = absolute_values(relative, np.array([1, 2, 3]))
    np.testing.assert_array_equal(absolute, [[10, 11, 12], [12, 10, 11], [11, 12, 10]])
    np.testing.assert_array_equal(relative_values(absolute, np.array([1, 2, 3])), relative)


@pytest.mark.parametrize("players", [2, 3, 4])
def test_relative_values_put_the_mover_in_slot_zero(players: int) -> None:
    rng = np.random.default_rng(players)
    absolute = rng.uniform(-1, 1, size=(50, players))
    to_move = rng.integers(1, players + 1, size=50)
    relative = relative_values(absolute, to_move)
    for row in range(50):
        for slot in range(players):
            assert relative[row, slot] == absolute[row, (to_move[row] - 1 + slot) % players]
    np.testing.assert_array_equal(absolute_values(relative, to_move), absolute)


def test_segment_softmax_normalises_each_segment() -> None:
    parts = segment_softmax(np.array([0.0, 0.0, 1000.0, 1.0, 5.0, 5.0]), np.array([2, 1, 3]))
    np.testing.assert_allclose(parts[0], [0.5, 0.5])
    np.testing.assert_allclose(parts[1], [1.0])
    np.testing.assert_allclose(parts[2], np.exp([1.0, 5.0, 5.0]) / np.exp([1.0, 5.0, 5.0]).sum(), rtol=1e-6)


def test_wrong_variant_and_terminal_states_are_refused() -> None:
    evaluator = NetEvaluator(scripted("hex8", 2), device="cpu", max_batch=8)
    with pytest.raises(ValueError, match="state is square8 2p but the network is hex8 2p"):
        evaluator.evaluate([initial_state("square8", 2)])
    rng = random.Random(0)
    state = initial_state("hex8", 2)
    while not is_terminal(state):
        state = apply_move(state, rng.choice(legal_moves(state)))
    with pytest.raises(ValueError, match="cannot evaluate a state with no legal moves"):
        evaluator.evaluate([initial_state("hex8", 2), state])
    assert evaluator.evaluate([]) == []


def test_device_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' was asked for but torch sees no GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_evaluations_match_cpu() -> None:
    torch.manual_seed(9)
    net = PolicyValueNet(TINY, "hex8", 3)
    states = random_states("hex8", 3, 20, seed=4)
    on_cpu = NetEvaluator(net, device="cpu", max_batch=8).evaluate(states)
    on_gpu = NetEvaluator(net, device="cuda", max_batch=8).evaluate(states)
    # Loose tolerances: cuDNN convolutions may run in TF32.
    for a, b in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(a.priors, b.priors, rtol=1e-2, atol=1e-3)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-2, atol=1e-3)
