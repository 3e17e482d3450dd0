"""helpers.papers.relu_kan (notebook 15): worked examples of the two bases, parameter and FLOP counts
from first principles, the training loops, and clear errors.

Worked example of the ReLU-KAN basis with G = 1, k = 1: two bumps, knots (s, e) = (−1, 1) and (0, 2).
At x = 0.5: R_1 = [ReLU(1 − 0.5)·ReLU(0.5 + 1)]² · 16/2⁴ = (0.5·1.5)² = 0.5625 and
R_2 = [ReLU(2 − 0.5)·ReLU(0.5 − 0)]² = 0.5625; at the middle of a bump (x = 0 for R_1) the value is 1.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_input import assert_rejects

from helpers.papers import relu_kan as rk


def test_knots_cover_the_unit_interval_with_k_plus_one_bumps():
    low, high = rk.knots(3, 3)
    assert low.tolist() == pytest.approx([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3])
    assert (high - low).tolist() == pytest.approx([4 / 3] * 6)
    x = torch.tensor([[0.1], [0.5], [0.9]])
    assert ((rk.relu_kan_basis(x, low, high) > 0).sum(-1) == 4).all()  # k + 1 bumps everywhere


def test_relu_kan_basis_worked_example():
    low, high = rk.knots(1, 1)
    values = rk.relu_kan_basis(torch.tensor([[0.5], [0.0], [3.0]]), low, high)[:, 0, :]
    assert values[0].tolist() == pytest.approx([0.5625, 0.5625])
    assert values[1, 0].item() == pytest.approx(1.0)  # peak 1 at the bump's middle
    assert values[2].tolist() == [0.0, 0.0]  # outside the support


def test_af_kan_basis_is_the_squared_silu_product_and_not_compact():
    low, high = rk.knots(1, 1)
    x = torch.tensor([[0.5], [3.0]])
    silu = torch.nn.functional.silu
    expected = (silu(x - low) * silu(high - x)) ** 2
    assert torch.allclose(rk.af_kan_basis(x, low, high)[:, 0, :], expected)
    assert (rk.af_kan_basis(x, low, high)[1] > 0).all()  # nonzero outside [s_i, e_i]


def test_relu_kan_layer_is_a_dense_map_of_the_basis():
    torch.manual_seed(0)
    layer = rk.ReLUKANLayer(3, 2, grid=2, k=1, norm=False, train_knots=False)
    x = torch.rand(4, 3)
    basis = rk.relu_kan_basis(x, *rk.knots(2, 1))  # (4, 3, 3)
    by_hand = (
        torch.einsum("bpi,qpi->bq", basis, layer.linear.weight.view(2, 3, 3)) + layer.linear.bias
    )
    assert torch.allclose(layer(x), by_hand, atol=1e-6)
    assert not layer.low.requires_grad


def test_af_kan_gate_is_one_for_a_single_input():
    torch.manual_seed(0)
    layer = rk.AFKANLayer(1, 3, grid=3, k=3, norm=False)
    x = torch.rand(5, 1)
    s = rk.af_kan_basis(x, layer.low, layer.high).sum(-1)  # (5, 1): softmax over one input is 1
    assert torch.allclose(layer(x), torch.nn.functional.silu(s) @ layer.weight.T, atol=1e-6)


@pytest.mark.parametrize("kind", rk.KINDS)
@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("widths", [[64, 7, 10], [1, 8, 1], [5, 3, 4, 2]])
def test_parameter_count_matches_the_model(kind, norm, widths):
    model = rk.make_model(kind, widths, 3, 3, norm)
    assert rk.count_trainable(model) == rk.parameter_count(kind, widths, 3, 3, norm)


def test_parameter_counts_from_first_principles():
    # MLP [2, 3, 1]: 2·3 + 3 + 3·1 + 1 = 13. ReLU-KAN [1, 8, 1], G = 5, k = 3, original: 8 basis
    # functions, 1·8·8 + 8 + 8·8·1 + 1 = 137. AF-KAN [2, 1] (one layer), G = k = 1, with LayerNorm:
    # W 2, score 2 + 1, temperature 1, knots 2·2, LayerNorm 2·2 = 14.
    assert rk.parameter_count("MLP", [2, 3, 1]) == 13
    assert rk.parameter_count("ReLU-KAN", [1, 8, 1], 5, 3, norm=False) == 137
    assert rk.parameter_count("AF-KAN", [2, 1], 1, 1) == 14


def test_width_for_budget_is_the_closest_width():
    h = rk.width_for_budget("MLP", 5000, 64, 10)
    assert h == 67  # 75·67 + 10 = 5035, 75·66 + 10 = 4960
    assert rk.width_for_budget("ReLU-KAN", 137, 1, 1, 5, 3, norm=False) == 8


def test_forward_flops_of_an_mlp_and_the_ordering():
    assert rk.forward_flops("MLP", [2, 3, 1]) == 2 * 6 + 4 * 3 + 2 * 3  # two matmuls and a SiLU
    h = 20
    assert rk.forward_flops("AF-KAN", [64, h, 10]) > rk.forward_flops(
        "AF-KAN, no basis", [64, h, 10]
    )


def test_train_step_flops_is_forward_backward_and_adamw():
    # [2, 3, 1] MLP: 30 FLOPs forward per example, 13 parameters; backward counts twice the forward.
    assert rk.train_step_flops("MLP", [2, 3, 1], batch_size=4) == 3 * 30 * 4 + 14 * 13
    h = rk.width_for_budget("AF-KAN", 5000, 64, 10)
    mlp_h = rk.width_for_budget("MLP", 5000, 64, 10)
    assert rk.train_step_flops("AF-KAN", [64, h, 10]) > 1.25 * rk.train_step_flops(
        "MLP", [64, mlp_h, 10]
    )
    assert_rejects(
        lambda: rk.train_step_flops("MLP", [2, 3, 1], batch_size=0), "batch_size", "[1, inf]"
    )


def test_fit_classifier_learns_a_separable_task_and_keeps_the_best_epoch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g)
    y = (x[:, 0] > x[:, 1]).long()
    torch.manual_seed(0)
    model = rk.make_model("AF-KAN", [2, 8, 2])
    model, result = rk.fit_classifier(
        model, x[:150], y[:150], x[150:], y[150:], epochs=5, lr=0.03, seed=1
    )
    assert result.val_accuracy == max(result.history) > 0.8
    assert result.epoch == result.history.index(max(result.history)) + 1
    assert math.isnan(result.test_accuracy)
    with torch.no_grad():  # the kept weights are the best epoch's
        assert (model(x[150:]).argmax(1) == y[150:]).float().mean().item() == result.val_accuracy


def test_fit_1d_reduces_the_error_and_step_time_times_every_model():
    x = torch.linspace(0, 1, 50)[:, None]
    torch.manual_seed(0)
    model = rk.make_model("ReLU-KAN", [1, 4, 1], 5, 3, norm=False)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(x), rk.target_1d(x)).item()
    model, val = rk.fit_1d(model, x, rk.target_1d(x), x, rk.target_1d(x), steps=200, lr=0.03)
    assert val < before / 10
    times = rk.step_time({"a": model}, x, torch.zeros(50, dtype=torch.long), steps=1, rounds=1)
    assert list(times) == ["a"] and times["a"] > 0


def test_bad_input_is_rejected_clearly():
    model = rk.make_model("MLP", [2, 2, 2])
    x, y = torch.rand(4, 2), torch.zeros(4, dtype=torch.long)
    assert_rejects(lambda: rk.make_model("KAN", [2, 2]), "kind", "MLP")
    assert_rejects(lambda: rk.make_model("MLP", [2]), "widths", "at least 2")
    assert_rejects(lambda: rk.parameter_count("MLP", [2, 0, 1]), "widths[1]", "[1, inf]")
    assert_rejects(lambda: rk.knots(0, 3), "grid", "[1, inf]")
    assert_rejects(lambda: rk.width_for_budget("MLP", 0, 2, 2), "budget", "[1, inf]")
    assert_rejects(lambda: rk.fit_classifier(model, x, y, x, y, epochs=0, lr=0.1, seed=0),
                   "epochs", "[1, inf]", unchanged=(model,))  # fmt: skip
    assert_rejects(lambda: rk.fit_classifier(model, x, y, x, y, epochs=1, lr=-1.0, seed=0),
                   "lr", "lr", unchanged=(model,))  # fmt: skip
    assert_rejects(lambda: rk.fit_1d(model, x, x, x, x, steps=0, lr=0.1), "steps", "[1, inf]",
                   unchanged=(model,))  # fmt: skip
