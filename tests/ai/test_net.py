"""The policy/value network: shapes for every variant, legal masking, mask-aware pooling, config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_nets import TINY

from ringrift_hpc.ai.codec import ActionCodec
from ringrift_hpc.ai.encoding import board_grid, encode_states, encoder_shape
from ringrift_hpc.ai.fused import fuse, fused_heads
from ringrift_hpc.ai.net import (
    CellMask,
    GlobalPoolingBias,
    NetConfig,
    PolicyValueNet,
    masked_log_softmax,
    masked_pool,
    masked_softmax,
)
from ringrift_hpc.config.learning import NetworkSection
from ringrift_hpc.rules import BOARDS, initial_state

VARIANTS = [(board, players) for board in BOARDS for players in (2, 3, 4)]


def scramble_norms(net: torch.nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial running statistics and affine terms, so eval mode is not the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.normal_(0.0, 0.5, generator=gen)
                module.running_var.uniform_(0.5, 2.0, generator=gen)
                module.weight.normal_(1.0, 0.3, generator=gen)
                module.bias.normal_(0.0, 0.3, generator=gen)


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_forward_shapes_for_every_variant(board: str, players: int) -> None:
    torch.manual_seed(0)
    net = PolicyValueNet(TINY, board, players).eval()
    shape = encoder_shape(board, players)
    codec = ActionCodec.for_board(board, players)
    planes, scalars = encode_states([initial_state(board, players)] * 3)
    assert planes.shape == (3, shape.planes, shape.height, shape.width)
    with torch.inference_mode():
        logits, values = net(torch.from_numpy(planes), torch.from_numpy(scalars))
    assert logits.shape == (3, codec.size)
    assert codec.size == codec.spatial_planes * codec.height * codec.width + codec.num_nonspatial
    assert values.shape == (3, players)
    assert torch.isfinite(logits).all()
    assert (values.abs() <= 1).all()


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_legal_forward_equals_the_full_logits_at_the_asked_indices(board: str, players: int) -> None:
    """Spatial slots of every plane and every non-spatial slot, rows in any order, repeats allowed."""
    torch.manual_seed(3)
    net = PolicyValueNet(TINY, board, players).eval()
    scramble_norms(net, 4)
    codec = net.codec
    planes, scalars = encode_states([initial_state(board, players)] * 3)
    planes += np.random.default_rng(5).uniform(0.0, 1.0, planes.shape).astype(np.float32)
    gen = torch.Generator().manual_seed(6)
    tail = torch.arange(codec.tail_start, codec.size)
    index = torch.cat((torch.randint(0, codec.size, (500,), generator=gen), tail, tail[:1]))
    rows = torch.randint(0, 3, index.shape, generator=gen)
    with torch.inference_mode():
        logits, values = net(torch.from_numpy(planes), torch.from_numpy(scalars))
        legal, legal_values = net.legal_forward(
            torch.from_numpy(planes), torch.from_numpy(scalars), rows, index
        )
    assert (index < codec.tail_start).sum() > 400 and (index >= codec.tail_start).sum() == len(tail) + 1
    torch.testing.assert_close(legal, logits[rows, index], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(legal_values, values)


def noisy_inputs(board: str, players: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three encoded positions plus uniform noise on every plane (invalid cells included) and scalar."""
    planes, scalars = encode_states([initial_state(board, players)] * 3)
    rng = np.random.default_rng(seed)
    planes += rng.uniform(0.0, 1.0, planes.shape).astype(np.float32)
    scalars += rng.uniform(0.0, 1.0, scalars.shape).astype(np.float32)
    return torch.from_numpy(planes), torch.from_numpy(scalars)


@pytest.mark.parametrize(("board", "players"), VARIANTS)
def test_fused_heads_equal_the_modules_in_eval_mode(board: str, players: int) -> None:
    torch.manual_seed(7)
    net = PolicyValueNet(TINY, board, players).eval()
    scramble_norms(net, 8)
    planes, scalars = noisy_inputs(board, players, 9)
    with torch.inference_mode():
        expected = net.heads(planes, scalars)
        fused = fused_heads(fuse(net), planes, scalars)
    for got, want in zip(fused, expected, strict=True):
        assert got is not None and want is not None
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_fused_weights_follow_every_change_of_the_network() -> None:
    """legal_forward in eval mode uses the folded weights: after an optimizer step, a
    load_state_dict and a train/eval round trip it still equals the modules' output."""
    torch.manual_seed(10)
    net = PolicyValueNet(TINY, "hex8", 3).eval()
    scramble_norms(net, 11)
    planes, scalars = noisy_inputs("hex8", 3, 12)
    index = torch.arange(net.codec.size)
    rows = torch.zeros_like(index)

    def check() -> torch.Tensor:
        with torch.inference_mode():
            logits, values = net.legal_forward(planes[:1], scalars[:1], rows, index)
            full, full_values = net(planes[:1], scalars[:1])
        torch.testing.assert_close(logits, full[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(values, full_values, rtol=1e-5, atol=1e-5)
        return logits

    first = check()
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    logits, values = net(planes, scalars)
    (logits.square().mean() + values.sum()).backward()
    optimizer.step()  # also moves the BatchNorm running statistics
    net.eval()
    stepped = check()
    assert not torch.allclose(first, stepped)
    other = PolicyValueNet(TINY, "hex8", 3)
    scramble_norms(other, 13)
    net.load_state_dict(other.state_dict())
    loaded = check()
    assert not torch.allclose(stepped, loaded)
    with torch.no_grad():
        net.blocks[0].conv1.weight.mul_(2.0)
    assert not torch.allclose(loaded, check())


def test_spatial_logits_are_laid_out_plane_row_column() -> None:
    net = PolicyValueNet(TINY, "hex8", 2).eval()
    codec = net.codec
    with torch.no_grad():
        net.policy_out.weight.zero_()
        assert net.policy_out.bias is not None
        net.policy_out.bias.copy_(torch.arange(codec.spatial_planes, dtype=torch.float32))
    planes, scalars = encode_states([initial_state("hex8", 2)])
    with torch.inference_mode():
        logits, _ = net(torch.from_numpy(planes), torch.from_numpy(scalars))
    cells = codec.height * codec.width
    spatial = logits[0, : codec.spatial_planes * cells].reshape(
        codec.spatial_planes, codec.height, codec.width
    )
    expected = torch.arange(codec.spatial_planes, dtype=torch.float32)[:, None, None].expand_as(spatial)
    assert torch.equal(spatial, expected)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=0, max_value=2**31 - 1),
    st.sampled_from([1.0, 1e4, 1e30]),
)
def test_masked_softmax_puts_no_mass_on_illegal_actions(
    rows: int, cols: int, seed: int, scale: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(rows, cols, generator=gen) * scale).requires_grad_()
    legal = torch.rand(rows, cols, generator=gen) < 0.3
    legal[0] = False  # a row with no legal action must stay finite
    probs = masked_softmax(logits, legal).detach()
    log_probs = masked_log_softmax(logits, legal)
    assert torch.isfinite(probs).all() and torch.isfinite(log_probs).all()
    assert (probs[~legal] == 0).all()
    has_legal = legal.any(dim=1)
    torch.testing.assert_close(probs[has_legal].sum(dim=1), torch.ones(int(has_legal.sum())))
    # A soft target with zeros on illegal actions gives a finite cross-entropy.
    target = legal.float() / legal.float().sum(dim=1, keepdim=True).clamp(min=1)
    loss = -(target * log_probs).sum()
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_masked_softmax_matches_softmax_over_the_legal_subset() -> None:
    logits = torch.tensor([[3.0, -1.0, 0.5, 2.0, 7.0]])
    legal = torch.tensor([[True, False, True, True, False]])
    expected = torch.softmax(torch.tensor([3.0, 0.5, 2.0]), dim=0)
    torch.testing.assert_close(masked_softmax(logits, legal)[0, legal[0]], expected)


def test_masked_pool_ignores_invalid_cells() -> None:
    x = torch.tensor([[[[1.0, 100.0], [3.0, -50.0]]]])
    valid = torch.tensor([[[[True, False], [True, False]]]])
    pooled = masked_pool(x, valid, valid.sum().float().reshape(1, 1))
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0]]))


@pytest.mark.parametrize("board", ["hex8", "hexagonal"])
@pytest.mark.parametrize("train_mode", [False, True])
def test_values_on_invalid_cells_do_not_change_outputs(board: str, train_mode: bool) -> None:
    torch.manual_seed(1)
    net = PolicyValueNet(TINY, board, 3)
    scramble_norms(net, seed=2)
    net.train(train_mode)
    shape = encoder_shape(board, 3)
    valid = torch.as_tensor(board_grid(board).valid.reshape(shape.height, shape.width))
    assert not valid.all(), "a hex board must have invalid grid cells"
    planes = torch.randn(4, shape.planes, shape.height, shape.width) * valid
    scalars = torch.randn(4, shape.scalars)
    noisy = planes + torch.randn_like(planes) * 100 * ~valid
    with torch.no_grad():
        clean_out = net(planes, scalars)
        noisy_out = net(noisy, scalars)
        touched = planes.clone()
        row, col = (int(v) for v in valid.nonzero()[0])
        touched[:, :, row, col] += 5.0
        touched_out = net(touched, scalars)
    for clean, dirty in zip(clean_out, noisy_out, strict=True):
        assert torch.equal(clean, dirty)
    # The control: a change on a valid cell does reach the outputs.
    assert not torch.equal(clean_out[1], touched_out[1])


@pytest.mark.parametrize("board", ["hex8", "hexagonal"])
def test_pooling_ignores_whatever_sits_on_invalid_cells(board: str) -> None:
    """Garbage written onto invalid cells just before every global pooling leaves the outputs unchanged."""
    torch.manual_seed(7)
    net = PolicyValueNet(TINY, board, 4)
    scramble_norms(net, seed=8)
    net.eval()
    valid = net.cells.valid
    pooled_norms = [net.value_norm, net.policy_gpool.norm] + [
        module.norm for module in net.blocks.modules() if isinstance(module, GlobalPoolingBias)
    ]
    shape = encoder_shape(board, 4)
    planes = torch.randn(3, shape.planes, shape.height, shape.width)
    scalars = torch.randn(3, shape.scalars)

    def garbage(module: torch.nn.Module, args: object, output: torch.Tensor) -> torch.Tensor:
        return output + 1000.0 * torch.randn_like(output) * ~valid

    with torch.no_grad():
        clean = net(planes, scalars)
        hooks = [norm.register_forward_hook(garbage) for norm in pooled_norms]
        dirty = net(planes, scalars)
        for hook in hooks:
            hook.remove()
    assert len(hooks) == 3
    for a, b in zip(clean, dirty, strict=True):
        assert torch.equal(a, b)


def test_cell_mask_on_a_full_board_pools_everything() -> None:
    cells = CellMask(np.ones((2, 2), dtype=bool))
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    assert not cells.partial
    assert torch.equal(cells.zero_invalid(x), x)
    torch.testing.assert_close(cells.pool(x), torch.tensor([[3.0, 6.0]]))


def test_gpool_blocks_follow_the_config() -> None:
    net = PolicyValueNet(NetConfig(channels=8, blocks=7, gpool_every=3), "square8", 2)
    assert [block.gpool is not None for block in net.blocks] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


def test_net_config_from_the_network_section() -> None:
    config = NetConfig.from_section(NetworkSection(channels=96, blocks=10, value_hidden=256))
    assert (config.channels, config.blocks, config.value_hidden) == (96, 10, 256)
    assert NetConfig.from_dict(config.to_dict()) == config


def test_net_config_dict_must_match_exactly() -> None:
    data = TINY.to_dict()
    data["dropout"] = 1
    del data["blocks"]
    with pytest.raises(ValueError, match=r"missing \['blocks'\], unknown \['dropout'\]"):
        NetConfig.from_dict(data)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_net_config_rejects_non_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="NetConfig.channels must be a positive int"):
        NetConfig(channels=bad)  # type: ignore[arg-type]


AUX = dataclasses.replace(TINY, ownership_head=True, score_head=True)


@pytest.mark.parametrize(("board", "players"), [("square8", 2), ("hex8", 3), ("hexagonal", 4)])
def test_auxiliary_heads_shapes(board: str, players: int) -> None:
    torch.manual_seed(0)
    net = PolicyValueNet(AUX, board, players).eval()
    shape = encoder_shape(board, players)
    planes, scalars = (torch.from_numpy(a) for a in encode_states([initial_state(board, players)] * 3))
    with torch.inference_mode():
        logits, values, aux = net(planes, scalars, aux=True)
        plain_logits, plain_values = net(planes, scalars)
    assert aux.ownership is not None and aux.score is not None
    assert aux.ownership.shape == (3, 1 + players, shape.height, shape.width)
    assert aux.score.shape == (3, 2, players)
    assert ((aux.score >= 0) & (aux.score <= 1)).all()
    assert torch.equal(logits, plain_logits) and torch.equal(values, plain_values)


def test_auxiliary_heads_exist_only_when_asked_for() -> None:
    def names(config: NetConfig) -> set[str]:
        return {name.split(".")[0] for name in PolicyValueNet(config, "square8", 2).state_dict()}

    assert not {"ownership_out", "score_mlp"} & names(TINY)
    assert {"ownership_out", "score_mlp"} <= names(AUX)
    only = dataclasses.replace(TINY, score_head=True)
    assert "score_mlp" in names(only) and "ownership_out" not in names(only)
    torch.manual_seed(0)
    _, _, aux = PolicyValueNet(only, "square8", 2)(*_inputs("square8", 2), aux=True)
    assert aux.ownership is None and aux.score is not None


def _inputs(board: str, players: int) -> tuple[torch.Tensor, torch.Tensor]:
    planes, scalars = encode_states([initial_state(board, players)] * 2)
    return torch.from_numpy(planes), torch.from_numpy(scalars)


def test_auxiliary_heads_leave_the_main_outputs_and_search_unchanged() -> None:
    """Same seed, same trunk and heads: the auxiliary modules are built last, so the shared
    parameters are drawn identically, and the fused inference path never reads them."""
    torch.manual_seed(5)
    plain = PolicyValueNet(TINY, "hex8", 2).eval()
    torch.manual_seed(5)
    with_aux = PolicyValueNet(AUX, "hex8", 2).eval()
    planes, scalars = _inputs("hex8", 2)
    with torch.inference_mode():
        for ours, theirs in zip(plain(planes, scalars), with_aux(planes, scalars), strict=True):
            assert torch.equal(ours, theirs)
        assert torch.equal(
            fused_heads(plain.fused(), planes, scalars)[2], fused_heads(with_aux.fused(), planes, scalars)[2]
        )


def test_net_config_aux_flags_are_left_out_while_off() -> None:
    assert not {"ownership_head", "score_head"} & set(TINY.to_dict())
    assert NetConfig.from_dict(TINY.to_dict()) == TINY  # a dict written before the flags existed
    assert AUX.to_dict()["ownership_head"] is True
    assert NetConfig.from_dict(AUX.to_dict()) == AUX
    section = NetworkSection(channels=16, blocks=2, value_hidden=32)
    assert NetConfig.from_section(section, score_head=True).score_head
    with pytest.raises(ValueError, match="NetConfig.score_head must be a bool"):
        NetConfig(score_head=1)  # type: ignore[arg-type]
