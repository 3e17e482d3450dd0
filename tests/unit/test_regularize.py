"""Penalties of helpers.regularize, against hand-computed values and their limits."""

import pytest
import torch
from torch import nn

from helpers import masks, regularize
from helpers.core.train import fit
from helpers.papers.continuous_sparsification import enable_soft_masks


def _net(init=0.0, seed=0):
    torch.manual_seed(seed)
    net = masks.to_masked(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    enable_soft_masks(net, init=init)
    return net


def test_soft_mask_l1_is_the_sum_of_gates_by_hand():
    net = _net(init=-0.2)
    masks.set_mask_temperature(net, 3.0)
    with torch.no_grad():
        net[0].mask_logits("weight").copy_(torch.linspace(-1, 1, 12).view(3, 4))
    net[0].set_mask("weight", (torch.arange(12) % 3 != 0).float().view(3, 4))
    expected = 0.0
    for layer in (net[0], net[2]):
        s, hard = layer.mask_logits("weight").detach(), layer.weight_mask
        expected += float((hard * torch.sigmoid(3.0 * s) / torch.sigmoid(torch.tensor(-0.2))).sum())
    assert regularize.soft_mask_l1(net).item() == pytest.approx(expected, rel=1e-6)


def test_soft_mask_l1_tends_to_the_number_of_positive_logits():
    net = _net()
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.mask_logits("weight").copy_(torch.randn_like(layer.mask_logits("weight")))
    positive = sum(int((layer.mask_logits("weight") > 0).sum()) for layer in (net[0], net[2]))
    masks.set_mask_temperature(net, 1e4)
    # sigmoid(beta s) -> H(s) and the rescaling 1/sigmoid(0) = 2 doubles every kept entry
    assert regularize.soft_mask_l1(net).item() == pytest.approx(2 * positive, rel=1e-3)


def test_penalty_gradient_is_lambda_beta_sigmoid_prime():
    net = _net()
    beta, lam = 2.5, 0.1
    masks.set_mask_temperature(net, beta)
    regularize.SoftMaskL1(lam).extra_loss(net).backward()
    s = net[0].mask_logits("weight").detach()
    sig = torch.sigmoid(beta * s)
    expected = lam * beta * sig * (1 - sig) / 0.5  # d/ds [lam sigma(beta s) / sigma(0)]
    torch.testing.assert_close(net[0].mask_logits("weight").grad, expected)
    assert net[0].weight.grad is None  # the penalty does not touch the weights


def test_penalty_in_fit_shrinks_the_masks():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    sums = {}
    for lam in (0.0, 0.2):
        net = _net(seed=1)
        opt = torch.optim.SGD(masks.param_groups(net), lr=0.5)
        fit(
            net,
            [(x, y)],
            epochs=30,
            optimizer=opt,
            callbacks=[regularize.SoftMaskL1(lam)],
            device="cpu",
            progress=False,
        )
        sums[lam] = regularize.soft_mask_l1(net).item()
    assert sums[0.2] < 0.5 * sums[0.0]


def test_errors():
    with pytest.raises(ValueError, match="no soft masks"):
        regularize.soft_mask_l1(masks.to_masked(nn.Linear(2, 2)))
    for bad in (-1.0, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="lam"):
            regularize.SoftMaskL1(bad)
