"""Quantizers, sparsity as a quantizer, STE and the ridge dequantizer, against first principles."""

import copy

import pytest
import torch
from torch import nn

from helpers.core.models import MLP
from helpers.papers import robust_sparse_training as qz


# --- stage 2: rounding -------------------------------------------------------------------------
def test_one_bit_grid_is_half_the_sign():
    v = torch.tensor([-2.3, -0.1, 0.0, 0.4, 7.0])
    assert torch.equal(qz.grid_round(v, 1), torch.tensor([-0.5, -0.5, 0.5, 0.5, 0.5]))


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_grid_has_two_to_the_bits_unit_spaced_levels_and_clips(bits):
    v = torch.linspace(-20, 20, 4001)
    levels = torch.unique(qz.grid_round(v, bits))
    assert len(levels) == 2**bits
    assert torch.allclose(levels[1:] - levels[:-1], torch.ones(2**bits - 1))
    assert levels.max() == (2**bits - 1) / 2 == -levels.min()
    inside = v.abs() < 2 ** (bits - 1)
    assert (qz.grid_round(v, bits)[inside] - v[inside]).abs().max() <= 0.5  # nearest level


def test_noisy_round_has_the_rounded_value_and_unit_gradient():
    v = torch.tensor([-1.7, -0.2, 0.3, 1.2], requires_grad=True)
    q = qz.noisy_round(v, 2)
    assert torch.equal(q.detach(), qz.grid_round(v.detach(), 2))
    q.sum().backward()
    assert torch.equal(v.grad, torch.ones(4))


def test_straight_through_forwards_x_hat_and_passes_the_gradient_unchanged():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = qz.straight_through(x, torch.sign(x) * 5)
    assert torch.equal(y.detach(), torch.tensor([5.0, -5.0, 5.0]))
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([1.0, 2.0, 3.0]))


# --- stage 0: sparsity ---------------------------------------------------------------------------
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99])
def test_magnitude_mask_keeps_the_largest_entries_of_the_tensor(sparsity):
    torch.manual_seed(0)
    x = torch.randn(30, 40)
    mask = qz.magnitude_mask(x, sparsity)
    assert int(mask.sum()) == max(1, round((1 - sparsity) * x.numel()))
    if sparsity > 0:
        assert x.abs()[mask == 1].min() >= x.abs()[mask == 0].max()


def test_magnitude_mask_per_row_keeps_the_same_count_in_every_row():
    torch.manual_seed(1)
    mask = qz.magnitude_mask(torch.randn(8, 20), 0.75, granularity="row")
    assert torch.equal(mask.sum(1), torch.full((8,), 5.0))


def test_sparsify_zeroes_small_weights_but_passes_gradient_to_all():
    x = torch.tensor([[0.1, -3.0], [2.0, -0.2]], requires_grad=True)
    x_s, mask = qz.sparsify(x, 0.5)
    assert torch.equal(x_s.detach(), torch.tensor([[0.0, -3.0], [2.0, 0.0]]))
    assert torch.equal(mask, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    x_s.sum().backward()
    assert torch.equal(x.grad, torch.ones(2, 2))  # pruned weights get a gradient (STE)


# --- stage 1 and 3 -------------------------------------------------------------------------------
def test_prequantize_centres_and_scales_with_constant_statistics():
    torch.manual_seed(2)
    x = (torch.randn(4, 50) * 3 + 1).requires_grad_()
    v, s_f, b_f = qz.prequantize(x, bits=2, affine=True, granularity="row")
    assert torch.allclose(v.mean(1), torch.zeros(4), atol=1e-5)
    absmax = (x - x.mean(1, keepdim=True)).abs().amax(1)
    assert torch.allclose(s_f.squeeze(1), absmax / 2)  # 4 unit bins span ±absmax
    assert v.abs().max() <= 2 + 1e-5  # nothing beyond the outer bins
    assert torch.allclose(qz.inverse_prequantize(v, s_f, b_f), x)
    v.sum().backward()
    assert torch.allclose(
        x.grad, (1 / s_f).expand(4, 50)
    )  # statistics are constants: dv/dx = 1/s_f


def _ridge_reference(q, x, lam):
    """Solve min_{s,b} 1/(2N)||s q + b - x||² + λ/2 s² by its 2×2 normal equations."""
    n = len(q)
    a = torch.tensor([[q @ q / n + lam, q.mean()], [q.mean(), 1.0]], dtype=torch.float64)
    rhs = torch.tensor([q @ x / n, x.mean()], dtype=torch.float64)
    s, b = torch.linalg.solve(a, rhs)
    return s * q + b


@pytest.mark.parametrize("lam", [0.0, 0.01, 1.0])
def test_ridge_dequantize_solves_the_ridge_problem(lam):
    torch.manual_seed(3)
    x = torch.randn(3, 64, dtype=torch.float64) + 0.5
    q = qz.grid_round(qz.prequantize(x, 2)[0], 2)
    g = qz.ridge_dequantize(q, x, lam=lam, affine=True, granularity="row")
    for r in range(3):
        assert torch.allclose(g[r], _ridge_reference(q[r], x[r], lam))


def test_ridge_with_lambda_zero_and_one_bit_is_xnor_scaling():
    x = torch.tensor([[-3.0, -1.0, 1.0, 3.0, -2.0, 2.0]])
    q = qz.grid_round(qz.prequantize(x, 1)[0], 1)  # sign(x - mean) / 2, balanced
    g = qz.ridge_dequantize(q, x, lam=0.0)
    alpha = (x - x.mean()).abs().mean()  # XNOR-Net's scale
    assert torch.allclose(g, torch.sign(x) * alpha + x.mean())


def test_large_lambda_shrinks_to_the_mean_and_linear_form_keeps_zeros():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    q = torch.tensor([[0.0, 1.0, 1.0, 2.0]])
    assert torch.allclose(qz.ridge_dequantize(q, x, lam=1e9), x.mean().expand(1, 4))
    linear = qz.ridge_dequantize(q, x, lam=0.0, affine=False)
    assert linear[0, 0] == 0
    assert torch.allclose(linear, (q * x).sum() / (q * q).sum() * q)  # <q,x>/<q,q> q


def test_ridge_gradient_on_a_pruned_weight_is_the_derived_correction():
    """λ = 0, sparsity only: kept weights get the STE gradient G; a pruned weight x_i gets
    G_i + x_i <G, x_S> / <x_S, x_S> (derived in notebook 05)."""
    torch.manual_seed(4)
    x = torch.randn(6, 10, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(6, 10, dtype=torch.float64)
    w = qz.fake_quantize(x, bits=None, sparsity=0.8, method="ridge", lam=0.0)
    (w * upstream).sum().backward()
    mask = qz.magnitude_mask(x.detach(), 0.8)
    x_s = x.detach() * mask
    assert torch.allclose(w.detach(), x_s)  # forward: the magnitude-pruned weights
    expected = upstream + (1 - mask) * x.detach() * (upstream * x_s).sum() / (x_s * x_s).sum()
    assert torch.allclose(x.grad, expected)


@pytest.mark.parametrize(
    "spec", [dict(bits=1), dict(bits=3), dict(sparsity=0.9), dict(bits=1, sparsity=0.9)]
)
def test_ste_gradient_is_the_identity_and_ridge_is_not(spec):
    torch.manual_seed(5)
    x = torch.randn(8, 16, requires_grad=True)
    upstream = torch.randn(8, 16)
    (qz.fake_quantize(x, method="ste", **spec) * upstream).sum().backward()
    assert torch.allclose(x.grad, upstream)
    x.grad = None
    (qz.fake_quantize(x, method="ridge", **spec) * upstream).sum().backward()
    assert not torch.allclose(x.grad, upstream, atol=1e-3)


@pytest.mark.parametrize("method", ["ste", "ridge"])
def test_sparse_quantized_weights_are_exactly_sparse_with_few_levels(method):
    torch.manual_seed(6)
    x = torch.randn(20, 30)
    w = qz.fake_quantize(x, bits=1, sparsity=0.9, method=method)
    assert int((w != 0).sum()) == 60
    assert len(torch.unique(w[w != 0].abs())) == 1  # sparse binary: ±α
    assert torch.equal(w != 0, qz.magnitude_mask(x, 0.9) == 1)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quantized_rows_take_at_most_two_to_the_bits_values(bits):
    torch.manual_seed(7)
    w = qz.fake_quantize(torch.randn(5, 100), bits=bits, method="ridge")
    assert all(len(torch.unique(row)) <= 2**bits for row in w)


def test_high_precision_ridge_is_nearly_the_identity():
    torch.manual_seed(8)
    x = torch.randn(16, 64)
    assert torch.allclose(qz.fake_quantize(x, bits=12, method="ridge"), x, atol=1e-2)


def test_bad_arguments_raise_clear_errors():
    x = torch.randn(4, 4)
    with pytest.raises(ValueError, match="bits"):
        qz.fake_quantize(x, bits=0)
    with pytest.raises(ValueError, match="sparsity"):
        qz.fake_quantize(x, sparsity=1.0)
    with pytest.raises(ValueError, match="method"):
        qz.fake_quantize(x, bits=2, method="lsq")
    with pytest.raises(ValueError, match="granularity"):
        qz.fake_quantize(x, bits=2, granularity="column")
    with pytest.raises(ValueError, match="lam"):
        qz.ridge_dequantize(x, x, lam=-1.0)
    with pytest.raises(ValueError, match="shape"):
        qz.ridge_dequantize(x, x[:2])


# --- layers ------------------------------------------------------------------------------------
def test_to_quantized_replaces_linear_layers_and_keeps_weights():
    torch.manual_seed(9)
    dense = MLP([8, 16, 4])
    model = qz.to_quantized(copy.deepcopy(dense), bits=2, method="ridge")
    layers = qz.quantized_layers(model)
    assert len(layers) == 2 and not any(type(m) is nn.Linear for m in model.modules())
    assert torch.equal(layers[0][1].weight, dense.layers[0].weight)
    x = torch.randn(5, 8)
    manual = dense.layers[2](
        torch.relu(
            nn.functional.linear(
                x, qz.fake_quantize(dense.layers[0].weight, 2, method="ridge"), dense.layers[0].bias
            )
        )
    )
    first = layers[0][1]
    assert torch.allclose(first(x), nn.functional.linear(x, first.quantized_weight(), first.bias))
    assert model(x).shape == manual.shape == (5, 4)


def test_float_layer_is_an_ordinary_linear_and_state_dict_round_trips():
    torch.manual_seed(10)
    dense = MLP([8, 16, 4])
    model = qz.to_quantized(copy.deepcopy(dense))  # no bits, no sparsity: unchanged function
    x = torch.randn(3, 8)
    assert torch.allclose(model(x), dense(x))
    fresh = qz.to_quantized(MLP([8, 16, 4]), bits=1, sparsity=0.5)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.layers[0].weight, dense.layers[0].weight)


def test_activation_quantization_skips_the_data_input():
    model = qz.to_quantized(MLP([8, 16, 16, 4]), bits=1, act_bits=1)
    assert [m.act_bits for _, m in qz.quantized_layers(model)] == [None, 1, 1]
    h = torch.randn(6, 16)
    assert len(torch.unique(model.layers[2].quantized_input(h)[0])) <= 2


def test_quantized_linear_rejects_bad_settings():
    with pytest.raises(ValueError, match="method"):
        qz.QuantizedLinear(3, 2, method="nope")
    with pytest.raises(ValueError, match="bits"):
        qz.QuantizedLinear(3, 2, act_bits=True)


# --- the field's binary baseline: sign with a clipped STE -------------------------------------------
def test_clipped_sign_is_sign_forward_and_hardtanh_backward():
    a = torch.tensor([-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.5], requires_grad=True)
    b = qz.clipped_sign(a)
    assert b.tolist() == [-1, -1, -1, 1, 1, 1, 1]  # sign(0) = +1: two levels only
    b.sum().backward()
    assert a.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]  # gradient only inside |a| <= 1
    a.grad = None
    qz.clipped_sign(a, clip=1e6).sum().backward()  # a huge window: the plain STE of sign
    assert torch.equal(a.grad, torch.ones(7))


def test_ste_clipped_weights_are_xnor_binary_with_a_clipped_gradient():
    x = torch.tensor([[0.5, -1.5, 0.25, -0.25], [2.0, 0.1, -0.1, -0.2]], requires_grad=True)
    w = qz.fake_quantize(x, bits=1, method="ste_clipped")
    alpha = x.detach().abs().mean(1, keepdim=True)  # XNOR-Net: mean |w| per row
    assert torch.equal(w.detach(), alpha * torch.sign(x.detach()))
    w.sum().backward()
    assert torch.equal(x.grad, (x.detach().abs() <= 1).float())


def test_ste_clipped_sparse_weights_keep_the_largest_at_plus_minus_alpha():
    torch.manual_seed(11)
    x = torch.randn(20, 30, requires_grad=True)
    w = qz.fake_quantize(x, bits=1, sparsity=0.9, method="ste_clipped")
    mask = qz.magnitude_mask(x.detach(), 0.9)
    kept = x.detach().abs()[mask == 1]
    assert torch.equal(w.detach() != 0, mask == 1)
    assert torch.allclose(w.detach().abs()[mask == 1], kept.mean().expand(len(kept)))
    w.sum().backward()
    assert torch.equal(x.grad, (x.detach().abs() <= 1).float())  # pruned weights too


def test_ste_clipped_needs_one_bit():
    x = torch.randn(3, 4)
    for call in (
        lambda: qz.fake_quantize(x, bits=2, method="ste_clipped"),
        lambda: qz.fake_quantize(x, bits=None, sparsity=0.5, method="ste_clipped"),
        lambda: qz.QuantizedLinear(4, 2, bits=1, act_bits=2, method="ste_clipped"),
    ):
        with pytest.raises(ValueError, match="ste_clipped"):
            call()
    with pytest.raises(ValueError, match="clip"):
        qz.clipped_sign(x, clip=0.0)


@pytest.mark.parametrize("method", ["ste", "ste_clipped", "ridge"])
def test_straight_through_values_are_exact(method):
    """The forward value is the quantized weight to the last bit: x + (x_hat - x) would be off by
    rounding errors and put more than two values in a binary row."""
    torch.manual_seed(12)
    x = torch.randn(16, 50, requires_grad=True)
    w = qz.fake_quantize(x, bits=1, method=method).detach()
    assert all(len(torch.unique(row)) == 2 for row in w)
    sparse = qz.fake_quantize(x, bits=1, sparsity=0.95, method=method).detach()
    assert len(torch.unique(sparse)) == 3  # -alpha, 0, +alpha


# --- the binary MLP and the validation split ----------------------------------------------------------
def test_binary_mlp_is_linear_batchnorm_and_binarized_inputs():
    torch.manual_seed(13)
    model = qz.binary_mlp([8, 16, 16, 4], method="ste_clipped", bits=1, act_bits=1)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["QuantizedLinear", "BatchNorm1d"] * 2 + ["QuantizedLinear"]
    assert [m.act_bits for _, m in qz.quantized_layers(model)] == [None, 1, 1]  # data stays float
    h = torch.randn(6, 16)
    assert set(model.layers[2].quantized_input(h).unique().tolist()) <= {-1.0, 1.0}
    assert model(torch.randn(5, 8)).shape == (5, 4)
    plain = qz.binary_mlp([8, 16, 4], norm=False, bits=1)
    assert isinstance(plain.layers[1], nn.Identity)


def test_methods_with_one_seed_start_from_the_same_weights():
    weights = []
    for method in ("ste_clipped", "ste", "ridge"):
        torch.manual_seed(14)
        model = qz.binary_mlp([8, 16, 4], method=method, bits=1, act_bits=1)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1]) and torch.equal(weights[1], weights[2])


def test_binary_mlp_checks_before_drawing_weights():
    rng = torch.get_rng_state()
    with pytest.raises(ValueError, match="ste_clipped"):
        qz.binary_mlp([8, 16, 4], method="ste_clipped", bits=2)
    with pytest.raises(ValueError, match="sizes"):
        qz.binary_mlp([8], bits=1)
    with pytest.raises(ValueError, match="unknown"):
        qz.binary_mlp([8, 4], bits=1, width=3)
    assert torch.equal(torch.get_rng_state(), rng)


def test_carve_validation_holds_out_training_examples_only():
    from helpers.core.data import Split

    x = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10)
    split = Split(x, y, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 10)
    rng = torch.get_rng_state()
    carved = qz.carve_validation(split, 4, seed=1)
    assert torch.equal(torch.get_rng_state(), rng)  # a generator of its own
    assert len(carved.y_train) == 6 and len(carved.y_test) == 4
    assert sorted(torch.cat([carved.y_train, carved.y_test]).tolist()) == list(range(10))
    assert torch.equal(qz.carve_validation(split, 4, seed=1).y_test, carved.y_test)
    with pytest.raises(ValueError, match="n_val"):
        qz.carve_validation(split, 10)
